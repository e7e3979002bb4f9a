"""Record mode: forward run and validate to the real API, answer what it answered, keep a cassette."""

from __future__ import annotations

import httpx
from starlette.types import Scope

from graders_emulator.http.answer import Answer
from graders_emulator.http.answer_source import LocalGrading
from graders_emulator.recording.answers import answer_of, error_body
from graders_emulator.recording.cassette import request_key
from graders_emulator.recording.recorder import Exchange, Recorder
from graders_emulator.recording.redaction import header_secrets

# Request headers the upstream sees: the body's type, the credential and the account headers.
FORWARDED = (b"content-type", b"openai-organization", b"openai-project", b"user-agent")
JSON_HEADERS = {"content-type": "application/json"}


class UpstreamProxy:
    """An answer source that asks `base_url` (e.g. `https://api.openai.com/v1`) and records the exchange.

    The credential is the settings key when one is configured, else the caller's `Authorization`.
    Upstream failures are answered as they happened: an HTTP error with its status, body and headers;
    a timeout as a 504 and a connection failure as a 502, in OpenAI's envelope, saying so.
    """

    def __init__(
        self,
        base_url: str,
        *,
        recorder: Recorder | None,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.recorder = recorder
        self.api_key = api_key
        self.timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s)
        self._http: httpx.AsyncClient | None = None

    def url_of(self, path: str) -> str:
        """`/v1/fine_tuning/...` -> `<base_url>/fine_tuning/...` (the base URL ends where `/v1` does)."""
        return self.base_url + (path[3:] if path.startswith("/v1/") else path)

    def headers_of(self, scope: Scope) -> dict[str, str]:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in FORWARDED}
        authorization = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        elif authorization is not None:
            headers["authorization"] = authorization.decode("latin-1")
        return headers

    async def answer(self, scope: Scope, body: bytes, grade: LocalGrading) -> Answer:
        if self._http is None:  # created on first use: it binds to the server's event loop
            self._http = httpx.AsyncClient(timeout=self.timeout)
        url = self.url_of(scope["path"])
        failure: dict[str, str] | None = None
        try:
            response = await self._http.post(url, content=body, headers=self.headers_of(scope))
            status, headers, answer_body = response.status_code, dict(response.headers), response.content
        except httpx.TimeoutException as exc:
            failure = {"kind": "timeout", "error": _describe(exc)}
            status, headers = 504, JSON_HEADERS
            answer_body = error_body(
                f"The upstream {url} did not answer in time ({failure['error']}); nothing was graded.",
                "server_error",
                "upstream_timeout",
            )
        except httpx.HTTPError as exc:
            failure = {"kind": "connection_error", "error": _describe(exc)}
            status, headers = 502, JSON_HEADERS
            answer_body = error_body(
                f"The upstream {url} could not be reached ({failure['error']}); nothing was graded.",
                "server_error",
                "upstream_unreachable",
            )
        if self.recorder is not None:
            self.recorder.record(
                Exchange(
                    scope["method"],
                    scope["path"],
                    request_key(scope["method"], scope["path"], body),
                    body,
                    _content_type(scope),
                    status,
                    headers,
                    answer_body,
                    failure,
                    tuple(header_secrets(scope["headers"])),
                )
            )
        return answer_of(scope, "upstream", status, headers, answer_body)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None


def _content_type(scope: Scope) -> str | None:
    return next((v.decode("latin-1") for k, v in scope["headers"] if k == b"content-type"), None)


def _describe(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
