"""The child side of the metric pool: `python -m graders_emulator.metrics.pool_worker`, one metric at a time.

Reads length-prefixed orjson frames `{"metric", "input", "reference"}` on stdin and answers
`{"value": float}` or `{"error": str, "unavailable": bool}` on stdout, until stdin closes. It dies with
the thread that started it (PR_SET_PDEATHSIG) and keeps its memory under MEMORY_BYTES, so that a
runaway metric ends in a MemoryError answer instead of the machine swapping.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import struct
import sys
from typing import Any, BinaryIO

import orjson

MEMORY_BYTES = 2 * 1024**3
# Lower priority than the server: a heavy metric (seconds of CPU until its deadline) must not take
# the core the event loop needs to answer everyone else (the soak's normal-traffic p99).
NICENESS = 10
HEADER = struct.Struct(">I")
PR_SET_PDEATHSIG = 1


def read_frame(stream: BinaryIO) -> bytes | None:
    """One frame, or None at end of stream."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    body = stream.read(size)
    return body if len(body) == size else None


def write_frame(stream: BinaryIO, payload: Any) -> None:
    body = orjson.dumps(payload)
    stream.write(HEADER.pack(len(body)) + body)
    stream.flush()


def _lock_down(parent: int | None) -> None:
    with contextlib.suppress(OSError, AttributeError):  # not Linux: a closed stdin still ends it
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if parent is not None and os.getppid() != parent:  # the server died before the line above
        sys.exit(0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the server's to handle
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    os.nice(NICENESS)


def _answer(job: dict[str, Any]) -> dict[str, Any]:
    from graders_emulator import metrics

    try:
        return {"value": metrics.score(job["metric"], job["input"], job["reference"])}
    except metrics.MetricUnavailable as exc:
        return {"error": str(exc), "unavailable": True}
    except Exception as exc:  # MemoryError included: the job's failure, not the worker's
        return {"error": f"{type(exc).__name__}: {exc}", "unavailable": False}


def main() -> None:
    _lock_down(int(sys.argv[1]) if len(sys.argv) > 1 else None)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while (frame := read_frame(stdin)) is not None:
        write_frame(stdout, _answer(orjson.loads(frame)))


if __name__ == "__main__":
    main()
