"""POST /v1/fine_tuning/alpha/graders/run and /validate."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import APIRouter, Request
from starlette.responses import Response
from starlette.types import Scope

from graders_emulator import library, service
from graders_emulator.api.deps import RuntimeDep
from graders_emulator.http.answer import Answer, Handler
from graders_emulator.http.answer_source import with_answer_source
from graders_emulator.http.body import json_body
from graders_emulator.http.context import record_of
from graders_emulator.http.disconnect import RECEIVE_KEY, cancel_on_disconnect
from graders_emulator.schemas.errors import ErrorResponse
from graders_emulator.schemas.requests import RunGraderRequest, ValidateGraderRequest
from graders_emulator.schemas.responses import RunGraderResponse, ValidateGraderResponse

PREFIX = "/v1/fine_tuning/alpha/graders"
router = APIRouter(prefix=PREFIX, tags=["graders"])
# Bodies above this are parsed and checked in a worker thread: parsing megabytes of JSON and checking
# their bounds takes milliseconds to seconds, and the event loop must keep answering meanwhile.
OFFLOAD_BYTES = 256 * 1024
# At most this many at once: each parse holds the GIL in turns with the event loop, and every extra
# thread that allocates megabytes keeps a malloc arena of its own (RSS that is never given back).
PARSE_THREADS = 2
_parse_threads: anyio.CapacityLimiter | None = None
T = TypeVar("T")

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "Malformed request: the body is not JSON, a field is missing or invalid, a template or "
        "formula cannot be valid.",
        401: "Missing or unknown API key.",
        404: "Unknown path.",
        413: "Request body over the size limit.",
        415: "The body is declared as something other than JSON.",
        429: "Rate limited (injected with x-emulator-status).",
        500: "A bug in the emulator, or an injected server error.",
    }.items()
}


def _body_doc(model: type[Any]) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


async def _parsed(
    parse: Callable[[Any, service.Runtime, bytes], T], scope: Scope, body: bytes, runtime: service.Runtime
) -> T:
    """Parse and check a body; a large one in a thread, so that its cost never stalls the event loop."""
    if len(body) <= OFFLOAD_BYTES:
        return parse(json_body(scope, body), runtime, body)
    global _parse_threads  # noqa: PLW0603  (created on first use: it needs the running event loop)
    if _parse_threads is None:
        _parse_threads = anyio.CapacityLimiter(PARSE_THREADS)
    return await anyio.to_thread.run_sync(
        lambda: parse(json_body(scope, body), runtime, body), limiter=_parse_threads
    )


@with_answer_source  # record / replay: a recorded or upstream answer replaces grading when configured
async def run(scope: Scope, body: bytes, runtime: service.Runtime) -> Answer:
    """Grade one request: the answer's JSON body and extra headers.

    The body's grader is compiled once per distinct grader JSON (`library.compiled_run`, the
    runtime's LRU) and grades the sample as a library `Grader` does (`Grader.arun`).
    """
    request = await _parsed(library.compiled_run, scope, body, runtime)
    grader = request.grader
    record = record_of(scope)
    record.grader = grader.model  # for the metrics and the journal
    emulation = record.emulation
    if record.models is None or emulation is None:
        raise RuntimeError("the emulation layer did not see this request")  # create_app always adds it
    decision = emulation.decision
    work = grader.arun(
        request.model_sample,
        request.item,
        models=record.models,
        forced=decision.errors,
        simulated_latency_s=decision.latency_ms / 1000,
        body_bytes=len(body),
    )
    receive = scope.get(RECEIVE_KEY)
    # string_check answers in microseconds: not worth a watcher task; everything else may take long.
    if receive is None or grader.type == "string_check":
        outcome = await work
    else:
        outcome = await cancel_on_disconnect(work, receive)
    record.result = outcome.result
    if not outcome.unreported_details:
        return Answer(outcome.body)
    # Some flags (other_error, ...) have no details key on the wire: say why in a header.
    details = {f.flag: f.details for f in outcome.unreported_details}
    return Answer(outcome.body, ((b"x-emulator-flag-details", json.dumps(details).encode("latin-1")),))


@with_answer_source
async def validate(scope: Scope, body: bytes, runtime: service.Runtime) -> Answer:
    """Validate one grader: the answer's JSON body."""
    grader = await _parsed(library.compiled_validate, scope, body, runtime)
    record_of(scope).grader = grader.model
    return Answer(grader.validated())


# The routes below document the endpoints and are FastAPI's fallback: POSTs are served by
# GraderFastPath (http/fast_path.py) with the same handlers, without FastAPI's routing cost.


@router.post(
    "/run",
    operation_id="runGrader",
    summary="Run a grader on one model sample.",
    response_model=RunGraderResponse,
    responses=ERROR_RESPONSES,
    openapi_extra=_body_doc(RunGraderRequest),
)
async def run_grader(request: Request, runtime: RuntimeDep) -> Response:
    body = await request.body()
    request.scope[RECEIVE_KEY] = request.receive
    try:
        answer = await run(request.scope, body, runtime)
    finally:
        request.scope.pop(RECEIVE_KEY, None)  # scope -> receive -> request -> scope: a cycle (fast_path.py)
    return answer.response()


@router.post(
    "/validate",
    operation_id="validateGrader",
    summary="Validate a grader without running it.",
    response_model=ValidateGraderResponse,
    responses=ERROR_RESPONSES,
    openapi_extra=_body_doc(ValidateGraderRequest),
)
async def validate_grader(request: Request, runtime: RuntimeDep) -> Response:
    answer = await validate(request.scope, await request.body(), runtime)
    return answer.response()


HANDLERS: dict[str, Handler] = {f"{PREFIX}/run": run, f"{PREFIX}/validate": validate}
