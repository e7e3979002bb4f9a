"""How a child ended, turned into the reply the server maps to a PythonOutcome (pure functions)."""

from __future__ import annotations

import json
import math
import os
import signal
from dataclasses import dataclass
from typing import Any

from graders_emulator.sandbox import limits
from graders_emulator.sandbox.limits import SandboxLimits
from graders_emulator.sandbox.protocol import RESULT_MAX

_CPU_SLACK_S = 0.1
MAX_RESULT_DEPTH = 32  # a result is {"value": x} or {"error": "..."}; anything deeper is not one
UNREADABLE = "the grader's process wrote an unreadable result"


@dataclass(frozen=True)
class ChildEnd:
    """What the zygote saw of one job's child."""

    result: bytes  # at most RESULT_MAX bytes of the result pipe
    wait_status: int
    cpu_s: float
    timed_out: bool = False
    disk_exceeded: bool = False


def reply_for(end: ChildEnd, lim: SandboxLimits) -> dict[str, Any]:
    """`{"value"}`, `{"runtime_error"}` or `{"server_error_type", "server_error_details"}`."""
    if end.timed_out:
        return {"runtime_error": limits.wall_clock_message(lim)}
    if end.disk_exceeded:
        return {"runtime_error": limits.disk_message(lim)}
    if end.result:
        return _from_result_line(end.result)
    return {"runtime_error": _without_result(end, lim)}


def _from_result_line(raw: bytes) -> dict[str, Any]:
    """Parse the child's line defensively: it is the grader's to forge, so any failure is its runtime error."""
    try:
        return _checked_result(raw)
    except Exception:  # whatever the bytes make the parser do is the job's error, not ours
        return {"runtime_error": UNREADABLE}


def nesting_depth(data: bytes) -> int:
    """The deepest [ / { nesting outside JSON strings (a linear scan, no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _checked_result(raw: bytes) -> dict[str, Any]:
    line = raw[:RESULT_MAX].split(b"\n", 1)[0]
    openers = line.count(b"[") + line.count(b"{")  # an upper bound of the depth, in C
    if openers > MAX_RESULT_DEPTH and nesting_depth(line) > MAX_RESULT_DEPTH:
        return {"runtime_error": UNREADABLE}
    try:
        result = json.loads(line)
    except ValueError:
        result = None
    if isinstance(result, dict):
        value = result.get("value")
        if isinstance(value, float) and math.isfinite(value):
            return {"value": value}
        if isinstance(result.get("error"), str):
            return {"runtime_error": result["error"]}
        if isinstance(result.get("server_error"), str):
            return {
                "server_error_type": result["server_error"],
                "server_error_details": result.get("details"),
            }
    return {"runtime_error": UNREADABLE}


def _without_result(end: ChildEnd, lim: SandboxLimits) -> str:
    if os.WIFSIGNALED(end.wait_status):
        signum = os.WTERMSIG(end.wait_status)
        if signum in (signal.SIGKILL, signal.SIGXCPU) and end.cpu_s >= lim.cpu_seconds - _CPU_SLACK_S:
            return limits.cpu_message(lim)
        return f"killed by signal {signal_name(signum)}"
    if os.WIFEXITED(end.wait_status):
        return f"exited with status {os.WEXITSTATUS(end.wait_status)} without returning"
    return "ended without returning"


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
