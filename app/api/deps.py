"""Dependencies shared by routes, defined once."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.service import Runtime


async def get_runtime(request: Request) -> Runtime:
    # async on purpose: FastAPI runs a plain `def` dependency in a worker thread, which here cost
    # more than grading a string_check.
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
