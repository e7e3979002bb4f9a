"""FastAPI's exception handlers: every failure FastAPI or Starlette raises answers in OpenAI's envelope."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from graders_emulator.errors import (
    JSON_PARSE_MESSAGE,
    ApiError,
    BadRequest,
    MethodNotAllowed,
    NotFound,
    error_response,
    validation_error,
)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if errors and errors[0].get("type") == "json_invalid":
        return error_response(BadRequest(JSON_PARSE_MESSAGE))
    body = exc.body if hasattr(exc, "body") else None
    if errors and tuple(errors[0].get("loc", ()))[:1] in (("query",), ("path",)):
        body = {**request.query_params, **request.path_params}  # so that `param` names the parameter
    stripped = [{**e, "loc": tuple(e.get("loc", ()))[1:]} for e in errors]  # drop the leading "body"
    return error_response(validation_error(body, stripped))


async def _pydantic_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationError)
    return error_response(validation_error(None, exc.errors()))


def _allowed_methods(request: Request) -> str:
    """Every method some route serves on this path (Starlette's own 405 names only the first route's).

    Each method is tried against the router, which works whatever nesting the routes have.
    """
    allowed = []
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return ", ".join(allowed)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return error_response(
            NotFound(f"Invalid URL ({request.method} {request.url.path})", code="unknown_url")
        )
    if exc.status_code == 405:
        allow = _allowed_methods(request)
        error = MethodNotAllowed(
            f"Method not allowed: {request.method} {request.url.path}",
            code="method_not_allowed",
            headers={"Allow": allow} if allow else None,
        )
        return error_response(error)
    generic = ApiError(str(exc.detail), headers=exc.headers)
    generic.status = exc.status_code
    return error_response(generic)


def install_error_handlers(app: FastAPI) -> None:
    """Route every failure path through the envelope: FastAPI's 422 and {"detail": ...} never escape.

    Unexpected exceptions are answered by the request-id middleware, so that the 500 still carries
    `x-request-id`.
    """
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(ValidationError, _pydantic_validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
