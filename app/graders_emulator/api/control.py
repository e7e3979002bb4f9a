"""The control plane under `/_emulator/`: rules, journal, reset, seed and info, globally or per session.

Every route also exists under `/_emulator/sessions/{session}/...`, scoped to that session. When
`settings.control_token` is set, every route wants `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from pydantic import TypeAdapter, ValidationError
from starlette.responses import Response

from graders_emulator import __version__
from graders_emulator.emulation.config import (
    ConfigError,
    describe_error,
    dotted,
    parse_config,
    semantic_problems,
)
from graders_emulator.emulation.journal import JournalQuery, jsonable
from graders_emulator.emulation.rules import FaultRule, ModelRule, Rule, SamplingRule
from graders_emulator.emulation.sessions import SESSION_ID
from graders_emulator.emulation.state import EmulationState
from graders_emulator.emulation.wiring import state_of
from graders_emulator.errors import ApiError, BadRequest, NotFound, Unauthorized
from graders_emulator.schemas.errors import ErrorResponse

SPEC_COMMIT = "f85dbe2"
_RULES = TypeAdapter(list[Rule])
_SEED = TypeAdapter(int | None, config={"strict": True})


async def _guard(request: Request) -> None:  # async: no worker-thread hop per request
    token = state_of(request.app).settings.control_token
    if not token:
        return
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise Unauthorized(
            "The control plane needs `Authorization: Bearer <control token>`.", code="invalid_api_key"
        )


router = APIRouter(prefix="/_emulator", tags=["emulator control plane"], dependencies=[Depends(_guard)])
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


_PATH_PARAMETERS = {
    "session": {"type": "string", "pattern": r"^[A-Za-z0-9._-]{1,128}$", "description": "A session id."},
    "rule_id": {"type": "string", "description": "A rule id."},
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Malformed rule, query or session id."},
    401: {"model": ErrorResponse, "description": "Missing or wrong control token."},
    404: {"model": ErrorResponse, "description": "Unknown rule."},
}


def _documented(path: str) -> dict[str, Any]:
    """The path parameters the handlers read from `request.path_params`, for the OpenAPI document."""
    names = [name for name in _PATH_PARAMETERS if "{" + name + "}" in path]
    parameters = [{"name": n, "in": "path", "required": True, "schema": _PATH_PARAMETERS[n]} for n in names]
    return {"parameters": parameters} if parameters else {}


_RULES_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]}
        },
        "application/yaml": {"schema": {"type": "string"}},
    },
}


def _route(
    method: str, path: str, summary: str, body: dict[str, Any] | None = None
) -> Callable[[Handler], Handler]:
    """Register a handler globally and under `/sessions/{session}`; `body` documents a raw-read body."""

    def register(handler: Handler) -> Handler:
        for prefix in ("", "/sessions/{session}"):
            full = prefix + path
            extra = _documented(full) | ({"requestBody": body} if body else {})
            router.add_api_route(
                full, handler, methods=[method], summary=summary, responses=_ERRORS, openapi_extra=extra
            )
        return handler

    return register


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


def _session(request: Request) -> str | None:
    session = request.path_params.get("session")
    if session is not None and not SESSION_ID.match(session):
        raise BadRequest("Session ids are 1-128 characters of [A-Za-z0-9._-].", param="session")
    return session


def _state(request: Request) -> EmulationState:
    return state_of(request.app)


# --- rules


@_route("GET", "/rules", "List the rules of the scope, in match order.")
async def list_rules(request: Request) -> Response:
    scope = _state(request).scope(_session(request))
    return _json({"object": "list", "data": [stored.describe() for stored in scope.rules]})


@_route(
    "POST", "/rules", "Add rules: one rule, a list, or {models, faults, sampling}; JSON or YAML.", _RULES_BODY
)
async def add_rules(request: Request) -> Response:
    rules = _parse_rules(await request.body(), request.headers.get("content-type", ""))
    state = _state(request)
    session = _session(request)
    scope = state.scope(session)
    added = [scope.rules.add(rule, "api", state.seed_of(session)).describe() for rule in rules]
    return _json({"object": "list", "data": added})


@_route("DELETE", "/rules", "Delete every rule of the scope (config rules come back on reset).")
async def delete_rules(request: Request) -> Response:
    count = _state(request).scope(_session(request)).rules.clear()
    return _json({"object": "list", "deleted": count})


@_route("GET", "/rules/{rule_id}", "One rule.")
async def get_rule(request: Request) -> Response:
    scope = _state(request).scope(_session(request))
    stored = scope.rules.get(request.path_params["rule_id"])
    if stored is None:
        raise _no_rule(request)
    return _json(stored.describe())


@_route("DELETE", "/rules/{rule_id}", "Delete one rule.")
async def delete_rule(request: Request) -> Response:
    rule_id = request.path_params["rule_id"]
    if not _state(request).scope(_session(request)).rules.remove(rule_id):
        raise _no_rule(request)
    return _json({"id": rule_id, "deleted": True})


def _no_rule(request: Request) -> ApiError:
    return NotFound(f"No rule with id '{request.path_params['rule_id']}'.", param="rule_id")


def _parse_rules(body: bytes, content_type: str) -> list[ModelRule | FaultRule | SamplingRule]:
    if "yaml" in content_type:
        try:
            config = parse_config(body.decode("utf-8", "replace"), "<request body>")
        except ConfigError as exc:
            raise BadRequest(str(exc)) from None
        if not config.models and not config.faults and not config.sampling:
            raise BadRequest("The YAML body holds no rules: give `models:`, `faults:` and/or `sampling:`.")
        return [*config.models, *config.faults, *config.sampling]
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest("The body must be a JSON rule, a list of rules, or {models, faults}.") from None
    return _validated(_as_rule_list(data))


def _as_rule_list(data: Any) -> Any:
    sections = {"models": "model", "faults": "fault", "sampling": "sampling"}
    if isinstance(data, dict) and set(sections) & set(data) and "kind" not in data:
        extra = set(data) - set(sections)
        if extra:
            raise BadRequest(f"Unknown key {sorted(extra)[0]!r} next to models/faults/sampling.")
        return [
            {"kind": kind, **rule} if isinstance(rule, dict) else rule
            for section, kind in sections.items()
            for rule in data.get(section) or []
        ]
    return data if isinstance(data, list) else [data]


def _validated(data: Any) -> list[ModelRule | FaultRule | SamplingRule]:
    try:
        rules = _RULES.validate_python(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        raise BadRequest(
            f"Invalid rule: {describe_error(error)}", param=dotted(error["loc"]) or None
        ) from None
    problems = semantic_problems([r for r in rules if isinstance(r, ModelRule)])
    if problems:
        raise BadRequest(f"Invalid rule: {problems[0][1]}")
    return rules


# --- journal


@_route("GET", "/journal", "Requests received, oldest first; filter by path, grader_name, session, status.")
async def read_journal(request: Request) -> Response:
    entries = _state(request).journal.query(_journal_query(request))
    return _json({"object": "list", "data": [jsonable(entry.to_json()) for entry in entries]})


@_route("DELETE", "/journal", "Forget the journal of the scope.")
async def clear_journal(request: Request) -> Response:
    session = _session(request)
    count = _state(request).journal.clear(session, everything=session is None)
    return _json({"object": "list", "deleted": count})


def _journal_query(request: Request) -> JournalQuery:
    params = request.query_params
    session = _session(request)
    return JournalQuery(
        path=params.get("path"),
        grader_name=params.get("grader_name"),
        session=session if session is not None else params.get("session"),
        status=_int_param(params.get("status"), "status"),
        limit=_int_param(params.get("limit"), "limit"),
        scoped=session is not None,
    )


def _int_param(raw: str | None, name: str) -> int | None:
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"Invalid value for '{name}': expected an integer.", param=name) from None


# --- reset, seed, info


@_route("POST", "/reset", "Back to the start: config rules, empty journal (globally: every session too).")
async def reset(request: Request) -> Response:
    session = _session(request)
    state = _state(request)
    if session is None:
        state.reset()
    else:
        state.reset_session(session)
    return _json({"reset": True, "session": session})


_SEED_BODY = {
    "required": False,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"seed": {"anyOf": [{"type": "integer"}, {"type": "null"}]}},
            }
        }
    },
}


@_route(
    "POST",
    "/seed",
    'Set the seed of default answers and random faults of the scope: {"seed": int|null}.',
    _SEED_BODY,
)
async def set_seed(request: Request) -> Response:
    try:
        body = orjson.loads(await request.body() or b"{}")
        if not isinstance(body, dict):
            raise ValueError("not an object")
        seed = _SEED.validate_python(body.get("seed"))
    except (ValueError, ValidationError):
        raise BadRequest('The body must be {"seed": <integer or null>}.', param="seed") from None
    session = _session(request)
    _state(request).set_seed(session, seed)
    return _json({"session": session, "seed": seed})


@_route("GET", "/info", "Version, response profile, model backend, sandbox protections, spec commit.")
async def info(request: Request) -> Response:
    state = _state(request)
    session = _session(request)
    settings = state.settings
    return _json(
        {
            "object": "emulator.info",
            "version": __version__,
            "spec_commit": SPEC_COMMIT,
            "response_profile": settings.response_profile,
            "model_backend": {"kind": "upstream", "base_url": settings.model_base_url}
            if settings.model_base_url
            else {"kind": "canned"},
            "config": str(settings.config) if settings.config else None,
            "sandbox": jsonable(request.app.state.sandbox.protections()),
            "session": session,
            "seed": state.seed_of(session),
            "rules": len(state.scope(session).rules),
            "sessions": sorted(state.sessions),
            "journal_size": settings.journal_size,
        }
    )
