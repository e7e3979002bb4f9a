"""Bearer auth on /v1: a key is required; when keys are configured, it must be one of them."""

from __future__ import annotations

from collections.abc import Collection

from starlette.types import ASGIApp, Receive, Scope, Send

from graders_emulator.errors import NO_KEY_MESSAGE, ApiError, Unauthorized, send_error


def mask_key(key: str) -> str:
    """`sk-...abcd`, as OpenAI shows a key it refuses."""
    return f"{key[:3]}...{key[-4:]}" if len(key) > 8 else "***"


def bearer_token(scope: Scope) -> str:
    """The token of the `Authorization: Bearer ...` header; empty when there is none."""
    header = b""
    for name, value in scope["headers"]:
        if name == b"authorization":
            header = value
            break
    scheme, _, raw_token = header.partition(b" ")
    return raw_token.strip().decode("latin-1") if scheme.lower() == b"bearer" else ""


def refusal(token: str, keys: frozenset[str]) -> ApiError | None:
    """The 401 for a missing or unknown key, as OpenAI words it; None when the key is accepted."""
    if not token:
        return Unauthorized(NO_KEY_MESSAGE)
    if keys and token not in keys:
        return Unauthorized(
            f"Incorrect API key provided: {mask_key(token)}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )
    return None


class BearerAuthMiddleware:
    """On /v1 only: a bearer token is required; when keys are configured, it must be one of them."""

    def __init__(self, app: ASGIApp, *, keys: Collection[str], prefix: str = "/v1/") -> None:
        self.app = app
        self.keys = frozenset(keys)
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            error = refusal(bearer_token(scope), self.keys)
            if error is not None:
                await send_error(send, error)
                return
        await self.app(scope, receive, send)
