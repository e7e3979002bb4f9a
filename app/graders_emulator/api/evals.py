"""The Evals API routes: evals, runs and output items (thin: the work is in evals.operations)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from graders_emulator.errors import BadRequest
from graders_emulator.evals.operations import EvalsOperations, ListParams
from graders_emulator.evals.store import Order
from graders_emulator.http.body import parse_json
from graders_emulator.http.context import record_of
from graders_emulator.schemas import evals as wire
from graders_emulator.schemas.errors import ErrorResponse

router = APIRouter(prefix="/v1", tags=["evals"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorResponse,
        "description": "Malformed request, or a data source that cannot be emulated.",
    },
    401: {"model": ErrorResponse, "description": "Missing or unknown API key."},
    404: {"model": ErrorResponse, "description": "No such eval, run or output item."},
}


def _body_doc(model: type[Any]) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


def operations(request: Request) -> EvalsOperations:
    ops: EvalsOperations = request.app.state.evals
    return ops


def session(request: Request) -> str | None:
    return record_of(request.scope).session  # set by the emulation layer (header or session URL)


Ops = Annotated[EvalsOperations, Depends(operations)]
Session = Annotated[str | None, Depends(session)]


# Page sizes: OpenAI's ranges for `limit`. Each is declared in the OpenAPI document (minimum/maximum)
# and checked by `page`, not by FastAPI's `ge`/`le`, whose 400 would not say what OpenAI says.
EVALS_PAGE_MAX = 100
FILES_PAGE_MAX = 10_000


def limit_query(maximum: int, default: int) -> Any:
    return Query(
        description=f"Page size: 1-{maximum}, default {default}.",
        json_schema_extra={"minimum": 1, "maximum": maximum},
    )


def page(after: str | None, limit: int, order: Order, maximum: int) -> ListParams:
    if not 1 <= limit <= maximum:
        raise BadRequest(
            f"Invalid 'limit': integer out of range. Expected a value between 1 and {maximum}, but got "
            f"{limit} instead.",
            param="limit",
            code="integer_out_of_range",
        )
    return ListParams(after=after, limit=limit, order=order)


def choice(raw: str | None, name: str, allowed: tuple[str, ...], default: str | None) -> Any:
    """A value of a form field (FastAPI checks the query's `Literal`s with the same message)."""
    if raw is None:
        return default
    if raw not in allowed:
        supported = ", ".join(f"'{value}'" for value in allowed[:-1]) + f", and '{allowed[-1]}'"
        if len(allowed) == 2:
            supported = f"'{allowed[0]}' and '{allowed[1]}'"
        raise BadRequest(
            f"Invalid value: '{raw}'. Supported values are: {supported}.", param=name, code="invalid_value"
        )
    return raw


async def _json_body(request: Request) -> Any:
    return parse_json(await request.body())


After = Annotated[str | None, Query(description="The id after which the page starts.")]
Limit = Annotated[int, limit_query(EVALS_PAGE_MAX, 20)]
OrderParam = Annotated[Order, Query(description="By creation time; default asc.")]


@router.post(
    "/evals",
    operation_id="createEval",
    summary="Create an eval.",
    status_code=201,
    response_model=wire.EvalObject,
    responses=ERRORS,
    openapi_extra=_body_doc(wire.CreateEvalRequest),
)
async def create_eval(request: Request, ops: Ops, session: Session) -> Response:
    return json_response(ops.create_eval(session, await _json_body(request)), 201)


@router.get(
    "/evals", operation_id="listEvals", summary="List evals.", response_model=wire.EvalList, responses=ERRORS
)
async def list_evals(
    *,
    ops: Ops,
    session: Session,
    after: After = None,
    limit: Limit = 20,
    order: OrderParam = "asc",
    order_by: Annotated[Literal["created_at", "updated_at"], Query()] = "created_at",
) -> Response:
    return json_response(ops.list_evals(session, page(after, limit, order, EVALS_PAGE_MAX), order_by))


@router.get(
    "/evals/{eval_id}",
    operation_id="getEval",
    summary="Get an eval.",
    response_model=wire.EvalObject,
    responses=ERRORS,
)
async def get_eval(eval_id: str, ops: Ops, session: Session) -> Response:
    return json_response(ops.get_eval(session, eval_id))


@router.post(
    "/evals/{eval_id}",
    operation_id="updateEval",
    summary="Rename an eval or replace its metadata.",
    response_model=wire.EvalObject,
    responses=ERRORS,
    openapi_extra=_body_doc(wire.UpdateEvalRequest),
)
async def update_eval(eval_id: str, request: Request, ops: Ops, session: Session) -> Response:
    return json_response(ops.update_eval(session, eval_id, await _json_body(request)))


@router.delete(
    "/evals/{eval_id}",
    operation_id="deleteEval",
    summary="Delete an eval, its runs and their output items.",
    response_model=wire.EvalDeleted,
    responses=ERRORS,
)
async def delete_eval(eval_id: str, ops: Ops, session: Session) -> Response:
    return json_response(ops.delete_eval(session, eval_id))


@router.post(
    "/evals/{eval_id}/runs",
    operation_id="createEvalRun",
    summary="Start a run of an eval (graded in the background).",
    status_code=201,
    response_model=wire.EvalRunObject,
    responses=ERRORS,
    openapi_extra=_body_doc(wire.CreateRunRequest),
)
async def create_run(eval_id: str, request: Request, ops: Ops, session: Session) -> Response:
    body = await _json_body(request)
    return json_response(ops.create_run(session, eval_id, body, str(request.base_url)), 201)


@router.get(
    "/evals/{eval_id}/runs",
    operation_id="getEvalRuns",
    summary="List the runs of an eval.",
    response_model=wire.EvalRunList,
    responses=ERRORS,
)
async def list_runs(
    eval_id: str,
    *,
    ops: Ops,
    session: Session,
    after: After = None,
    limit: Limit = 20,
    order: OrderParam = "asc",
    status: Annotated[
        Literal["queued", "in_progress", "completed", "canceled", "failed"] | None, Query()
    ] = None,
) -> Response:
    params = page(after, limit, order, EVALS_PAGE_MAX)
    return json_response(ops.list_runs(session, eval_id, params, status))


@router.get(
    "/evals/{eval_id}/runs/{run_id}",
    operation_id="getEvalRun",
    summary="Get a run (poll it until its status is completed, failed or canceled).",
    response_model=wire.EvalRunObject,
    responses=ERRORS,
)
async def get_run(eval_id: str, run_id: str, ops: Ops, session: Session) -> Response:
    return json_response(ops.get_run(session, eval_id, run_id))


@router.post(
    "/evals/{eval_id}/runs/{run_id}",
    operation_id="cancelEvalRun",
    summary="Cancel a run (the spec's path).",
    response_model=wire.EvalRunObject,
    responses=ERRORS,
)
async def cancel_run(eval_id: str, run_id: str, ops: Ops, session: Session) -> Response:
    return json_response(ops.cancel_run(session, eval_id, run_id))


@router.post(
    "/evals/{eval_id}/runs/{run_id}/cancel",
    operation_id="cancelEvalRunSdk",
    summary="Cancel a run (the path the official SDKs call).",
    response_model=wire.EvalRunObject,
    responses=ERRORS,
)
async def cancel_run_sdk(eval_id: str, run_id: str, ops: Ops, session: Session) -> Response:
    return json_response(ops.cancel_run(session, eval_id, run_id))


@router.delete(
    "/evals/{eval_id}/runs/{run_id}",
    operation_id="deleteEvalRun",
    summary="Delete a run and its output items.",
    response_model=wire.EvalRunDeleted,
    responses=ERRORS,
)
async def delete_run(eval_id: str, run_id: str, ops: Ops, session: Session) -> Response:
    return json_response(ops.delete_run(session, eval_id, run_id))


@router.get(
    "/evals/{eval_id}/runs/{run_id}/output_items",
    operation_id="getEvalRunOutputItems",
    summary="List a run's output items; `status=pass|fail` filters.",
    response_model=wire.OutputItemList,
    responses=ERRORS,
)
async def list_output_items(
    eval_id: str,
    run_id: str,
    *,
    ops: Ops,
    session: Session,
    after: After = None,
    limit: Limit = 20,
    order: OrderParam = "asc",
    status: Annotated[Literal["fail", "pass"] | None, Query()] = None,
) -> Response:
    params = page(after, limit, order, EVALS_PAGE_MAX)
    return json_response(ops.list_items(session, eval_id, run_id, params, status))


@router.get(
    "/evals/{eval_id}/runs/{run_id}/output_items/{output_item_id}",
    operation_id="getEvalRunOutputItem",
    summary="Get one output item.",
    response_model=wire.OutputItemObject,
    responses=ERRORS,
)
async def get_output_item(
    eval_id: str, run_id: str, output_item_id: str, ops: Ops, session: Session
) -> Response:
    return json_response(ops.get_item(session, eval_id, run_id, output_item_id))
