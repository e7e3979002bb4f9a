"""The per-request record: one typed object under one ASGI scope key, shared by every layer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.types import Scope

if TYPE_CHECKING:
    from graders_emulator.emulation.state import RequestEmulationState
    from graders_emulator.grading.context import ModelClient
    from graders_emulator.grading.result import GradeResult
    from graders_emulator.schemas.graders import Grader

RECORD_KEY = "graders_emulator.request"


@dataclass(slots=True)
class RequestRecord:
    """What the layers learn about one request, in the order they learn it.

    The request-context layer creates it (id); the emulation layer fills the path as received, the
    session, what emulation decided and the model client; the handlers the grader and its result.
    The outer layers read it back once the answer is sent (metrics, the request log, the journal).
    """

    request_id: str
    received_path: str = ""
    session: str | None = None
    emulation: RequestEmulationState | None = None
    models: ModelClient | None = None
    grader: Grader | None = None
    result: GradeResult | None = None
    answer_source: str | None = None  # recorded | upstream | emulated | missing, under record / replay


def record_of(scope: Scope) -> RequestRecord:
    """The request's record (made here when no layer made one: an app assembled by hand, a test)."""
    record = scope.get(RECORD_KEY)
    if not isinstance(record, RequestRecord):
        record = RequestRecord(request_id="")
        scope[RECORD_KEY] = record
    return record
