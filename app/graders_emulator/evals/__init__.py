"""The Evals API emulated: evals, runs and output items in SQLite, graded in the background."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI

from graders_emulator.evals.executor import RunExecutor
from graders_emulator.evals.operations import EvalsOperations
from graders_emulator.evals.sampling import Sampler
from graders_emulator.evals.store import EvalStore
from graders_emulator.service import Runtime
from graders_emulator.settings import Settings


def install(app: FastAPI, settings: Settings, runtime: Runtime) -> EvalsOperations:
    """Put the evals state on `app.state.evals`; its runs start, resume and stop with the app."""
    from graders_emulator.api import evals as evals_router
    from graders_emulator.api import files as files_router

    emulation = app.state.emulation
    store = EvalStore(settings.data_dir)
    sampler = Sampler(emulation)
    executor = RunExecutor(store, runtime, emulation, sampler, profile=settings.response_profile)
    operations = EvalsOperations(store, executor, runtime, settings.response_profile)
    app.state.evals = operations
    emulation.reset_hooks.append(operations.forget)
    app.include_router(evals_router.router)
    app.include_router(files_router.router)
    app.router.lifespan_context = _running(app.router.lifespan_context, operations, sampler)
    return operations


def _running(
    inner: Callable[[Any], AbstractAsyncContextManager[Any]], operations: EvalsOperations, sampler: Sampler
) -> Callable[[Any], AbstractAsyncContextManager[Any]]:
    """The app's lifespan, plus resuming unfinished runs at start and stopping runs at shutdown."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        async with inner(app) as maybe_state:
            operations.executor.resume_unfinished()
            try:
                yield maybe_state
            finally:
                await operations.executor.close()
                await sampler.aclose()
                operations.store.close()

    return lifespan
