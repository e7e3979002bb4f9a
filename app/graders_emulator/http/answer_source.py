"""The seam between the grader endpoints and record / replay: an optional answer source on the app state."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

import orjson
from starlette.types import Scope

from graders_emulator.errors import ApiError
from graders_emulator.http.answer import Answer, Handler
from graders_emulator.http.context import record_of

if TYPE_CHECKING:
    from graders_emulator.service import Runtime

SOURCE_HEADER = b"x-emulator-source"
SOURCE_KEY = (
    "answer_source"  # in the request's scope state: where its answer came from (the journal reads it)
)

LocalGrading = Callable[[], Awaitable[Answer]]


class AnswerSource(Protocol):
    """Answers a grader request instead of (or before) grading it: a recording, or a real upstream."""

    async def answer(self, scope: Scope, body: bytes, grade: LocalGrading) -> Answer:
        """The answer to one request; `grade` grades it locally (an unrecorded request in replay mode)."""
        ...

    async def aclose(self) -> None:
        """Release what the source holds (its HTTP client); called at app shutdown."""
        ...


def with_answer_source(handler: Handler) -> Handler:
    """`handler`, asking the app's `state.answer_source` first when there is one (None: grade as usual).

    Faults, sessions and the journal sit in the middleware around the handler, so they apply to
    recorded and upstream answers exactly as to graded ones.
    """

    @functools.wraps(handler)
    async def answered(scope: Scope, body: bytes, runtime: Runtime) -> Answer:
        app = scope.get("app")
        source: AnswerSource | None = getattr(app.state, "answer_source", None) if app is not None else None
        if source is None:
            return await handler(scope, body, runtime)
        return await source.answer(scope, body, lambda: handler(scope, body, runtime))

    return answered


def mark(scope: Scope, source: str) -> tuple[bytes, bytes]:
    """Note the answer's source for the journal; the `x-emulator-source` header that says it."""
    record_of(scope).answer_source = source
    return SOURCE_HEADER, source.encode()


async def graded_locally(scope: Scope, grade: LocalGrading) -> Answer:
    """The emulator's own answer (a 4xx envelope included, so that it carries the source header too)."""
    header = mark(scope, "emulated")
    try:
        answer = await grade()
    except ApiError as exc:
        headers = tuple((k.encode("latin-1"), v.encode("latin-1")) for k, v in exc.headers.items())
        return Answer(orjson.dumps(exc.envelope()), (*headers, header), exc.status)
    return Answer(answer.body, (*answer.headers, header), answer.status, answer.media_type)
