"""`Grader.bound`: grading through the library face with a caller's own Runtime, on the caller's loop
(the seam server-side code such as the Evals executor grades through), and whole `sample` mappings."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from rapidfuzz import fuzz, utils

import graders_emulator as ge
from graders_emulator.grading.context import ModelReply, ModelRequest
from graders_emulator.grading.result import TokenUsage
from graders_emulator.library import Sample
from graders_emulator.runtime import build_runtime, build_sandbox
from graders_emulator.schemas.graders import LabelModelGrader
from graders_emulator.service import Runtime
from graders_emulator.settings import Settings

LENGTH = "def grade(sample, item):\n    return len(sample['output_text']) / float(item['n'])\n"
# Reads a key that only a whole sample mapping has (POST /run's derived namespace has no `model`).
MODEL_KEY = "def grade(sample, item):\n    return 1.0 if sample['model'] == item['model'] else 0.0\n"
FUZZY = {
    "type": "text_similarity",
    "name": "fz",
    "input": "{{ sample.output_text }}",
    "reference": "{{ item.answer }}",
    "evaluation_metric": "fuzzy_match",
}


class CountingModels:
    """A model client answering every call with one score; counts calls and the thread it ran on."""

    def __init__(self, content: str = '{"result": 0.75, "steps": []}') -> None:
        self.content = content
        self.calls: list[ModelRequest] = []
        self.threads: set[int] = set()

    async def complete(self, request: ModelRequest) -> ModelReply:
        self.calls.append(request)
        self.threads.add(threading.get_ident())
        usage = TokenUsage(prompt_tokens=7, completion_tokens=2, cached_tokens=1)
        return ModelReply(kind="ok", content=self.content, usage=usage, model="judge-snapshot-1")


def _runtime(settings: Settings) -> Runtime:
    return build_runtime(settings, build_sandbox(settings))


def test_a_bound_python_grader_runs_on_the_callers_loop_with_its_sandbox_pool() -> None:
    settings = Settings(python_workers=1, python_timeout_s=10)
    clients: list[CountingModels] = []

    def models() -> CountingModels:
        clients.append(CountingModels())
        return clients[-1]

    rows: list[tuple[Sample, Any]] = [("abcd", {"n": 2}), ("", {"n": 5}), ("x" * 9, {"n": 3})]

    async def main() -> tuple[list[float], float, list[str]]:
        runtime = _runtime(settings)
        await runtime.sandbox.start()
        try:
            grader = ge.Grader.bound({"type": "python", "name": "len", "source": LENGTH}, runtime, models)
            many = await grader.agrade_many(rows)
            one = await grader.agrade("abcdef", {"n": 4})
            return [r.reward for r in many], one.reward, [f for r in many for f in r.flags]
        finally:
            await runtime.sandbox.close()

    rewards, one, flags = asyncio.run(main())
    assert rewards == [2.0, 0.0, 3.0]
    assert one == 1.5
    assert flags == []
    assert len(clients) == 4  # a python grader waits on I/O: a fresh model client per sample


def test_the_sync_forms_of_a_bound_grader_raise() -> None:
    runtime = _runtime(Settings(python_graders=False))
    grader = ge.Grader.bound(FUZZY, runtime, CountingModels)
    with pytest.raises(RuntimeError, match="agrade"):
        grader.grade("abc", {"answer": "abc"})
    with pytest.raises(RuntimeError, match="agrade_many"):
        grader.grade_many([("abc", {"answer": "abc"})])
    with pytest.raises(RuntimeError, match="Runtime"):
        _ = grader.settings


def test_a_bound_grader_takes_a_parsed_wire_grader_as_is() -> None:
    """label_model is refused at the top level of POST /run, but an Evals criterion may be one."""
    runtime = _runtime(Settings(python_graders=False))
    criterion = LabelModelGrader.model_validate(
        {
            "type": "label_model",
            "name": "lab",
            "model": "gpt-4o",
            "input": [{"role": "user", "content": "Label {{ sample.output_text }} for {{ item.q }}"}],
            "labels": ["good", "bad"],
            "passing_labels": ["good"],
        }
    )
    with pytest.raises(ge.GraderError, match="only supported inside a multi grader"):
        ge.Grader(criterion.model_dump(exclude_none=True))
    client = CountingModels(content='{"result": "good"}')

    async def main() -> ge.Result:
        grader = ge.Grader.bound(criterion, runtime, lambda: client)
        return await grader.agrade("Paris", {"q": "capital?"})

    result = asyncio.run(main())
    assert (result.reward, result.flags, result.name, result.type) == (1.0, (), "lab", "label_model")
    assert client.calls[0].messages == [{"role": "user", "content": "Label Paris for capital?"}]
    assert client.threads == {threading.get_ident()}  # the caller's loop, not the library's portal
    assert result.usage_per_model == {
        "judge-snapshot-1": {
            "prompt_tokens": 7,
            "total_tokens": 9,
            "completion_tokens": 2,
            "cached_tokens": 1,
        }
    }
    assert result.usage_per_model == result.to_wire()["model_grader_token_usage_per_model"]


def test_a_bound_grader_spec_is_checked_with_the_400s_of_validate() -> None:
    runtime = _runtime(Settings(python_graders=False))
    with pytest.raises(ge.GraderError) as caught:
        ge.Grader.bound({**FUZZY, "evaluation_metric": "nope"}, runtime, CountingModels)
    assert (caught.value.param, caught.value.status) == ("grader.evaluation_metric", 400)


def test_a_deterministic_bound_grader_asks_for_one_model_client() -> None:
    runtime = _runtime(Settings(python_graders=False))
    made: list[int] = []

    def models() -> CountingModels:
        made.append(1)
        return CountingModels()

    rows = [("fuzzy wuzzy was a bear", {"answer": "fuzzy wuzzy had no hair"}), ("abc", {"answer": "abd"})]

    async def main() -> list[float]:
        grader = ge.Grader.bound(FUZZY, runtime, models)
        return [r.reward for r in await grader.agrade_many(rows)]

    assert asyncio.run(main()) == [
        fuzz.WRatio(s, i["answer"], processor=utils.default_process) / 100 for s, i in rows
    ]
    assert len(made) <= 1


def test_a_sample_mapping_is_the_sample_namespace_as_is() -> None:
    """Evals rows carry a whole `sample` (output_text, output_json, model, ...): no derivation from text."""
    grader = ge.Grader(
        {
            "type": "string_check",
            "name": "m",
            "input": "{{ sample.model }}:{{ sample.output_json.city }}",
            "reference": "{{ item.want }}",
            "operation": "eq",
        }
    )
    sample = {"output_text": "not json", "output_json": {"city": "Paris"}, "model": "gpt-x"}
    results = grader.grade_many([(sample, {"want": "gpt-x:Paris"}), (sample, {"want": "other"})])
    assert [r.reward for r in results] == [1.0, 0.0]
    # A text sample derives the namespace as POST /run does: it has no `model`, a missing variable.
    derived = grader.grade('{"city": "Paris"}', {"want": "gpt-x:Paris"})
    assert derived.flags == ("invalid_variable_error",)
    assert "sample.model" in derived.details["invalid_variable_error"]
    # output_json is not added to a mapping whose text is JSON: the mapping is used as given.
    missing = grader.grade({"output_text": '{"city": "Paris"}', "model": "gpt-x"}, {"want": "gpt-x:Paris"})
    assert missing.flags == ("invalid_variable_error",)


def test_a_python_grader_receives_a_sample_mapping_whole() -> None:
    with ge.Sandbox(workers=1, timeout_s=10):
        grader = ge.Grader({"type": "python", "name": "mk", "source": MODEL_KEY})
        results = grader.grade_many(
            [
                ({"output_text": "x", "model": "m1"}, {"model": "m1"}),
                ({"output_text": "x", "model": "m2"}, {"model": "m1"}),
            ]
        )
    assert [r.reward for r in results] == [1.0, 0.0]


def test_usage_per_model_of_a_library_grader() -> None:
    deterministic = ge.Grader(FUZZY).grade("abc", {"answer": "abc"})
    assert deterministic.usage_per_model == {}
    assert deterministic.to_wire()["model_grader_token_usage_per_model"] == {}
