"""The seam between the core server and the emulation features (the only module the core imports)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request

from app.grading.context import ModelClient, ModelReply, ModelRequest
from app.grading.result import GradeFailure, GradeResult


class _NoModelClient:
    """Placeholder until canned answers land: every model call is a server error."""

    async def complete(self, request: ModelRequest) -> ModelReply:
        return ModelReply(kind="server_error", details="this build does not run model graders yet")


@dataclass(frozen=True)
class RequestEmulation:
    """What emulation decides for one grading request before it is graded."""

    models: ModelClient
    forced_failures: tuple[GradeFailure, ...] = ()
    session: str | None = None
    trace: dict[str, Any] = field(default_factory=dict)


def install(app: FastAPI, settings: Any) -> None:
    """Add emulation state, middleware and the control plane to the app (called once by create_app)."""


def for_request(request: Request) -> RequestEmulation:
    """Resolve the model client, forced flags and session of one grading request."""
    return RequestEmulation(models=_NoModelClient())


def record(
    request: Request,
    *,
    body: Any,
    status: int,
    response_body: Any,
    result: GradeResult | None,
) -> None:
    """Journal one answered request (no-op until the journal lands)."""
