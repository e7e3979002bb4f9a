"""Every HTTP error path of CONTRACT §3 through the official Python SDK (raw httpx where an SDK cannot
send the request): error class, status, the envelope's message/type/param/code, request ids."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from graders_emulator.testing import RunningServer

from .conftest import GOOD_KEY
from .support import (
    AUTH,
    JSON_PARSE_MESSAGE_START,
    NO_KEY_MESSAGE_START,
    REQUEST_ID,
    RUN_PATH,
    VALIDATE_PATH,
    Flavour,
    assert_envelope,
    call_error,
    sync_client,
)

STRING_CHECK = {"type": "string_check", "name": "sc", "input": "a", "reference": "b", "operation": "eq"}
ECHO_B = {**STRING_CHECK, "input": "{{ sample.output_text }}"}  # reward 1.0 for model_sample "b"
FLAVOURS = pytest.mark.parametrize("flavour", ["sync", "async"], ids=["sync", "async"])
METHODS = pytest.mark.parametrize("method", ["run", "validate"], ids=["run", "validate"])


def _kwargs(method: str, grader: dict[str, Any]) -> dict[str, Any]:
    return {"grader": grader, "model_sample": "a", "item": {}} if method == "run" else {"grader": grader}


def _multi(calculate_output: str, graders: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "multi",
        "name": "m",
        "graders": graders if graders is not None else {"a": STRING_CHECK, "b": STRING_CHECK},
        "calculate_output": calculate_output,
    }


def assert_raw_envelope(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert REQUEST_ID.match(response.headers["x-request-id"])
    assert response.headers["openai-processing-ms"].isdigit()
    body = response.json()
    assert list(body) == ["error"]
    assert list(body["error"]) == ["message", "type", "param", "code"]
    error: dict[str, Any] = body["error"]
    return error


# --- body not JSON --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [RUN_PATH, VALIDATE_PATH], ids=["run", "validate"])
@pytest.mark.parametrize("content", [b"{not json", b"", b'{"grader": ', b"\xff\xfe"], ids=repr)
def test_body_not_json_raw(emulator: RunningServer, path: str, content: bytes) -> None:
    headers = {**AUTH, "content-type": "application/json"}
    error = assert_raw_envelope(httpx.post(emulator.url + path, content=content, headers=headers), 400)
    assert error["message"].startswith(JSON_PARSE_MESSAGE_START)
    assert error == {
        "message": error["message"],
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


def test_body_not_json_through_the_sdk(client: openai.OpenAI) -> None:
    """The SDK's low-level `post` sends raw bytes: BadRequestError with null param and code."""
    with pytest.raises(openai.BadRequestError) as raised:
        client.post(
            "/fine_tuning/alpha/graders/run",
            cast_to=object,
            content=b"{nope",
            options={"headers": {"Content-Type": "application/json"}},
        )
    assert_envelope(raised.value, 400, type="invalid_request_error", param=None, code=None)
    assert raised.value.body["message"].startswith(JSON_PARSE_MESSAGE_START)  # type: ignore[index]


