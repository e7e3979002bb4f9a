"""The control plane under `/_emulator/`: rules, journal, reset, seed and info, globally or per session.

Every route also exists under `/_emulator/sessions/{session}/...`, scoped to that session. When
`settings.control_token` is set, every route wants `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Any

import anyio.to_thread
import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from graders_emulator import __version__
from graders_emulator.api.control_bodies import RULES_SHAPE, checked, rules_from_json, seed_from_json
from graders_emulator.api.deps import EmulationDep, RuleIdDep, SandboxDep, SessionDep
from graders_emulator.bounds import deeper_than
from graders_emulator.emulation.config import ConfigError, parse_config
from graders_emulator.emulation.journal import JournalQuery, jsonable
from graders_emulator.emulation.rules import FaultRule, ModelRule, SamplingRule
from graders_emulator.errors import ApiError, BadRequest, NotFound, Unauthorized
from graders_emulator.schemas.errors import ErrorResponse

SPEC_COMMIT = "f85dbe2"


async def _guard(request: Request, state: EmulationDep) -> None:
    token = state.settings.control_token
    if not token:
        return
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise Unauthorized(
            "The control plane needs `Authorization: Bearer <control token>`.", code="invalid_api_key"
        )


router = APIRouter(prefix="/_emulator", tags=["emulator control plane"], dependencies=[Depends(_guard)])
Handler = Callable[..., Coroutine[Any, Any, Response]]


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
    """The path parameters the dependencies read (api/deps.py), for the OpenAPI document."""
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


# --- rules


@_route("GET", "/rules", "List the rules of the scope, in match order.")
async def list_rules(state: EmulationDep, session: SessionDep) -> Response:
    scope = state.scope(session)
    return _json({"object": "list", "data": [stored.describe() for stored in scope.rules]})


@_route(
    "POST", "/rules", "Add rules: one rule, a list, or {models, faults, sampling}; JSON or YAML.", _RULES_BODY
)
async def add_rules(request: Request, state: EmulationDep, session: SessionDep) -> Response:
    # In a thread: a large or hostile body (YAML aliases) costs up to ~1 s to expand and check.
    rules = await anyio.to_thread.run_sync(
        _parse_rules,
        await request.body(),
        request.headers.get("content-type", ""),
        state.settings.max_json_depth,
    )
    scope = state.scope(session)
    too_many = scope.rules.over_limit(rules, state.settings.max_rules_per_scope)
    if too_many:
        raise BadRequest(too_many, code="rule_limit_reached")
    added = [scope.rules.add(rule, "api", state.seed_of(session)).describe() for rule in rules]
    return _json({"object": "list", "data": added})


@_route("DELETE", "/rules", "Delete every rule of the scope (config rules come back on reset).")
async def delete_rules(state: EmulationDep, session: SessionDep) -> Response:
    count = state.scope(session).rules.clear()
    return _json({"object": "list", "deleted": count})


@_route("GET", "/rules/{rule_id}", "One rule.")
async def get_rule(rule_id: RuleIdDep, state: EmulationDep, session: SessionDep) -> Response:
    stored = state.scope(session).rules.get(rule_id)
    if stored is None:
        raise _no_rule(rule_id)
    return _json(stored.describe())


@_route("DELETE", "/rules/{rule_id}", "Delete one rule.")
async def delete_rule(rule_id: RuleIdDep, state: EmulationDep, session: SessionDep) -> Response:
    if not state.scope(session).rules.remove(rule_id):
        raise _no_rule(rule_id)
    return _json({"id": rule_id, "deleted": True})


def _no_rule(rule_id: str) -> ApiError:
    return NotFound(f"No rule with id '{rule_id}'.", param="rule_id")


def _parse_rules(
    body: bytes, content_type: str, max_depth: int
) -> list[ModelRule | FaultRule | SamplingRule]:
    """A YAML document in the config file's format, or JSON (see `control_bodies`)."""
    if "yaml" in content_type:
        try:
            config = parse_config(body.decode("utf-8", "replace"), "<request body>")
        except ConfigError as exc:
            raise BadRequest(str(exc)) from None
        if not config.models and not config.faults and not config.sampling:
            raise BadRequest("The YAML body holds no rules: give `models:`, `faults:` and/or `sampling:`.")
        return checked([*config.models, *config.faults, *config.sampling])
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest(RULES_SHAPE) from None
    if deeper_than(data, max_depth):
        raise BadRequest(
            f"The JSON body is nested more than {max_depth} levels deep (setting max_json_depth)."
        )
    return rules_from_json(data)


# --- journal


@_route("GET", "/journal", "Requests received, oldest first; filter by path, grader_name, session, status.")
async def read_journal(request: Request, state: EmulationDep, session: SessionDep) -> Response:
    entries = state.journal.query(_journal_query(request, session))
    return _json({"object": "list", "data": [jsonable(entry.to_json()) for entry in entries]})


@_route("DELETE", "/journal", "Forget the journal of the scope.")
async def clear_journal(state: EmulationDep, session: SessionDep) -> Response:
    count = state.journal.clear(session, everything=session is None)
    return _json({"object": "list", "deleted": count})


def _journal_query(request: Request, session: str | None) -> JournalQuery:
    params = request.query_params
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
async def reset(state: EmulationDep, session: SessionDep) -> Response:
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
async def set_seed(request: Request, state: EmulationDep, session: SessionDep) -> Response:
    seed = seed_from_json(await request.body())
    state.set_seed(session, seed)
    return _json({"session": session, "seed": seed})


@_route("GET", "/info", "Version, response profile, model backend, sandbox protections, spec commit.")
async def info(state: EmulationDep, sandbox: SandboxDep, session: SessionDep) -> Response:
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
            "sandbox": jsonable(sandbox.protections()),
            "session": session,
            "seed": state.seed_of(session),
            "rules": len(state.scope(session).rules),
            "sessions": sorted(state.sessions),
            "journal_size": settings.journal_size,
        }
    )
