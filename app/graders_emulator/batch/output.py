"""The results file of a batch run: one JSON line per input line, in input order whatever finished first."""

from __future__ import annotations

import heapq
from collections import deque
from typing import BinaryIO

import orjson

from graders_emulator.batch.grading import LineResult


def result_line(result: LineResult) -> bytes:
    """`{"line", "reward", "flags", "seconds", "response"}`; a bad line adds `error` (its kind)."""
    entry: dict[str, object] = {
        "line": result.line,
        "reward": result.reward,
        "flags": list(result.flags),
        "seconds": result.seconds,
    }
    if result.bad:
        entry["error"] = result.error_kind
    head = orjson.dumps(entry)
    if result.body is None:
        return head + b"\n"
    return head[:-1] + b',"response":' + result.body + b"}\n"  # the server's bytes, not re-encoded


class OrderedWriter:
    """Writes results in the order their lines were read; holds back those that finished early."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self._expected: deque[int] = deque()
        self._waiting: list[tuple[int, bytes]] = []

    def expect(self, line: int) -> None:
        self._expected.append(line)

    def add(self, result: LineResult) -> None:
        heapq.heappush(self._waiting, (result.line, result_line(result)))
        while self._waiting and self._expected and self._waiting[0][0] == self._expected[0]:
            self.stream.write(heapq.heappop(self._waiting)[1])
            self._expected.popleft()