def test_body_not_an_object(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.post("/fine_tuning/alpha/graders/validate", cast_to=object, body=[1, 2])
    assert_envelope(raised.value, 400, type="invalid_request_error", code="invalid_type")


# --- missing field / wrong type / bad enum --------------------------------------------------------


@FLAVOURS
def test_missing_model_sample(emulator: RunningServer, flavour: Flavour) -> None:
    exc = call_error(emulator.base_url, flavour, "run", grader=STRING_CHECK, model_sample=openai.omit)
    assert isinstance(exc, openai.BadRequestError)
    assert_envelope(
        exc,
        400,
        message="Missing required parameter: 'model_sample'.",
        type="invalid_request_error",
        param="model_sample",
        code="missing_required_parameter",
    )


@FLAVOURS
@METHODS
def test_missing_grader_field(emulator: RunningServer, flavour: Flavour, method: str) -> None:
    grader = {k: v for k, v in STRING_CHECK.items() if k != "operation"}
    exc = call_error(emulator.base_url, flavour, method, **_kwargs(method, grader))
    assert isinstance(exc, openai.BadRequestError)
    assert_envelope(
        exc,
        400,
        message="Missing required parameter: 'grader.operation'.",
        param="grader.operation",
        code="missing_required_parameter",
    )


def test_missing_grader(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.post("/fine_tuning/alpha/graders/validate", cast_to=object, body={})
    assert_envelope(
        raised.value,
        400,
        message="Missing required parameter: 'grader'.",
        param="grader",
        code="missing_required_parameter",
    )


@FLAVOURS
@METHODS
def test_wrong_type(emulator: RunningServer, flavour: Flavour, method: str) -> None:
    exc = call_error(
        emulator.base_url, flavour, method, **_kwargs(method, {**STRING_CHECK, "input": {"a": 1}})
    )
    assert isinstance(exc, openai.BadRequestError)
    assert_envelope(
        exc,
        400,
        message="Invalid type for 'grader.input': expected a string, but got an object instead.",
        type="invalid_request_error",
        param="grader.input",
        code="invalid_type",
    )


@FLAVOURS
def test_wrong_type_model_sample(emulator: RunningServer, flavour: Flavour) -> None:
    exc = call_error(emulator.base_url, flavour, "run", grader=STRING_CHECK, model_sample=5)
    assert_envelope(
        exc,
        400,
        message="Invalid type for 'model_sample': expected a string, but got an integer instead.",
        param="model_sample",
        code="invalid_type",
    )


SCORE_MODEL = {
    "type": "score_model",
    "name": "j",
    "model": "gpt-4o",
    "input": [{"role": "user", "content": "x"}],
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", True),  # JSON boolean where a number is required
        ("seed", "42"),  # JSON string where an integer is required
    ],
    ids=["temperature-True", "seed-42"],
)
@METHODS
def test_wrong_type_is_not_coerced(emulator: RunningServer, method: str, field: str, value: Any) -> None:
    """A boolean or a numeric string is not a number: the live API answers `invalid_type`, and
    CONTRACT §3 says wrong type -> 400. (The emulator's lax parsing accepts these: see the report.)"""
    grader = {**SCORE_MODEL, "sampling_params": {field: value}}
    path = RUN_PATH if method == "run" else VALIDATE_PATH
    response = httpx.post(emulator.url + path, json=_kwargs(method, grader), headers=AUTH)
    assert response.status_code == 400, f"accepted: {response.status_code} {response.text[:300]}"
    error = assert_raw_envelope(response, 400)
    assert error["param"] == f"grader.sampling_params.{field}"
    assert error["code"] == "invalid_type"


@FLAVOURS
@METHODS
def test_bad_enum_value(emulator: RunningServer, flavour: Flavour, method: str) -> None:
    exc = call_error(
        emulator.base_url, flavour, method, **_kwargs(method, {**STRING_CHECK, "operation": "xyz"})
    )
    assert isinstance(exc, openai.BadRequestError)
    assert_envelope(
        exc,
        400,
        message="Invalid value: 'xyz'. Supported values are: 'eq', 'ne', 'like', and 'ilike'.",
        type="invalid_request_error",
        param="grader.operation",
        code="invalid_value",
    )


def test_bad_metric_value(emulator: RunningServer) -> None:
    grader = {"type": "text_similarity", "input": "a", "reference": "b", "evaluation_metric": "rouge_9"}
    exc = call_error(emulator.base_url, "sync", "validate", grader=grader)
    supported = (
        "'cosine', 'fuzzy_match', 'bleu', 'gleu', 'meteor', 'rouge_1', 'rouge_2', 'rouge_3', 'rouge_4', "
        "'rouge_5', and 'rouge_l'"
    )
    assert_envelope(
        exc,
        400,
        message=f"Invalid value: 'rouge_9'. Supported values are: {supported}.",
        param="grader.evaluation_metric",
        code="invalid_value",
    )


def test_bad_grader_type(emulator: RunningServer) -> None:
    exc = call_error(emulator.base_url, "sync", "validate", grader={**STRING_CHECK, "type": "regex"})
    assert_envelope(exc, 400, param="grader.type", code="invalid_value")
    assert exc.body["message"].startswith("Invalid value: 'regex'. Supported values are: ")  # type: ignore[index]


# --- multi ----------------------------------------------------------------------------------------


@FLAVOURS
@METHODS
def test_multi_graders_as_one_grader(emulator: RunningServer, flavour: Flavour, method: str) -> None:
    """The shape the SDK types describe gets the live API's exact answer."""
    grader = {"type": "multi", "name": "m", "graders": STRING_CHECK, "calculate_output": "sc"}
    exc = call_error(emulator.base_url, flavour, method, **_kwargs(method, grader))
    assert isinstance(exc, openai.BadRequestError)
    assert_envelope(
        exc,
        400,
        message="Invalid type for 'graders.input': expected an object, but got a string instead.",
        type="invalid_request_error",
        code="invalid_type",
    )


@FLAVOURS
@METHODS
def test_nested_multi(emulator: RunningServer, flavour: Flavour, method: str) -> None:
    grader = _multi("inner", {"inner": _multi("a", {"a": STRING_CHECK})})
    exc = call_error(emulator.base_url, flavour, method, **_kwargs(method, grader))
    assert isinstance(exc, openai.BadRequestError)
    assert_envelope(exc, 400, type="invalid_request_error", param="grader.graders.inner.type")


@FLAVOURS
@METHODS
def test_top_level_label_model(emulator: RunningServer, flavour: Flavour, method: str) -> None:
    grader = {
        "type": "label_model",
        "name": "l",
        "model": "gpt-4o",
        "input": [{"role": "user", "content": "x"}],
        "labels": ["a", "b"],
        "passing_labels": ["a"],
    }
    exc = call_error(emulator.base_url, flavour, method, **_kwargs(method, grader))
    assert isinstance(exc, openai.BadRequestError)
    assert_envelope(exc, 400, type="invalid_request_error", param="grader.type", code="invalid_value")
    assert "label_model" in exc.body["message"]  # type: ignore[index]


# --- templates and formulas -----------------------------------------------------------------------


@FLAVOURS
@METHODS
@pytest.mark.parametrize(
    ("grader", "param"),
    [
        ({**STRING_CHECK, "input": "{{ foo.bar }}"}, "grader.input"),
        ({**STRING_CHECK, "reference": "{{ items.answer }}"}, "grader.reference"),
        ({**SCORE_MODEL, "input": [{"role": "user", "content": "{{ env.HOME }}"}]}, "grader.input.0.content"),
        (
            _multi("a", {"a": {**STRING_CHECK, "input": "{{ samples.output_text }}"}}),
            "grader.graders.a.input",
        ),
    ],
    ids=["string_check.input", "string_check.reference", "score_model.content", "multi.sub.input"],
)
def test_template_namespace(
    emulator: RunningServer, flavour: Flavour, method: str, grader: dict[str, Any], param: str
) -> None:
    exc = call_error(emulator.base_url, flavour, method, **_kwargs(method, grader))
    assert isinstance(exc, openai.BadRequestError)
    assert_envelope(exc, 400, type="invalid_request_error", param=param)


@FLAVOURS
@METHODS
@pytest.mark.parametrize(
    "formula",
    ["a +* b", "(a + b", "a b", "", "a + c", "foo(a)", "max(a)", "__import__('os')", "a.real", "[a, b]"],
    ids=[
        "syntax",
        "unbalanced",
        "juxtaposed",
        "empty",
        "unknown-variable",
        "unknown-function",
        "max-one-arg",
        "dunder-call",
        "attribute",
        "list",
    ],
)
def test_calculate_output_invalid(
    emulator: RunningServer, flavour: Flavour, method: str, formula: str
) -> None:
    exc = call_error(emulator.base_url, flavour, method, **_kwargs(method, _multi(formula)))
    assert isinstance(exc, openai.BadRequestError)
    assert_envelope(exc, 400, type="invalid_request_error", param="grader.calculate_output")


# --- python source size ---------------------------------------------------------------------------


@FLAVOURS
@METHODS
def test_python_source_over_256_kb(emulator: RunningServer, flavour: Flavour, method: str) -> None:
    source = "def grade(sample, item):\n    return 1.0\n"
    source += "#" * (256 * 1024 + 1 - len(source))
    grader = {"type": "python", "name": "big", "source": source}
    exc = call_error(emulator.base_url, flavour, method, **_kwargs(method, grader))
    assert isinstance(exc, openai.BadRequestError)
    assert_envelope(exc, 400, type="invalid_request_error", param="grader.source")


def test_python_source_at_256_kb_is_fine(client: openai.OpenAI) -> None:
    source = "def grade(sample, item):\n    return 1.0\n"
    source += "#" * (256 * 1024 - len(source))
    assert client.fine_tuning.alpha.graders.validate(
        grader={"type": "python", "name": "ok", "source": source}
    )


def test_unknown_key_in_strict_graders_mode(strict_graders_emulator: RunningServer) -> None:
    grader = {**STRING_CHECK, "pass_threshold": 0.5}
    exc = call_error(strict_graders_emulator.base_url, "sync", "validate", grader=grader)
    assert_envelope(exc, 400, param="grader.pass_threshold")
    assert "pass_threshold" in exc.body["message"]  # type: ignore[index]


# --- auth -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Basic abc", "sk-no-scheme"],
    ids=["none", "empty", "Bearer", "Basic-abc", "sk-no-scheme"],
)
def test_401_missing_key(emulator: RunningServer, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = httpx.post(
        emulator.url + RUN_PATH, json={"grader": STRING_CHECK, "model_sample": "a"}, headers=headers
    )
    error = assert_raw_envelope(response, 401)
    assert error["message"].startswith(NO_KEY_MESSAGE_START)
    assert error["type"] == "invalid_request_error"
    assert error["param"] is None
    assert error["code"] is None


@FLAVOURS
@METHODS
def test_401_wrong_key(keyed_emulator: RunningServer, flavour: Flavour, method: str) -> None:
    kwargs = _kwargs(method, STRING_CHECK)
    # call_error uses the suite's key, which this server does not know.
    exc = call_error(keyed_emulator.base_url, flavour, method, **kwargs)
    assert isinstance(exc, openai.AuthenticationError)
    assert_envelope(exc, 401, type="invalid_request_error", param=None, code="invalid_api_key")
    message: str = exc.body["message"]  # type: ignore[index]
    assert "sk-...0000" in message  # the key is sk-contract-tests-0000, shown masked
    assert "sk-contract-tests-0000" not in message


def test_401_wrong_key_mask(keyed_emulator: RunningServer) -> None:
    with (
        sync_client(keyed_emulator.base_url, "strict", api_key="sk-bad-key-abcd") as sdk,
        pytest.raises(openai.AuthenticationError) as raised,
    ):
        sdk.fine_tuning.alpha.graders.validate(grader=STRING_CHECK)
    assert "sk-...abcd" in raised.value.body["message"]  # type: ignore[index]
    assert "sk-bad-key-abcd" not in raised.value.body["message"]  # type: ignore[index]


def test_configured_key_is_accepted(keyed_emulator: RunningServer) -> None:
    with sync_client(keyed_emulator.base_url, "strict", api_key=GOOD_KEY) as sdk:
        assert sdk.fine_tuning.alpha.graders.run(grader=ECHO_B, model_sample="b").reward == 1.0


# --- 404 / 405 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/v1/fine_tuning/alpha/graders/nope", "/v1/graders/run", "/v2/x"],
    ids=["/v1/fine_tuning/alpha/graders/nope", "/v1/graders/run", "/v2/x"],
)
def test_404_unknown_path(emulator: RunningServer, path: str) -> None:
    error = assert_raw_envelope(httpx.post(emulator.url + path, json={}, headers=AUTH), 404)
    assert error["message"] == f"Invalid URL (POST {path})"
    assert error["type"] == "invalid_request_error"


