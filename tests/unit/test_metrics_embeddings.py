"""cosine of given vectors, and the OpenAI-compatible embeddings client (over httpx.MockTransport)."""

from __future__ import annotations

import asyncio
import json
import math

import httpx
import pytest

from graders_emulator.metrics import cosine_of_vectors
from graders_emulator.metrics.embeddings import EmbeddingsError, OpenAIEmbeddings


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([1.0, 2.0, 3.0], [2.0, 4.0, 6.0], 1.0),
        ([1.0, 0.0], [0.0, 1.0], 0.0),
        ([1.0, 0.0], [-1.0, 0.0], 0.0),
        ([1.0, 1.0], [1.0, 0.0], 1 / math.sqrt(2)),
        ([0.0, 0.0], [1.0, 0.0], 0.0),
        ([], [], 0.0),
        ([math.inf, 1.0], [1.0, 1.0], 0.0),
    ],
    ids=["parallel", "orthogonal", "opposite-clamped", "45-degrees", "zero-vector", "empty", "infinite"],
)
def test_cosine_of_vectors(a: list[float], b: list[float], expected: float) -> None:
    value = cosine_of_vectors(a, b)

    assert type(value) is float
    assert value == pytest.approx(expected, abs=1e-12)


def test_cosine_of_vectors_of_different_sizes_is_an_error() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        cosine_of_vectors([1.0], [1.0, 2.0])


def _embed(handler: object, texts: list[str], api_key: str | None = "sk-test") -> list[list[float]]:
    client = OpenAIEmbeddings(
        "http://embeddings.local/v1/",
        api_key,
        "text-embedding-3-large",
        transport=httpx.MockTransport(handler),
    )
    return asyncio.run(client.embed(texts))


def _ok(vectors: list[list[float]], order: list[int] | None = None) -> httpx.Response:
    indexes = order if order is not None else list(range(len(vectors)))
    data = [{"object": "embedding", "index": i, "embedding": vectors[i]} for i in indexes]
    return httpx.Response(200, json={"object": "list", "data": data, "model": "m", "usage": {}})


def test_embed_posts_an_openai_request_and_orders_by_index() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _ok([[1.0, 0.0], [0.0, 1.0]], order=[1, 0])

    vectors = _embed(handler, ["first", "second"])

    assert vectors == [[1.0, 0.0], [0.0, 1.0]]
    request = seen[0]
    assert request.method == "POST"
    assert str(request.url) == "http://embeddings.local/v1/embeddings"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert json.loads(request.content) == {
        "model": "text-embedding-3-large",
        "input": ["first", "second"],
        "encoding_format": "float",
    }


def test_embed_without_api_key_sends_no_authorization() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _ok([[1.0]])

    _embed(handler, ["x"], api_key=None)

    assert "authorization" not in seen[0].headers


def _status(code: int) -> httpx.Response:
    return httpx.Response(code, json={"error": {"message": "Incorrect API key provided"}})


def _raise_connect(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (lambda r: _status(401), "answered HTTP 401: .*Incorrect API key"),
        (lambda r: _status(500), "answered HTTP 500"),
        (lambda r: httpx.Response(200, text="<html>"), "non-JSON"),
        (lambda r: httpx.Response(200, json={"data": "nope"}), "not shaped like OpenAI's"),
        (lambda r: httpx.Response(200, json={"vectors": []}), "not shaped like OpenAI's"),
        (lambda r: _ok([[1.0]]), "1 vectors for 2 texts"),
        (lambda r: _ok([[1.0], [1.0, 2.0]]), "different sizes"),
        (lambda r: _ok([[], []]), "empty vectors"),
        (
            lambda r: httpx.Response(
                200, content=b'{"data":[{"index":0,"embedding":[NaN]},{"index":1,"embedding":[1]}]}'
            ),
            "non-finite",
        ),
        (_raise_connect, "request to http://embeddings.local/v1/embeddings failed"),
    ],
    ids=[
        "401",
        "500",
        "not-json",
        "data-not-a-list",
        "no-data",
        "too-few",
        "ragged",
        "empty",
        "nan",
        "connect",
    ],
)
def test_embed_failures_become_embeddings_errors(response: object, message: str) -> None:
    with pytest.raises(EmbeddingsError, match=message):
        _embed(response, ["a", "b"])
