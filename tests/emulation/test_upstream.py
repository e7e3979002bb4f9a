"""The real-model backend against fake OpenAI-compatible servers (httpx.MockTransport and a real port)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import uvicorn
from emulation_helpers import KEY, LABEL_MODEL, SCORE_MODEL, run, settings
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from graders_emulator.emulation.upstream import UpstreamModelClient, chat_payload
from graders_emulator.grading.context import ModelReply, ModelRequest
from graders_emulator.testing import bind_socket, serve_in_thread


def completion(content: str | None = '{"result": 0.8, "steps": []}', **extra: Any) -> dict[str, Any]:
    message = {"role": "assistant", "content": content, "refusal": extra.pop("refusal", None)}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-2024-11-20",
        "choices": [{"index": 0, "message": message, "finish_reason": extra.pop("finish_reason", "stop")}],
        "usage": {
            "prompt_tokens": 50,
            "completion_tokens": 12,
            "total_tokens": 62,
            "prompt_tokens_details": {"cached_tokens": 32},
        },
    }


SCORE_REQUEST = ModelRequest(
    grader_type="score_model",
    grader_name="accuracy",
    model="gpt-4o",
    messages=[
        {"role": "developer", "content": "Grade it."},
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Answer: Paris"},
                {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "low"},
                {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
            ],
        },
    ],
    sampling_params={
        "temperature": 0.2,
        "top_p": 0.9,
        "seed": 5,
        "max_completions_tokens": 300,
        "reasoning_effort": "low",
    },
    score_range=(0.0, 5.0),
)


def call(handler: Any, request: ModelRequest = SCORE_REQUEST) -> tuple[ModelReply, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        result = handler(req)
        if isinstance(result, httpx.Response):
            return result
        return httpx.Response(200, json=result)

    async def go() -> ModelReply:
        async with httpx.AsyncClient(transport=httpx.MockTransport(record)) as http:
            return await UpstreamModelClient(http, "http://upstream/v1/", "sk-up-1234").complete(request)

    return asyncio.run(go()), seen


def test_payload_maps_messages_sampling_and_structured_output() -> None:
    reply, (sent,) = call(lambda _: completion())
    assert str(sent.url) == "http://upstream/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-up-1234"
    body = chat_payload(SCORE_REQUEST)
    assert body["messages"] == [
        {"role": "developer", "content": "Grade it."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Answer: Paris"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
                {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
            ],
        },
    ]
    assert {
        k: body[k] for k in ("temperature", "top_p", "seed", "max_completion_tokens", "reasoning_effort")
    } == {
        "temperature": 0.2,
        "top_p": 0.9,
        "seed": 5,
        "max_completion_tokens": 300,
        "reasoning_effort": "low",
    }
    schema = body["response_format"]["json_schema"]
    assert body["response_format"]["type"] == "json_schema" and schema["strict"] is True
    assert schema["schema"]["properties"]["result"] == {"type": "number"}
    assert schema["schema"]["required"] == ["steps", "result"]
    assert reply.kind == "ok" and reply.content == '{"result": 0.8, "steps": []}'


def test_label_schema_is_an_enum_of_labels() -> None:
    request = ModelRequest(
        "label_model", "tone", "gpt-4o", [{"role": "user", "content": "hi"}], labels=["a", "b"]
    )
    result = chat_payload(request)["response_format"]["json_schema"]["schema"]["properties"]["result"]
    assert result == {"type": "string", "enum": ["a", "b"]}


def test_usage_and_model_are_mapped() -> None:
    reply, _ = call(lambda _: completion())
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.cached_tokens) == (
        50,
        12,
        32,
    )
    assert reply.model == "gpt-4o-2024-11-20"


def test_refusal_is_mapped() -> None:
    reply, _ = call(lambda _: completion(None, refusal="I can't assist with that."))
    assert (reply.kind, reply.details) == ("refusal", "I can't assist with that.")


def test_length_is_max_tokens() -> None:
    reply, _ = call(lambda _: completion('{"result": 0.', finish_reason="length"))
    assert reply.kind == "max_tokens"


@pytest.mark.parametrize(
    ("response", "details"),
    [
        (
            httpx.Response(429, json={"error": {"message": "Rate limit reached", "type": "requests"}}),
            "upstream answered HTTP 429: Rate limit reached",
        ),
        (
            httpx.Response(502, text="<html>bad gateway</html>"),
            "upstream answered HTTP 502: <html>bad gateway</html>",
        ),
        (httpx.Response(200, text="not json"), "upstream answered invalid JSON"),
        (httpx.Response(200, json={"choices": []}), "upstream answered no choices"),
    ],
    ids=["429", "502-html", "invalid-json", "no-choices"],
)
def test_upstream_errors_are_server_errors(response: httpx.Response, details: str) -> None:
    reply, _ = call(lambda _: response)
    assert reply.kind == "server_error"
    assert reply.details is not None and reply.details.startswith(details)


def test_network_errors_are_server_errors() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    reply, _ = call(refuse)
    assert reply.kind == "server_error"
    assert reply.details == "upstream request failed: ConnectError: connection refused"


# --- end to end: emulator -> a fake OpenAI-compatible server on a real port


class FakeOpenAI:
    """A chat-completions server that records requests and answers what the test queued."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: list[tuple[int, dict[str, Any]]] = []
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self._complete)

    async def _complete(self, request: Request) -> JSONResponse:
        self.requests.append(await request.json())
        status, body = self.answers.pop(0) if self.answers else (200, completion())
        return JSONResponse(body, status)


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    sock = bind_socket()
    server = uvicorn.Server(uvicorn.Config(fake.app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield fake, f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    server.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture(scope="module")
def upstream_sdk(fake: tuple[FakeOpenAI, str]) -> Iterator[openai.OpenAI]:
    emulator_settings = settings(model_base_url=fake[1], model_api_key="sk-upstream")
    with (
        serve_in_thread(emulator_settings) as emulator,
        openai.OpenAI(base_url=emulator.base_url, api_key=KEY) as sdk,
    ):
        yield sdk


def test_e2e_score_model_through_the_upstream(
    fake: tuple[FakeOpenAI, str], upstream_sdk: openai.OpenAI
) -> None:
    server, _ = fake
    server.requests.clear()
    result = run(upstream_sdk, {**SCORE_MODEL, "sampling_params": {"temperature": 0, "seed": 1}})
    assert result.reward == 0.8
    assert result.metadata.sampled_model_name == "gpt-4o-2024-11-20"
    assert result.metadata.token_usage == {
        "prompt_tokens": 50,
        "total_tokens": 62,
        "completion_tokens": 12,
        "cached_tokens": 32,
    }
    (sent,) = server.requests
    assert sent["messages"][1] == {"role": "user", "content": "Answer: Paris Reference: Paris"}
    assert (sent["temperature"], sent["seed"]) == (0, 1)
    assert sent["response_format"]["json_schema"]["schema"]["properties"]["result"] == {"type": "number"}


def test_e2e_label_model_and_refusal(fake: tuple[FakeOpenAI, str], upstream_sdk: openai.OpenAI) -> None:
    server, _ = fake
    server.answers += [
        (200, completion('{"result": "polite", "steps": []}')),
        (200, completion(None, refusal="No.")),
    ]
    grader = {
        "type": "multi",
        "name": "m",
        "graders": {"tone": LABEL_MODEL, "acc": SCORE_MODEL},
        "calculate_output": "tone",
    }
    result = run(upstream_sdk, grader)
    assert result.sub_rewards["tone"] == 1.0
    errors = result.metadata.errors.to_dict()
    assert errors["model_grader_refusal_error"] is True
    assert errors["model_grader_refusal_error_details"] == "No."
    assert server.requests[-2]["response_format"]["json_schema"]["schema"]["properties"]["result"][
        "enum"
    ] == [
        "polite",
        "rude",
    ]


def test_e2e_upstream_error_is_a_server_error_flag(
    fake: tuple[FakeOpenAI, str], upstream_sdk: openai.OpenAI
) -> None:
    fake[0].answers.append((500, {"error": {"message": "The model is overloaded", "type": "server_error"}}))
    errors = run(upstream_sdk, SCORE_MODEL).metadata.errors.to_dict()
    assert errors["model_grader_server_error"] is True
    assert (
        errors["model_grader_server_error_details"] == "upstream answered HTTP 500: The model is overloaded"
    )


def test_e2e_canned_headers_still_win_over_the_upstream(
    fake: tuple[FakeOpenAI, str], upstream_sdk: openai.OpenAI
) -> None:
    before = len(fake[0].requests)
    assert run(upstream_sdk, SCORE_MODEL, headers={"x-emulator-score": "0.1"}).reward == 0.1
    assert len(fake[0].requests) == before
