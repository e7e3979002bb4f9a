"""The seam between the core server and the emulation features (the only module the core imports).

`install` puts the emulation state on `app.state.emulation` (the FastAPI app), adds the emulation middleware (sessions,
journal, faults) and the `/_emulator` control plane; `for_request` gives the run route the model
client, forced error flags and injected latency of its request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, NamedTuple

from fastapi import FastAPI
from starlette.types import Scope

from graders_emulator.emulation import headers as emulation_headers
from graders_emulator.emulation.middleware import EmulationMiddleware
from graders_emulator.emulation.sessions import REQUEST_KEY, scope_state, session_of
from graders_emulator.emulation.state import EmulationState, RequestEmulationState
from graders_emulator.grading.context import ModelClient, ModelReply, ModelRequest
from graders_emulator.grading.result import GradeFailure
from graders_emulator.settings import Settings


class RequestEmulation(NamedTuple):
    """What emulation decides for one grading request before it is graded."""

    models: ModelClient
    forced_failures: tuple[GradeFailure, ...]
    latency_s: float  # already slept by the emulation middleware; counted in execution_time


def install(app: FastAPI, settings: Any) -> None:
    """Add emulation state, middleware and the control plane to the app (called once by create_app).

    Raises `graders_emulator.emulation.config.ConfigError` when `settings.config` is invalid.
    """
    from graders_emulator.api.control import router as control_router  # the router imports this package

    state = EmulationState(settings)
    app.state.emulation = state
    app.add_middleware(EmulationMiddleware, state=state)
    app.include_router(control_router)
    app.router.lifespan_context = _closing(app.router.lifespan_context, state)


def _closing(
    inner: Callable[[Any], AbstractAsyncContextManager[Any]], state: EmulationState
) -> Callable[[Any], AbstractAsyncContextManager[Any]]:
    """The app's lifespan, plus closing the upstream HTTP client at shutdown."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        async with inner(app) as maybe_state:
            try:
                yield maybe_state
            finally:
                await state.aclose()

    return lifespan


def state_of(app: FastAPI) -> EmulationState:
    """The app's emulation state (created on first use when `install` was not called)."""
    state = getattr(app.state, "emulation", None)
    if not isinstance(state, EmulationState):
        settings = getattr(app.state, "settings", None)
        state = EmulationState(settings if isinstance(settings, Settings) else Settings())
        app.state.emulation = state
    return state


def for_request(scope: Scope) -> RequestEmulation:
    """Resolve the model client, forced flags and injected latency of one grading request."""
    state = state_of(scope["app"])
    emulation = scope_state(scope).get(REQUEST_KEY)
    if not isinstance(emulation, RequestEmulationState):
        emulation = _without_middleware(scope)
    decision = emulation.decision
    return RequestEmulation(
        models=_ModelClientOnFirstCall(state, emulation),
        forced_failures=decision.errors,
        latency_s=decision.latency_ms / 1000,
    )


class _ModelClientOnFirstCall:
    """The request's model client, built when a model grader first calls it (most graders never do)."""

    def __init__(self, state: EmulationState, emulation: RequestEmulationState) -> None:
        self._state = state
        self._emulation = emulation

    async def complete(self, request: ModelRequest) -> ModelReply:
        emulation = self._emulation
        if emulation.client is None:
            emulation.client = self._state.model_client(emulation)  # the journal reads its calls
        return await emulation.client.complete(request)


def _without_middleware(scope: Scope) -> RequestEmulationState:
    # Reached only when the middleware did not see the request (an app built without `install`):
    # honour the answer headers, ignore bad values (there is no one to send a 400 to from here).
    try:
        headers = emulation_headers.parse(emulation_headers.collect(scope["headers"]))
    except emulation_headers.HeaderError:
        headers = emulation_headers.NO_HEADERS
    emulation = RequestEmulationState(session_of(scope), headers)
    scope_state(scope)[REQUEST_KEY] = emulation
    return emulation
