"""An Embedder for cosine backed by any OpenAI-compatible `POST {base_url}/embeddings` endpoint."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import httpx


class EmbeddingsError(Exception):
    """The embeddings endpoint could not be reached or answered something unusable."""


class OpenAIEmbeddings:
    """Implements `graders_emulator.grading.context.Embedder` over HTTP (OpenAI, vLLM, Ollama, LiteLLM, ...)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        model: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._url = base_url.rstrip("/") + "/embeddings"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._model = model
        self._transport = transport
        self._timeout = timeout

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order. Raises EmbeddingsError on transport, HTTP or shape failures."""
        body = {"model": self._model, "input": list(texts), "encoding_format": "float"}
        # A client per call: nothing to close, and no binding to the event loop of an earlier call.
        async with httpx.AsyncClient(transport=self._transport, timeout=self._timeout) as client:
            try:
                response = await client.post(self._url, json=body, headers=self._headers)
            except httpx.HTTPError as exc:
                raise EmbeddingsError(f"embeddings request to {self._url} failed: {exc!r}") from exc
        if response.status_code != httpx.codes.OK:
            raise EmbeddingsError(
                f"embeddings endpoint {self._url} answered HTTP {response.status_code}: {response.text[:500]}"
            )
        try:
            payload = response.json()
        except ValueError as exc:
            raise EmbeddingsError(f"embeddings endpoint {self._url} answered non-JSON: {exc}") from exc
        return _vectors(payload, len(texts))


def _vectors(payload: Any, expected: int) -> list[list[float]]:
    """The `data[].embedding` lists by `index`, checked: `expected` finite vectors of one size."""
    try:
        items = sorted(payload["data"], key=lambda item: item["index"])
        vectors = [[float(x) for x in item["embedding"]] for item in items]
    except (KeyError, TypeError, ValueError) as exc:
        raise EmbeddingsError(f"embeddings response is not shaped like OpenAI's: {exc!r}") from exc
    if len(vectors) != expected:
        raise EmbeddingsError(f"embeddings response has {len(vectors)} vectors for {expected} texts")
    if len({len(v) for v in vectors}) > 1 or any(not v for v in vectors):
        raise EmbeddingsError("embeddings response has empty vectors or vectors of different sizes")
    if not all(math.isfinite(x) for v in vectors for x in v):
        raise EmbeddingsError("embeddings response has non-finite numbers")
    return vectors
