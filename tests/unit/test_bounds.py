"""Units of the request and state bounds (issue 10): depth, rendered size, formulas, journal caps,
sessions, rule regexes, YAML expansion. The HTTP-level reproducers are in tests/hostile_http/."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from graders_emulator.bounds import RequestBounds, check_rendered, deeper_than
from graders_emulator.emulation.config import MAX_YAML_NODES, ConfigError, parse_config
from graders_emulator.emulation.journal import Journal
from graders_emulator.emulation.journal_caps import STRING_CAP, capped, text_size
from graders_emulator.emulation.regex_match import RegexBudget, off_loop
from graders_emulator.emulation.state import EmulationState
from graders_emulator.errors import BadRequest
from graders_emulator.grading import formula
from graders_emulator.settings import Settings
from graders_emulator.templating import namespaces


def _nested(depth: int) -> object:
    return orjson.loads("[" * depth + "]" * depth)


@pytest.mark.parametrize(
    ("value", "limit", "deeper"),
    [
        (_nested(64), 64, False),
        (_nested(65), 64, True),
        (_nested(1000), 64, True),
        ({"a": [1, 2, {"b": {}}]}, 3, True),  # dict(1) > list(2) > dict(3) > dict(4)
        ({"a": [1, 2, {"b": {}}]}, 4, False),
        ("just a string", 0, False),
        (list(range(100_000)), 1, False),
    ],
    ids=["64-at-64", "65-at-64", "1000-at-64", "mixed-3", "mixed-4", "scalar", "flat-list"],
)
def test_deeper_than(value: object, limit: int, deeper: bool) -> None:
    assert deeper_than(value, limit) is deeper


def test_rendered_size_is_computed_without_rendering() -> None:
    bounds = RequestBounds(max_body_bytes=1000, max_rendered_ratio=2.0)  # 2000 characters
    spaces = namespaces({"n": [1, 2, 3]}, "x" * 500)
    check_rendered(iter([("grader.input", "{{sample.output_text}}" * 4)]), spaces, bounds)  # 2000: fits
    with pytest.raises(BadRequest) as refused:
        check_rendered(iter([("grader.input", "{{sample.output_text}}" * 4 + "!")]), spaces, bounds)
    assert refused.value.param == "grader.input"
    # non-strings count as their compact JSON ("[1,2,3]" is 7 characters); missing variables count 0
    check_rendered(iter([("a", "{{item.n}}" * 285), ("b", "{{item.missing}}")]), spaces, bounds)
    with pytest.raises(BadRequest):
        check_rendered(iter([("a", "{{item.n}}" * 286)]), spaces, bounds)


@pytest.mark.parametrize(
    "text",
    ["+".join(["a"] * 486), "-" * 4000 + "a", "(" * 250 + "a" + ")" * 250, "-(" * 120 + "a" + ")" * 120],
    ids=["486-terms", "4000-minus", "250-parentheses", "120-negations"],
)
def test_deep_formulas_are_formula_errors(text: str) -> None:
    with pytest.raises(formula.FormulaError):
        formula.parse(text)


def test_formula_at_the_depth_bound_evaluates() -> None:
    text = "+".join(["a"] * 90)
    assert formula.evaluate(text, {"a": 0.5}) == 45.0


def test_text_size_and_caps() -> None:
    trace = {"input": "a" * 10, "calls": [{"messages": ["b" * 20, ("c" * 5,)]}], "n": 3}
    assert text_size(trace) == 35
    assert capped(trace) is trace  # under budget: the same object, no copy
    big = {"input": "x" * 300_000, "reference": "y" * 300_000}
    cut = capped(big)
    assert len(cut["input"]) < STRING_CAP + 100 and "truncated by the journal" in cut["input"]
    assert text_size(cut) < 256 * 1024 + 200


def test_journal_keeps_its_byte_budget() -> None:
    journal = Journal(size=100, max_bytes=10_000)
    scope = {"method": "POST", "path": "/v1/x", "headers": [(b"a", b"b")], "query_string": b""}
    for _ in range(20):
        entry = journal.start(None, "/v1/x", scope)
        entry.body = b"z" * 3000
        journal.commit(entry)
    assert journal.bytes <= 10_000
    assert len(journal) == 2  # each entry counts ~3.5 kB
    journal.clear()
    assert journal.bytes == 0


def test_sessions_are_dropped_least_recently_used_first_and_when_idle() -> None:
    state = EmulationState(Settings(max_sessions=3, session_idle_s=0.2))
    for name in ("a", "b", "c"):
        state.scope(name)
    state.scope("a")  # a is now the most recently used
    state.scope("d")
    assert list(state.sessions) == ["c", "a", "d"]
    time.sleep(0.3)
    state.expire_sessions()
    assert not state.sessions


def test_regex_budget_is_shared_and_bounded() -> None:
    budget = RegexBudget(0.05)
    started = time.perf_counter()
    assert budget.search(r"^(a|aa)+$", "a" * 40 + "!") is None  # ran out of time
    assert budget.search(r"a", "a") is None  # the budget is spent: no more matching for this request
    assert time.perf_counter() - started < 1.0
    assert RegexBudget(0.05).search(r"b+", "abbc") is True


def test_regex_budget_remembers_answers() -> None:
    budget = RegexBudget(0.05)
    assert budget.search(r"^(a|aa)+$", "a" * 40 + "!") is None
    budget.left = 1.0  # a second look at the same regex and text costs nothing, and answers the same
    started = time.perf_counter()
    assert budget.search(r"^(a|aa)+$", "a" * 40 + "!") is None
    assert time.perf_counter() - started < 0.01


def test_regex_matching_off_the_loop_leaves_the_loop_running() -> None:
    """A backtracking regex spends its budget in a matching thread, GIL released: the loop ticks on."""

    async def main() -> tuple[int, float]:
        ticks = 0
        budget = RegexBudget(0.3)

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        task = asyncio.create_task(ticker())
        started = time.perf_counter()
        assert await off_loop(lambda: budget.search(r"^(a|aa)+$", "a" * 40 + "!")) is None
        elapsed = time.perf_counter() - started
        task.cancel()
        return ticks, elapsed

    ticks, elapsed = asyncio.run(main())
    assert elapsed >= 0.25  # it did run for its budget (CPU time of the process, at least 0.3 s)
    assert ticks >= 3, (ticks, elapsed)  # on the loop: none until the match is over


def test_yaml_alias_expansion_is_bounded() -> None:
    bomb = "\n".join(
        [
            'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
            *(f"{n}: &{n} [{','.join(['*' + p] * 9)}]" for p, n in zip("abcdefgh", "bcdefghi", strict=True)),
        ]
    )
    started = time.perf_counter()
    with pytest.raises(ConfigError) as refused:
        parse_config(bomb)
    # Counted on the composed graph, not built up to the bound (0.25-0.6 s of GIL-holding Python).
    assert time.perf_counter() - started < 0.2
    assert str(MAX_YAML_NODES) in str(refused.value) and refused.value.problems[0].startswith("<config>:1:")


def _aliased(fill: int) -> str:
    """A document of 15 + 11 * 9089 + 2 + fill = 99,996 + fill values, aliases counted at every use:
    the map (1), keys a, b, c (3), the anchored list and its ten scalars (11), b's list (1) of 9089
    aliases to it (11 each), c's list (1) of `fill` scalars."""
    ten = "[" + ", ".join(str(i) for i in range(10)) + "]"
    return f"a: &t {ten}\nb: [{', '.join(['*t'] * 9089)}]\nc: [{', '.join(['0'] * fill)}]\n"


def test_yaml_expansion_bound_counts_every_alias_use() -> None:
    with pytest.raises(ConfigError) as at_limit:
        parse_config(_aliased(4))  # 100,000 values: within the bound (then refused for its keys)
    assert "expands" not in str(at_limit.value) and "unknown key" in str(at_limit.value)
    with pytest.raises(ConfigError) as over:
        parse_config(_aliased(5))  # 100,001
    assert f"expands to more than {MAX_YAML_NODES} values" in str(over.value)


def test_yaml_alias_cycle_is_an_endless_expansion() -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config("models: &a [1, *a]\n")
    assert f"expands to more than {MAX_YAML_NODES} values" in str(refused.value)


def test_deep_yaml_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        parse_config("models: " + "[" * 5000 + "]" * 5000)


def test_parentheses_add_no_depth() -> None:
    """`((((a))))` is one name to the evaluator: 150 levels of parentheses are a valid formula."""
    assert formula.evaluate("(" * 150 + "a" + ")" * 150, {"a": 0.25}) == 0.25
