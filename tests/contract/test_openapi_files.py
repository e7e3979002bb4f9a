"""The copies of OpenAI's spec under tests/contract/openapi/ are what their README says they are."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from graders_emulator.testing import RunningServer

from .support import AUTH, RUN_EXAMPLE_PATH, VALIDATE_EXAMPLE_PATH, VALIDATE_PATH, fragment

RUN_API_PATH = "/fine_tuning/alpha/graders/run"
VALIDATE_API_PATH = "/fine_tuning/alpha/graders/validate"


def _examples(path: str) -> list[dict[str, Any]]:
    examples = fragment()["paths"][path]["post"]["x-oaiMeta"]["examples"]
    return examples if isinstance(examples, list) else [examples]


def test_fragment_names_its_source_commit() -> None:
    """openai/openai-openapi at f85dbe2 (CONTRACT's intro), extracted unedited."""
    source = fragment()["info"]["x-source"]
    assert source["repo"] == "openai/openai-openapi"
    assert source["commit"].startswith("f85dbe2")
    assert set(fragment()["paths"]) == {RUN_API_PATH, VALIDATE_API_PATH}


def test_run_example_is_the_spec_own_example() -> None:
    """The spec's run examples carry one answer (the first, "Score text alignment"); the file is it."""
    answers = [example["response"] for example in _examples(RUN_API_PATH) if "response" in example]
    assert len(answers) == 1
    assert json.loads(RUN_EXAMPLE_PATH.read_text()) == json.loads(answers[0])


def test_validate_example_is_the_spec_own_example() -> None:
    (example,) = _examples(VALIDATE_API_PATH)
    assert json.loads(VALIDATE_EXAMPLE_PATH.read_text()) == json.loads(example["response"])


def test_validate_answers_the_spec_example_with_the_spec_answer(emulator: RunningServer) -> None:
    """The spec's own validate example (its curl body) gets exactly the spec's example answer back."""
    (example,) = _examples(VALIDATE_API_PATH)
    body = re.search(r"-d '(.*)'", example["request"]["curl"], re.DOTALL)
    assert body is not None
    response = httpx.post(
        emulator.url + VALIDATE_PATH, json=json.loads(body.group(1)), headers=AUTH, timeout=30
    )
    assert response.status_code == 200
    assert response.json() == json.loads(VALIDATE_EXAMPLE_PATH.read_text())
    assert list(response.json()["grader"]) == list(json.loads(VALIDATE_EXAMPLE_PATH.read_text())["grader"])
