"""POST /v1/fine_tuning/alpha/graders/run and /validate."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response
from starlette.types import Scope

from graders_emulator import service
from graders_emulator.api.fast_path import Answer, Handler
from graders_emulator.emulation import wiring
from graders_emulator.emulation.sessions import scope_state
from graders_emulator.errors import UnsupportedMediaType
from graders_emulator.recording.source import with_answer_source
from graders_emulator.schemas.errors import ErrorResponse
from graders_emulator.schemas.requests import RunGraderRequest, ValidateGraderRequest
from graders_emulator.schemas.responses import RunGraderResponse, ValidateGraderResponse

PREFIX = "/v1/fine_tuning/alpha/graders"
router = APIRouter(prefix=PREFIX, tags=["graders"])

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


def _read_json(scope: Scope, body: bytes) -> Any:
    """The body as JSON. A declared non-JSON media type is refused; an absent one is given the benefit."""
    content_type = next((v for k, v in scope["headers"] if k == b"content-type"), None)
    if content_type is not None:
        media = content_type.split(b";", 1)[0].strip().lower()
        if media != b"application/json" and not media.endswith(b"+json"):
            raise UnsupportedMediaType(
                f"Invalid Content-Type header ({content_type.decode('latin-1')}): the body must be JSON, "
                "sent as 'Content-Type: application/json'."
            )
    return service.parse_body(body)


@with_answer_source  # record / replay: a recorded or upstream answer replaces grading when configured
async def run(scope: Scope, body: bytes, runtime: service.Runtime) -> Answer:
    """Grade one request: the answer's JSON body and extra headers."""
    parsed = service.parse_run(_read_json(scope, body), runtime)
    state = scope_state(scope)
    state["grader"] = parsed.grader  # for the metrics and the journal
    emulation = wiring.for_request(scope)
    outcome = await service.run(
        parsed, runtime, emulation.models, emulation.forced_failures, emulation.latency_s
    )
    state["grade_result"] = outcome.result
    if not outcome.unreported_details:
        return Answer(outcome.body)
    # Some flags (other_error, ...) have no details key on the wire: say why in a header.
    details = {f.flag: f.details for f in outcome.unreported_details}
    return Answer(outcome.body, ((b"x-emulator-flag-details", json.dumps(details).encode("latin-1")),))


@with_answer_source
async def validate(scope: Scope, body: bytes, runtime: service.Runtime) -> Answer:
    """Validate one grader: the answer's JSON body."""
    parsed = service.parse_validate(_read_json(scope, body), runtime)
    scope_state(scope)["grader"] = parsed.grader
    return Answer(service.validate(parsed, runtime))


# The routes below document the endpoints and are FastAPI's fallback: POSTs are served by
# GraderFastPath (app/api/fast_path.py) with the same handlers, without FastAPI's routing cost.


@router.post(
    "/run",
    operation_id="runGrader",
    summary="Run a grader on one model sample.",
    response_model=RunGraderResponse,
    responses=ERROR_RESPONSES,
    openapi_extra=_body_doc(RunGraderRequest),
)
async def run_grader(request: Request) -> Response:
    answer = await run(request.scope, await request.body(), request.app.state.runtime)
    return answer.response()


@router.post(
    "/validate",
    operation_id="validateGrader",
    summary="Validate a grader without running it.",
    response_model=ValidateGraderResponse,
    responses=ERROR_RESPONSES,
    openapi_extra=_body_doc(ValidateGraderRequest),
)
async def validate_grader(request: Request) -> Response:
    answer = await validate(request.scope, await request.body(), request.app.state.runtime)
    return answer.response()


HANDLERS: dict[str, Handler] = {f"{PREFIX}/run": run, f"{PREFIX}/validate": validate}
