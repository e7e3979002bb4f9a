"""POST /v1/fine_tuning/alpha/graders/run and /validate."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from app import service
from app.emulation import wiring
from app.errors import UnsupportedMediaType
from app.schemas.errors import ErrorResponse
from app.schemas.requests import RunGraderRequest, ValidateGraderRequest
from app.schemas.responses import RunGraderResponse, ValidateGraderResponse

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


def _read_json(request: Request, body: bytes) -> Any:
    """The body as JSON. A declared non-JSON media type is refused; an absent one is given the benefit."""
    content_type = request.headers.get("content-type")
    if content_type is not None:
        media = content_type.split(";", 1)[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            raise UnsupportedMediaType(
                f"Invalid Content-Type header ({content_type}): the body must be JSON, sent as "
                "'Content-Type: application/json'."
            )
    return service.parse_body(body)


def _json(body: bytes, headers: dict[str, str] | None = None) -> Response:
    return Response(body, media_type="application/json", headers=headers)


@router.post(
    "/run",
    operation_id="runGrader",
    summary="Run a grader on one model sample.",
    response_model=RunGraderResponse,
    responses=ERROR_RESPONSES,
    openapi_extra=_body_doc(RunGraderRequest),
)
async def run_grader(request: Request) -> Response:
    runtime: service.Runtime = request.app.state.runtime  # not a Depends: it costs ~40 µs a request
    data = _read_json(request, await request.body())
    parsed = service.parse_run(data, runtime)
    request.state.grader = parsed.grader
    emulation = wiring.for_request(request)
    latency_s = float(emulation.trace.get("latency_ms") or 0) / 1000  # slept in the fault middleware
    outcome = await service.run(parsed, runtime, emulation.models, emulation.forced_failures, latency_s)
    request.state.grade_result = outcome.result
    headers = None
    if outcome.unreported_details:
        # Some flags (other_error, ...) have no details key on the wire: say why in a header.
        details = {f.flag: f.details for f in outcome.unreported_details}
        headers = {"x-emulator-flag-details": json.dumps(details)}
    return _json(outcome.body, headers)


@router.post(
    "/validate",
    operation_id="validateGrader",
    summary="Validate a grader without running it.",
    response_model=ValidateGraderResponse,
    responses=ERROR_RESPONSES,
    openapi_extra=_body_doc(ValidateGraderRequest),
)
async def validate_grader(request: Request) -> Response:
    runtime: service.Runtime = request.app.state.runtime
    data = _read_json(request, await request.body())
    parsed = service.parse_validate(data, runtime)
    request.state.grader = parsed.grader
    return _json(service.validate(parsed, runtime))


# The same handlers, by path, for GraderFastPath (app/api/fast_path.py).
HANDLERS = {f"{PREFIX}/run": run_grader, f"{PREFIX}/validate": validate_grader}
