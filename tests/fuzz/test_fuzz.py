"""Fuzzing a real server: generated formulas, templates and bodies never get a 5xx, errors are envelopes.

CI runs a small budget (FUZZ_EXAMPLES, default 60 examples per property, well under a minute);
a deeper run: `FUZZ_EXAMPLES=2000 .venv/bin/pytest tests/fuzz -p no:randomly`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graders_emulator.testing import RunningServer

RUN = "/v1/fine_tuning/alpha/graders/run"
VALIDATE = "/v1/fine_tuning/alpha/graders/validate"
AUTH = {"authorization": "Bearer sk-fuzz"}
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ENVELOPE_KEYS = {"message", "type", "param", "code"}


@pytest.fixture(scope="module")
def http(emulator: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, headers=AUTH, timeout=60) as client:
        yield client


def assert_envelope(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    error = response.json()["error"]
    assert set(error) == ENVELOPE_KEYS and isinstance(error["message"], str) and error["message"]


def assert_graded(response: httpx.Response, allowed_flags: set[str]) -> dict[str, Any]:
    assert response.status_code == 200, response.text[:500]
    body: dict[str, Any] = response.json()
    assert isinstance(body["reward"], float) and math.isfinite(body["reward"])
    raised = {flag for flag, value in body["metadata"]["errors"].items() if value is True}
    assert raised <= allowed_flags, raised
    if raised:
        assert body["reward"] == 0.0
    return body


# --- formulas of multi graders

SUB_GRADERS = {
    "a": {"type": "string_check", "input": "{{sample.output_text}}", "reference": "yes", "operation": "eq"},
    "b": {"type": "string_check", "input": "{{sample.output_text}}", "reference": "y", "operation": "like"},
}
ATOMS = st.sampled_from(
    ["a", "b", "c", "foo", "0", "1", "2.5", "1e308", "1e-308", "-1", "0.0", ".5", "1e", "_"]
)
FUNCTIONS = st.sampled_from(
    ["min", "max", "abs", "floor", "ceil", "exp", "sqrt", "log", "pow", "eval", "__import__"]
)
OPERATORS = st.sampled_from(["+", "-", "*", "/", "^", "**", "//", "%", "", " ", ","])


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, OPERATORS, children).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
        st.tuples(FUNCTIONS, st.lists(children, min_size=0, max_size=3)).map(
            lambda t: f"{t[0]}({', '.join(t[1])})"
        ),
        children.map(lambda c: f"({c})"),
        children.map(lambda c: f"-{c}"),
        st.tuples(children, st.sampled_from(["(", ")", "[", "]", "{{", ";", "'", "\\x00", "é"])).map("".join),
    )


FORMULAS = st.recursive(ATOMS, _combine, max_leaves=12)


@FUZZ
@given(formula=FORMULAS, sample=st.sampled_from(["yes", "y", "no", ""]))
def test_formulas_are_a_400_or_a_graded_200(http: httpx.Client, formula: str, sample: str) -> None:
    grader = {"type": "multi", "graders": SUB_GRADERS, "calculate_output": formula}
    validated = http.post(VALIDATE, json={"grader": grader})
    ran = http.post(RUN, json={"grader": grader, "model_sample": sample})
    if validated.status_code == 200:
        assert_graded(ran, {"formula_parse_error"})  # evaluation failures (1/0, log(0), overflow) are flags
    else:
        assert_envelope(validated)
        assert_envelope(ran)  # what does not validate does not run either


# --- templates

NAMESPACES = st.sampled_from(["item", "sample", "other", "items", "", "sample.output_text", "item.answer"])
PATHS = st.lists(
    st.one_of(
        st.sampled_from(
            [".answer", ".output_text", ".output_json", ".x", "[0]", "[-1]", "[99]", ".", "[", "]"]
        ),
        st.text(max_size=3),
    ),
    max_size=4,
).map("".join)
PLACEHOLDERS = st.tuples(
    st.sampled_from(["{{", "{{ ", "{", "{{{"]), NAMESPACES, PATHS, st.sampled_from(["}}", " }}", "}", ""])
).map("".join)
TEMPLATES = st.lists(st.one_of(PLACEHOLDERS, st.text(max_size=6)), max_size=5).map("".join)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=10,
)
ITEMS = st.one_of(JSON_VALUES, st.fixed_dictionaries({"answer": JSON_VALUES, "x": JSON_VALUES}))


@FUZZ
@given(
    template=TEMPLATES, reference=TEMPLATES, item=ITEMS, sample=st.text(max_size=20) | st.just('{"x": [1]}')
)
def test_templates_are_a_400_or_a_graded_200(
    http: httpx.Client, template: str, reference: str, item: Any, sample: str
) -> None:
    grader = {"type": "string_check", "input": template, "reference": reference, "operation": "ilike"}
    validated = http.post(VALIDATE, json={"grader": grader})
    ran = http.post(RUN, json={"grader": grader, "model_sample": sample, "item": item})
    if validated.status_code == 200:
        body = assert_graded(ran, {"invalid_variable_error"})  # a missing variable is a flag
        assert body["reward"] in (0.0, 1.0)
    else:
        assert_envelope(validated)
        assert_envelope(ran)


# --- arbitrary bodies

GRADER_LIKE = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            ["string_check", "text_similarity", "python", "score_model", "label_model", "multi", "x"]
        )
    },
    optional={
        "input": JSON_VALUES,
        "reference": JSON_VALUES,
        "operation": st.sampled_from(["eq", "ne", "like", "ilike", "EQ", ""]) | JSON_VALUES,
        "evaluation_metric": st.sampled_from(["fuzzy_match", "bleu", "rouge_l", "cosine", "nope"])
        | JSON_VALUES,
        "graders": JSON_VALUES,
        "calculate_output": st.text(max_size=10),
        "name": JSON_VALUES,
    },
)
BODIES = st.one_of(
    JSON_VALUES,
    st.fixed_dictionaries(
        {}, optional={"grader": GRADER_LIKE | JSON_VALUES, "model_sample": JSON_VALUES, "item": JSON_VALUES}
    ),
)


@FUZZ
@given(body=BODIES, path=st.sampled_from([RUN, VALIDATE]))
def test_arbitrary_bodies_never_get_a_server_error(http: httpx.Client, body: Any, path: str) -> None:
    response = http.post(path, content=json.dumps(body))
    if response.status_code == 200:
        assert "reward" in response.json() or "grader" in response.json()
    else:
        assert_envelope(response)


# --- malformed bodies

TEN_MB = 10_000_000
MALFORMED = {
    "invalid-utf8": (b'{"model_sample": "\xff\xfe", "grader": {}}', "application/json"),
    "invalid-utf8-only": (b"\xc3\x28\xa0\xa1", "application/json"),
    "10MB-garbage": (b"x" * TEN_MB, "application/json"),
    "over-the-limit": (b"[" + b"1," * 5_500_000 + b"1]", "application/json"),
    "10000-deep-list": (b"[" * 10_000 + b"]" * 10_000, "application/json"),
    "10000-deep-in-grader": (
        b'{"grader": ' + b"[" * 10_000 + b"]" * 10_000 + b', "model_sample": "x"}',
        "application/json",
    ),
    "10000-deep-objects": (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "application/json"),
    "form-encoded": (b"grader=string_check&model_sample=x", "application/x-www-form-urlencoded"),
    "multipart": (
        b'--x\r\nContent-Disposition: form-data; name="model_sample"\r\n\r\nx\r\n--x--\r\n',
        "multipart/form-data; boundary=x",
    ),
    "text-plain": (b"model_sample: x", "text/plain"),
    "empty": (b"", "application/json"),
    "nul-bytes": (b"\x00" * 1000, "application/octet-stream"),
}


@pytest.mark.parametrize(("body", "content_type"), list(MALFORMED.values()), ids=list(MALFORMED))
@pytest.mark.parametrize("path", [RUN, VALIDATE], ids=["run", "validate"])
def test_malformed_bodies_get_a_4xx_envelope(
    http: httpx.Client, path: str, body: bytes, content_type: str
) -> None:
    response = http.post(path, content=body, headers={"content-type": content_type})
    assert_envelope(response)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/xml"],
    ids=["text/plain", "application/x-www-form-urlencoded", "application/xml"],
)
def test_valid_json_with_a_wrong_content_type_is_a_415(http: httpx.Client, content_type: str) -> None:
    grader = {"type": "string_check", "input": "a", "reference": "a", "operation": "eq"}
    response = http.post(
        RUN,
        content=json.dumps({"grader": grader, "model_sample": "x"}),
        headers={"content-type": content_type},
    )
    assert response.status_code == 415
    assert_envelope(response)


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json; charset=utf-8", "application/vnd.api+json"],
    ids=["no-content-type", "json-with-charset", "vnd-api-json"],
)
def test_json_media_types_and_no_content_type_are_graded(
    http: httpx.Client, content_type: str | None
) -> None:
    grader = {"type": "string_check", "input": "a", "reference": "a", "operation": "eq"}
    headers = {"content-type": content_type} if content_type else {}
    response = http.post(RUN, content=json.dumps({"grader": grader, "model_sample": "x"}), headers=headers)
    assert response.status_code == 200 and response.json()["reward"] == 1.0


def test_the_server_still_answers_after_the_fuzzing(http: httpx.Client) -> None:
    grader = {"type": "string_check", "input": "{{sample.output_text}}", "reference": "ok", "operation": "eq"}
    assert http.post(RUN, json={"grader": grader, "model_sample": "ok"}).json()["reward"] == 1.0
