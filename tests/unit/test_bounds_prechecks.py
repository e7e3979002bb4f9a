"""The cheap proofs that let a bound's walk be skipped never skip a walk that would refuse.

`check_body` skips the depth walk when the body's text has no more brackets than the bound. The
expected answers come from a recursive depth written here, not from the code under test.
"""

from __future__ import annotations

import json
from types import MappingProxyType
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graders_emulator.bounds import RequestBounds, check_body, openers_at_most
from graders_emulator.emulation.journal_caps import text_size
from graders_emulator.errors import BadRequest


def depth(value: Any) -> int:
    """Containers on the deepest path: `{}` is 1, `{"a": [1]}` is 2, a scalar 0."""
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


def refused(data: Any, bounds: RequestBounds, raw: bytes | None) -> bool:
    try:
        check_body(data, bounds, raw)
    except BadRequest:
        return True
    return False


@pytest.mark.parametrize(
    ("text", "limit", "proven"),
    [
        (b"[" * 64 + b"]" * 64, 64, True),
        (b"[" * 65 + b"]" * 65, 64, False),
        (b'{"a": [1, {"b": []}]}', 4, True),
        (b'{"a": [1, {"b": []}]}', 3, False),  # 4 brackets: not proven (the walk decides)
        (b'{"a": "[[[[{{{{"}', 2, False),  # brackets in strings count: never a false proof
        (b'"just a string"', 0, True),
    ],
)
def test_openers_at_most(text: bytes, limit: int, proven: bool) -> None:
    assert openers_at_most(text, limit) is proven


@pytest.mark.parametrize("limit", [1, 2, 3, 8, 64])
def test_a_body_one_level_over_the_bound_is_refused_with_its_text(limit: int) -> None:
    bounds = RequestBounds(max_json_depth=limit)
    at_bound = {"item": nested(limit - 1)}  # the body itself is level 1
    over = {"item": nested(limit)}
    assert depth(at_bound) == limit and depth(over) == limit + 1
    assert not refused(at_bound, bounds, orjson.dumps(at_bound))
    assert refused(over, bounds, orjson.dumps(over))
    assert refused(over, bounds, json.dumps(over, indent=2).encode())


def test_brackets_inside_strings_do_not_refuse_a_shallow_body() -> None:
    body = {"model_sample": "[[[[{{{{", "item": {"answer": "]]]]"}}
    assert not refused(body, RequestBounds(max_json_depth=2), orjson.dumps(body))


def test_a_skipped_depth_walk_still_checks_the_counts() -> None:
    body = {"grader": {"type": "multi", "graders": {"a": {}, "b": {}, "c": {}}}}
    raw = orjson.dumps(body)
    assert openers_at_most(raw, 64)  # the depth walk is skipped ...
    with pytest.raises(BadRequest) as error:  # ... and the sub-grader count is still enforced
        check_body(body, RequestBounds(max_sub_graders=2), raw)
    assert error.value.param == "grader.graders"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}ab"\\ \u00e9'),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(alphabet="[{a", max_size=3), children, max_size=3)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(value=JSON, limit=st.integers(min_value=0, max_value=8), indent=st.sampled_from([None, 1]))
def test_with_or_without_the_text_the_answer_is_the_reference_depth(
    value: Any, limit: int, indent: int | None
) -> None:
    bounds = RequestBounds(max_json_depth=limit)
    raw = json.dumps(value, indent=indent, ensure_ascii=bool(indent)).encode()
    expected = depth(value) > limit
    assert refused(value, bounds, raw) is expected
    assert refused(value, bounds, None) is expected


def test_text_size_counts_every_kind_of_text_container() -> None:
    class Text(str):
        pass

    value = {
        "a": "xy",
        "b": b"abc",
        "c": MappingProxyType({"d": ("e", ["fg"])}),
        "h": Text("ijkl"),
        "n": 12,
    }
    assert text_size(value) == 2 + 3 + 1 + 2 + 4
    assert text_size(value, budget=12) == 12
    assert 4 < text_size(value, budget=4) < 12  # stops counting once over the budget