def test_404_through_the_sdk(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        client.post("/fine_tuning/alpha/graders/nope", cast_to=object, body={})
    assert_envelope(
        raised.value,
        404,
        message="Invalid URL (POST /v1/fine_tuning/alpha/graders/nope)",
        type="invalid_request_error",
    )


@pytest.mark.parametrize("path", [RUN_PATH, VALIDATE_PATH], ids=["run", "validate"])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"], ids=["GET", "PUT", "DELETE", "PATCH"])
def test_405_wrong_method(emulator: RunningServer, path: str, method: str) -> None:
    response = httpx.request(method, emulator.url + path, headers=AUTH)
    error = assert_raw_envelope(response, 405)
    assert error["type"] == "invalid_request_error"
    assert response.headers["allow"] == "POST"


def test_405_allow_lists_every_documented_method(emulator: RunningServer) -> None:
    """For every path of the published document, a method it does not serve gets a 405 whose `Allow`
    lists exactly the documented methods (RFC 9110 §15.5.6)."""
    document = httpx.get(emulator.url + "/openapi.json").json()
    wrong: dict[str, tuple[str, str]] = {}
    for path, operations in document["paths"].items():
        if "{" in path:
            continue
        documented = {m.upper() for m in operations if m in ("get", "post", "put", "patch", "delete")}
        unused = next(m for m in ("PATCH", "PUT", "DELETE", "POST", "GET") if m not in documented)
        response = httpx.request(unused, emulator.url + path, headers=AUTH)
        allow = {m.strip() for m in response.headers.get("allow", "").split(",") if m.strip()}
        if response.status_code != 405 or allow - {"HEAD"} != documented:
            wrong[path] = (f"{unused} -> {response.status_code}", f"Allow: {response.headers.get('allow')}")
    assert wrong == {}


# --- 413 ------------------------------------------------------------------------------------------


@FLAVOURS
def test_413_body_over_the_limit(small_body_emulator: RunningServer, flavour: Flavour) -> None:
    exc = call_error(
        small_body_emulator.base_url, flavour, "run", grader=STRING_CHECK, model_sample="x" * 2000
    )
    assert type(exc) is openai.APIStatusError  # the SDK has no class of its own for 413
    assert_envelope(exc, 413)


def test_413_chunked_body_without_content_length(small_body_emulator: RunningServer) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"grader": {"type": "string_check", "input": "a", "reference": "a", "operation": "eq"}, '
        yield b'"model_sample": "' + b"x" * 2000 + b'"}'

    headers = {**AUTH, "content-type": "application/json"}
    response = httpx.post(small_body_emulator.url + RUN_PATH, content=chunks(), headers=headers)
    assert "content-length" not in response.request.headers
    assert_raw_envelope(response, 413)


def test_body_under_the_limit_is_fine(small_body_emulator: RunningServer) -> None:
    with sync_client(small_body_emulator.base_url, "strict") as sdk:
        assert sdk.fine_tuning.alpha.graders.run(grader=ECHO_B, model_sample="b").reward == 1.0


# --- injected 429 / 500 (the emulation layer's x-emulator-status) ---------------------------------


@FLAVOURS
def test_429_injected(emulator: RunningServer, flavour: Flavour) -> None:
    exc = call_error(
        emulator.base_url,
        flavour,
        "run",
        grader=STRING_CHECK,
        model_sample="a",
        extra_headers={"x-emulator-status": "429"},
    )
    assert isinstance(exc, openai.RateLimitError)
    assert_envelope(exc, 429)


def test_500_injected(emulator: RunningServer) -> None:
    exc = call_error(
        emulator.base_url, "sync", "validate", grader=STRING_CHECK, extra_headers={"x-emulator-status": "500"}
    )
    assert isinstance(exc, openai.InternalServerError)
    assert_envelope(exc, 500, type="server_error")
