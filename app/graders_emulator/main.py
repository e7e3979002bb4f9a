"""create_app(settings): the only place that wires the parts together."""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from graders_emulator import __version__, evals
from graders_emulator.api import control, graders, health
from graders_emulator.emulation.state import EmulationState
from graders_emulator.grading.context import SandboxRunner
from graders_emulator.http.answer_source import AnswerSource
from graders_emulator.http.auth import BearerAuthMiddleware
from graders_emulator.http.body_limit import BodyLimitMiddleware
from graders_emulator.http.emulation import EmulationMiddleware
from graders_emulator.http.exception_handlers import install_error_handlers
from graders_emulator.http.fast_path import GraderFastPath
from graders_emulator.http.request_context import RequestContextMiddleware
from graders_emulator.metrics import wordnet
from graders_emulator.metrics.pool import MetricPool
from graders_emulator.observability import install_observability
from graders_emulator.runtime import build_runtime, build_sandbox
from graders_emulator.schemas.evals import REQUEST_MODELS
from graders_emulator.schemas.requests import RunGraderRequest, ValidateGraderRequest
from graders_emulator.settings import Settings

log = logging.getLogger("graders_emulator.server")

DESCRIPTION = (
    "A local, faithful emulator of OpenAI's graders API: `run` and `validate` for string_check, "
    "text_similarity, python, score_model, label_model (inside multi) and multi graders."
)


def _answer_source(settings: Settings) -> AnswerSource | None:
    """Record / replay when asked for (None: every request is graded); loaded only then."""
    if not (settings.upstream_url or settings.replay_dir or settings.record_dir or settings.replay_only):
        return None
    from graders_emulator.recording.configure import answer_source

    return answer_source(settings)


def _telemetry(settings: Settings) -> dict[str, Any]:
    """FastAPI's native OpenTelemetry, on only when asked for (`otel`).

    FastAPI (0.14x and later) asks the OpenTelemetry API on every request whether a provider is
    configured: ~6 us, ~8% of a string_check request; `/metrics` covers the emulator's own needs.
    Older FastAPI versions have neither the feature nor the cost.
    """
    if settings.otel or "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    sandbox: SandboxRunner = app.state.sandbox
    emulation: EmulationState = app.state.emulation
    await sandbox.start()  # returns at once; workers warm in the background
    # WordNet takes 1-3 s to load: do it off the request path so that meteor's first call is warm.
    threading.Thread(target=wordnet.warm_up, name="wordnet-warm-up", daemon=True).start()
    try:
        yield
    finally:
        app.state.metric_pool.close()  # started on first use: most servers never need it
        await sandbox.close()
        await emulation.aclose()  # the upstream model backend's HTTP client
        if app.state.answer_source is not None:
            await app.state.answer_source.aclose()  # record / replay: the upstream's HTTP client


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the request bodies, which the routes parse themselves (for speed)."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        _, defs = models_json_schema(
            [(model, "validation") for model in (RunGraderRequest, ValidateGraderRequest, *REQUEST_MODELS)],
            ref_template="#/components/schemas/{model}",
        )
        schema.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
        schema["components"]["securitySchemes"] = {"ApiKeyAuth": {"type": "http", "scheme": "bearer"}}
        app.openapi_schema = schema
    return app.openapi_schema


def create_app(settings: Settings | None = None, *, sandbox: SandboxRunner | None = None) -> FastAPI:
    """Build the app; `sandbox` replaces the python-grader runner (tests inject fakes here).

    Raises `graders_emulator.emulation.config.ConfigError` when `settings.config` is invalid.
    """
    settings = settings or Settings()
    app = FastAPI(
        title="graders-emulator",
        version=__version__,
        description=DESCRIPTION,
        lifespan=_lifespan,
        **_telemetry(settings),
    )
    app.state.settings = settings
    if settings.nltk_data is not None:
        # Process-wide, and it drops a WordNet already loaded: only when a directory is asked for.
        wordnet.configure(data_dir=settings.nltk_data)
    app.state.sandbox = sandbox if sandbox is not None else build_sandbox(settings)
    app.state.metric_pool = MetricPool(settings.metric_workers, settings.metric_timeout_s)
    app.state.runtime = build_runtime(settings, app.state.sandbox, app.state.metric_pool)
    app.state.answer_source = _answer_source(settings)
    emulation = EmulationState(settings)  # rules, journal, sessions: the control plane changes them
    app.state.emulation = emulation
    app.include_router(graders.router)
    app.include_router(health.router)
    app.include_router(control.router)
    evals.install(app, settings, app.state.runtime)
    install_error_handlers(app)
    # add_middleware wraps: the last added is the outermost. Innermost the grader fast path, then the
    # body limit and auth, emulation (session rewrite, journal, faults) around them, and outermost
    # request ids, the 500 envelope and metrics (it sees final statuses, the 500 envelope included).
    if not settings.otel:  # with OpenTelemetry on, FastAPI's routing names the spans after the routes
        app.add_middleware(GraderFastPath, handlers=graders.HANDLERS, runtime=app.state.runtime)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.auth:
        app.add_middleware(BearerAuthMiddleware, keys=settings.api_keys)
    app.add_middleware(EmulationMiddleware, state=emulation)
    app.add_middleware(RequestContextMiddleware, observe=install_observability(app))
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app
