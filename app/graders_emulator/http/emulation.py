"""The emulation layer: one pure-ASGI middleware for sessions, the journal and fault injection.

For every HTTP request it finds the session (rewriting session base URLs to `/v1/...`). For `/v1`
requests it then validates the emulation headers, decides on faults (headers and fault rules), records
the request and its answer in the journal, and applies the decision; forced error flags, the injected
latency and the model client reach the handlers through the request's record. One layer rather than
three: each ASGI layer costs a wrapped receive/send per request, and this is the hot path of every
grading request.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graders_emulator.emulation import headers as emulation_headers
from graders_emulator.emulation.journal import BODY_CAP, JournalEntry
from graders_emulator.emulation.rules import RequestView, needs_body
from graders_emulator.emulation.state import NO_FAULT, EmulationState, LazyModelClient, RequestEmulationState
from graders_emulator.errors import BadRequest, send_error
from graders_emulator.http.context import RequestRecord, record_of
from graders_emulator.http.faults import apply, grader_of, read_body
from graders_emulator.http.sessions import INVALID_SESSION, SESSION_ID, session_of


class EmulationMiddleware:
    """Sessions for every request; journal and faults for `/v1`."""

    def __init__(self, app: ASGIApp, state: EmulationState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        record = record_of(scope)
        record.received_path = scope["path"]
        found = emulation_headers.collect(scope["headers"])
        session = session_of(found, scope)
        if session is not None and not SESSION_ID.match(session):
            await send_error(send, BadRequest(INVALID_SESSION))
            return
        record.session = session
        if not scope["path"].startswith("/v1"):
            await self.app(scope, receive, send)
        elif self.state.journal.enabled:
            await self._journaled(scope, receive, send, record, found)
        else:
            await self._emulated(scope, receive, send, record, found, raw_receive=receive)

    async def _emulated(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        record: RequestRecord,
        found: dict[str, str],
        *,
        raw_receive: Receive,
    ) -> None:
        """Validate the emulation headers, decide on faults, apply the decision.

        `raw_receive` is the server's own receive: transport faults reach the connection through it.
        """
        try:
            headers = emulation_headers.parse(found)
        except emulation_headers.HeaderError as exc:
            await send_error(send, BadRequest(str(exc)))
            return
        rules = self.state.fault_rules(record.session)
        view = None
        if rules:
            grader: tuple[str | None, str | None] = (None, None)
            if any(needs_body(stored.rule) for stored in rules):
                body, receive = await read_body(receive, self.state.settings.max_body_bytes)
                grader = grader_of(body)
            view = RequestView(scope["method"], scope["path"], grader[0], grader[1], headers.retry_count)
        decision = self.state.decide(view, rules, headers)
        emulation = RequestEmulationState(record.session, headers, decision)
        record.emulation = emulation
        record.models = LazyModelClient(self.state, emulation)
        if decision is NO_FAULT:
            await self.app(scope, receive, send)
        else:
            await apply(self.app, decision, scope, receive, send, raw_receive=raw_receive)

    async def _journaled(
        self, scope: Scope, receive: Receive, send: Send, record: RequestRecord, found: dict[str, str]
    ) -> None:
        """`_emulated`, with the request, its answer and what emulation did kept in the journal."""
        entry = self.state.journal.start(record.session, record.received_path, scope)
        request_chunks: list[bytes] = []
        response_chunks: list[bytes] = []

        async def journal_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                request_chunks.append(message.get("body", b""))
            return message

        async def journal_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry.status = message["status"]
            elif message["type"] == "http.response.body":
                response_chunks.append(message.get("body", b""))
            await send(message)

        started = time.perf_counter()
        try:
            await self._emulated(scope, journal_receive, journal_send, record, found, raw_receive=receive)
        finally:
            entry.duration_ms = (time.perf_counter() - started) * 1000
            # Capped when the request is over: until then the app holds the whole body anyway.
            entry.body, entry.body_truncated = _capped(request_chunks)
            entry.response_body, entry.response_truncated = _capped(response_chunks)
            _fill(entry, record)
            self.state.journal.commit(entry)


def _capped(chunks: list[bytes]) -> tuple[bytes, bool]:
    """A body from its chunks, at most BODY_CAP bytes of it, and whether more was cut off."""
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    return (body, False) if len(body) <= BODY_CAP else (body[:BODY_CAP], True)


def _fill(entry: JournalEntry, record: RequestRecord) -> None:
    """What emulation and grading left in the request's record."""
    emulation = record.emulation
    if emulation is not None:
        decision = emulation.decision
        if decision is not NO_FAULT:
            entry.fault = decision.describe()
            entry.forced_errors = [{"flag": f.flag, "details": f.details} for f in decision.errors]
        if emulation.client is not None:
            entry.model_calls = emulation.client.calls
    entry.result = record.result
    entry.source = record.answer_source  # set by record / replay (http/answer_source.py)
