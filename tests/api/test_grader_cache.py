"""The compiled-grader cache of run and validate (library.compiled_run, service.CompiledGraders).

Expectations are the server's own answers without the cache (a fresh app, or `grader_cache_size=0`)
and hand-counted sizes, hits and misses read from `/metrics`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from example_graders import EXACT
from fastapi.testclient import TestClient

from graders_emulator import service
from graders_emulator.main import create_app
from graders_emulator.settings import Settings

RUN = "/v1/fine_tuning/alpha/graders/run"
VALIDATE = "/v1/fine_tuning/alpha/graders/validate"
AUTH = {"Authorization": "Bearer sk-cache"}
NAME = re.compile(r"grader-[A-Za-z0-9]{12}")


def client(**settings: Any) -> TestClient:
    return TestClient(create_app(Settings(**settings)))


@pytest.fixture
def http() -> Iterator[TestClient]:
    with client() as test_client:
        yield test_client


def cache_metrics(http: TestClient) -> dict[str, float]:
    text = http.get("/metrics").text
    found = dict(re.findall(r"^graders_emulator_grader_cache_(\w+) ([0-9.e+]+)$", text, re.MULTILINE))
    return {name: float(value) for name, value in found.items()}


def run(http: TestClient, grader: Any, **body: Any) -> Any:
    return http.post(
        RUN, json={"grader": grader, "model_sample": "a", "item": {"answer": "a"}, **body}, headers=AUTH
    )


def test_hits_and_misses_are_counted_and_answer_alike(http: TestClient) -> None:
    assert cache_metrics(http) == {"entries": 0, "entries_limit": 256, "hits_total": 0, "misses_total": 0}
    first, second, third = (run(http, EXACT) for _ in range(3))
    assert [r.status_code for r in (first, second, third)] == [200, 200, 200]
    assert first.json()["reward"] == second.json()["reward"] == third.json()["reward"] == 1.0
    assert cache_metrics(http) == {"entries": 1, "entries_limit": 256, "hits_total": 2, "misses_total": 1}
    # /validate shares the compiled grader: the same JSON is a hit there too
    assert http.post(VALIDATE, json={"grader": EXACT}, headers=AUTH).json() == {"grader": EXACT}
    assert cache_metrics(http)["hits_total"] == 3


def test_an_invalid_grader_is_never_cached(http: TestClient) -> None:
    bad = {**EXACT, "operation": "nope"}
    answers = [run(http, bad) for _ in range(3)]
    assert [a.status_code for a in answers] == [400, 400, 400]
    assert answers[0].content == answers[1].content == answers[2].content
    assert answers[0].json()["error"]["param"] == "grader.operation"
    broken_template = {**EXACT, "input": "{{answer.text}}"}  # an unknown namespace
    assert run(http, broken_template).status_code == 400
    assert run(http, broken_template).status_code == 400
    assert cache_metrics(http) == {"entries": 0, "entries_limit": 256, "hits_total": 0, "misses_total": 5}


def test_the_lru_keeps_at_most_its_size_and_drops_the_least_recent() -> None:
    graders = [{**EXACT, "name": f"g{i}"} for i in range(4)]
    with client(grader_cache_size=3) as http:
        for grader in graders:  # 4 distinct graders into 3 places: g0 goes
            assert run(http, grader).status_code == 200
        assert cache_metrics(http) == {"entries": 3, "entries_limit": 3, "hits_total": 0, "misses_total": 4}
        assert run(http, graders[3]).status_code == 200  # kept: a hit
        assert cache_metrics(http)["hits_total"] == 1
        assert run(http, graders[0]).status_code == 200  # dropped: compiled again (and g1 goes)
        assert cache_metrics(http) == {"entries": 3, "entries_limit": 3, "hits_total": 1, "misses_total": 5}
        assert run(http, graders[1]).status_code == 200
        assert cache_metrics(http)["misses_total"] == 6


def test_size_zero_keeps_nothing_and_answers_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "now", lambda: 0.0)  # execution_time: 0.0 in both
    with client(grader_cache_size=0, seed=3) as uncached, client(seed=3) as cached:
        for _ in range(3):
            for body in ({"model_sample": "a"}, {"model_sample": 5}, {"model_sample": "b", "item": [1]}):
                a, b = (
                    run(uncached, {**EXACT, "name": None}, **body),
                    run(cached, {**EXACT, "name": None}, **body),
                )
                assert (a.status_code, a.content) == (b.status_code, b.content)
        assert cache_metrics(uncached)["entries"] == 0
        assert cache_metrics(cached)["entries"] == 1


def test_an_unnamed_grader_gets_a_fresh_name_on_every_hit(http: TestClient) -> None:
    unnamed = {key: value for key, value in EXACT.items() if key != "name"}
    names = [run(http, unnamed).json()["metadata"]["name"] for _ in range(3)]
    assert all(NAME.fullmatch(name) for name in names) and len(set(names)) == 3
    validated = [
        http.post(VALIDATE, json={"grader": unnamed}, headers=AUTH).json()["grader"] for _ in range(2)
    ]
    assert validated[0]["name"] != validated[1]["name"]
    assert cache_metrics(http)["hits_total"] == 4


def test_strict_mode_still_refuses_unknown_fields_on_a_hit() -> None:
    with client(strict_graders=True) as strict, client(strict_graders=True) as cold:
        assert run(strict, EXACT).status_code == 200  # EXACT compiled and kept
        for extra in ({"pass_threshold": 0.5}, {"pass_threshold": 0.5, "model_sample": 5}):
            warm_answer, cold_answer = run(strict, EXACT, **extra), run(cold, EXACT, **extra)
            assert warm_answer.status_code == 400
            assert warm_answer.content == cold_answer.content
        assert run(strict, EXACT, pass_threshold=0.5).json()["error"] == {
            "message": "Unrecognized request argument supplied: pass_threshold",
            "type": "invalid_request_error",
            "param": "pass_threshold",
            "code": "unknown_parameter",
        }
        # model_sample of the wrong type is the schema's 400, before the unknown field (as uncached)
        assert (
            run(strict, EXACT, pass_threshold=0.5, model_sample=5).json()["error"]["param"] == "model_sample"
        )
        # an unknown key inside the grader: never compiled, refused every time
        assert run(strict, {**EXACT, "extra_key": 1}).json()["error"]["param"] == "grader.extra_key"
        assert run(strict, {**EXACT, "extra_key": 1}).json()["error"]["param"] == "grader.extra_key"
        assert cache_metrics(strict)["entries"] == 1


def test_legacy_reference_answer_on_a_hit() -> None:
    grader = {**EXACT, "reference": "{{item.reference_answer}}"}
    with client() as http:
        answers = [
            http.post(
                RUN, json={"grader": grader, "model_sample": "x", "reference_answer": "x"}, headers=AUTH
            )
            for _ in range(2)
        ]
        assert [a.json()["reward"] for a in answers] == [1.0, 1.0]
        assert cache_metrics(http)["hits_total"] == 1


def test_a_large_grader_is_compiled_per_request_and_never_kept(http: TestClient) -> None:
    large = {**EXACT, "reference": "{{item.answer}}" + "#" * 40_000}  # 40 kB of JSON: over 32 KiB
    assert [run(http, large).json()["reward"] for _ in range(2)] == [0.0, 0.0]
    assert cache_metrics(http) == {"entries": 0, "entries_limit": 256, "hits_total": 0, "misses_total": 0}
