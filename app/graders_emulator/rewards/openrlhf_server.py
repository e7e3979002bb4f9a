"""The reward server for OpenRLHF's HTTP form: `POST /get_reward` grades every query with one grader.

Bad bodies get a 400 in OpenAI's error envelope saying what is wrong and where (`param`), never a 5xx.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from graders_emulator.errors import JSON_PARSE_MESSAGE
from graders_emulator.library import GraderError
from graders_emulator.rewards.openrlhf import answer, rows_of
from graders_emulator.rewards.policy import RewardPolicy

MAX_BODY_BYTES = 64 * 1024 * 1024


class BadBody(Exception):
    """A body OpenRLHF would never send: answered with a 400."""

    def __init__(self, message: str, param: str | None = None, code: str | None = "invalid_request") -> None:
        super().__init__(message)
        self.message, self.param, self.code = message, param, code


def _json(status: int, body: Any) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _error(status: int, message: str, param: str | None = None, code: str | None = None) -> Response:
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return _json(status, {"error": error})


def parse_body(raw: bytes) -> tuple[list[str], list[Any] | None, list[Any] | None]:
    """(queries, prompts, labels) from a /get_reward body, or BadBody."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadBody(JSON_PARSE_MESSAGE, code=None) from None
    if not isinstance(body, dict):
        raise BadBody(
            'The body must be a JSON object like {"query": [...], "prompts": [...], "labels": [...]}.'
        )
    if "query" not in body:
        raise BadBody("Missing required parameter: 'query'.", "query", "missing_required_parameter")
    queries = _list(body["query"], "query")
    for index, query in enumerate(queries):
        if not isinstance(query, str):
            raise BadBody(
                f"Invalid type for 'query[{index}]': expected a string.", f"query[{index}]", "invalid_type"
            )
    prompts = _list(body["prompts"], "prompts") if body.get("prompts") is not None else None
    labels = _list(body["labels"], "labels") if body.get("labels") is not None else None
    for name, values in (("prompts", prompts), ("labels", labels)):
        if values is not None and len(values) != len(queries):
            raise BadBody(
                f"'{name}' has {len(values)} entries but 'query' has {len(queries)}: one per query is expected.",
                name,
            )
    return queries, prompts, labels


def _list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise BadBody(f"Invalid type for '{name}': expected an array.", name, "invalid_type")
    return value


def create_reward_app(policy: RewardPolicy) -> Starlette:
    """The Starlette app: `POST /get_reward`, `GET /health`."""

    async def get_reward(request: Request) -> Response:
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return _error(413, f"The body is larger than {MAX_BODY_BYTES} bytes.")
        try:
            queries, prompts, labels = parse_body(raw)
            rows = rows_of(queries, prompts, labels)
            results = await policy.agrade(rows)
        except BadBody as exc:
            return _error(400, exc.message, exc.param, exc.code)
        except GraderError as exc:
            return _error(exc.status, exc.message, exc.param, exc.code)
        return _json(200, answer(policy, results))

    async def health(request: Request) -> Response:
        return _json(200, {"status": "ok", "grader": policy.grader.wire, "flag_counts": policy.flag_counts})

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
        hint = " (POST /get_reward with {query, prompts, labels})" if status in (404, 405) else ""
        return _error(status, f"{detail}{hint}")

    routes = [
        Route("/get_reward", get_reward, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: http_error})


def serve(grader: str, host: str = "127.0.0.1", port: int = 5000, **options: Any) -> int:
    """Run the reward server until interrupted (the `reward-server` command)."""
    import socket

    import uvicorn

    policy = RewardPolicy(grader, **options)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))  # bound first, so port 0 resolves to the real port printed below
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    print(f"graders-emulator reward-server listening on http://{shown}:{bound_port}/get_reward", flush=True)
    config = uvicorn.Config(create_reward_app(policy), log_config=None, access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])
    return 0
