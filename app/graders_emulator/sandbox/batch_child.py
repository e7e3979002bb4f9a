"""The batch harness: one locked-down child compiles a grader once and grades the samples sent to it.

The zygote sends a header frame `{"source"}`, then one frame `{"sample", "item"}` per sample, all
queued at once; the child answers one JSON line per sample, in order, with that sample's stdout in it.
A sample starts when the previous one's line is written, so the zygote keeps every sample's own
wall-clock deadline from those lines, and a soft RLIMIT_CPU re-armed here before each sample gives each
its own CPU budget. Samples of one batch always belong to one grader and one caller (CONTRACT §6), so
sharing the module between them is allowed.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import linecache
import math
import os
import resource
import signal
import sys
import types
from collections.abc import Callable
from typing import Any, NoReturn

from graders_emulator.sandbox import child
from graders_emulator.sandbox.child import GRADER_FILE, Plan, SpareFds
from graders_emulator.sandbox.limits import SandboxLimits
from graders_emulator.sandbox.protocol import read_frame
from graders_emulator.sandbox.syscalls import PR_SET_PDEATHSIG, prctl

# Exit status of a child whose sample ran out of CPU: a pid-namespace init ignores SIGXCPU's default
# action, so a handler ends the process itself and the zygote reads this status.
CPU_EXCEEDED_EXIT = 86
STDOUT_IN_LINE = 4000  # characters of a sample's stdout carried in its result line (the tail)

Grade = Callable[[Any, Any], Any]


def batch_limits(lim: SandboxLimits, samples: int) -> SandboxLimits:
    """The child's hard CPU cap: every sample's budget (and one spare second) for the whole batch."""
    return dataclasses.replace(lim, cpu_s=float(lim.cpu_seconds * samples + 1))


def batch_main(fds: SpareFds, plan: Plan, per_sample: SandboxLimits) -> NoReturn:
    """Lock down, compile the grader from the header, grade sample frames until the pipe closes."""
    code = 0
    try:
        child._close_fds_except(
            {0, 1, 2, fds.job_r, fds.result_w, fds.output, fds.result, plan.landlock_fd or 0}
        )
        setup_error = child._try_lock_down(fds, plan)
        header = read_frame(fds.job_r)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if header is not None and not child._zygote_gone(fds.job_r):
            _serve(fds, header, setup_error, per_sample)
    except BaseException:
        code = 70
    os._exit(code)


def _serve(fds: SpareFds, header: dict[str, Any], setup_error: str | None, lim: SandboxLimits) -> None:
    failed: dict[str, Any] | None = None
    grade: Grade | None = None
    if setup_error is not None:  # the sandbox failed, not the grader: the server must say so
        failed = {"server_error": "sandbox_setup_failed", "details": setup_error}
    else:
        signal.signal(signal.SIGXCPU, _cpu_exceeded)
        _arm_cpu(lim)  # executing the module body counts against the first sample
        grade, error = compile_grader(str(header.get("source", "")), lim)
        if error is not None:
            failed = error
    while (job := read_frame(fds.job_r)) is not None:
        if failed is not None:
            result = dict(failed)
        else:
            assert grade is not None
            _arm_cpu(lim)
            result = call_grade(grade, job.get("sample", {}), job.get("item"), lim)
        result = child._with_output_check(result, lim)
        result["stdout"] = _take_own_output()
        result["cpu"] = _cpu_used()
        _report_line(fds.result_w, result)


def _report_line(result_w: int, result: dict[str, Any]) -> None:
    """One JSON line per sample on the pipe (the one-job child's result memfd holds a single line)."""
    if "error" in result:
        result = {**result, "error": result["error"][: child.DETAILS_MAX]}
    data = json.dumps(result).encode() + b"\n"
    while data:
        data = data[os.write(result_w, data) :]


def _take_own_output() -> str:
    """This sample's stdout+stderr (the memfd on fds 1 and 2), then rewind it for the next sample."""
    try:
        written = os.lseek(1, 0, os.SEEK_CUR)
        data = os.pread(1, written, 0) if written > 0 else b""
        os.lseek(1, 0, os.SEEK_SET)
    except OSError:  # the grader closed or replaced fd 1
        return ""
    return data.decode("utf-8", "replace")[-STDOUT_IN_LINE:]


def compile_grader(source: str, lim: SandboxLimits) -> tuple[Grade | None, dict[str, Any] | None]:
    """Compile and execute the source once; its `grade`, or the error every sample then reports."""
    linecache.cache[GRADER_FILE] = (len(source), None, source.splitlines(True), GRADER_FILE)
    try:
        code = compile(source, GRADER_FILE, "exec")
    except (SyntaxError, ValueError) as exc:  # ValueError: source with NUL bytes
        return None, {"error": child._exception_only(exc)}
    module = types.ModuleType("grader")
    module.__dict__["__builtins__"] = builtins
    sys.modules["grader"] = module
    try:
        exec(code, module.__dict__)
    except SystemExit as exc:
        return None, {"error": f"SystemExit: {exc.code!r} (the grader called sys.exit())"}
    except BaseException as exc:
        return None, {"error": child.describe(exc, lim)}
    grade = module.__dict__.get("grade")
    if not callable(grade):
        return None, {"error": "NameError: the grader source does not define grade(sample, item)"}
    return grade, None


def call_grade(grade: Grade, sample: Any, item: Any, lim: SandboxLimits) -> dict[str, Any]:
    """One `grade(sample, item)` call, every failure turned into `{"error"}` as in the one-job child."""
    try:
        return child.check_value(grade(sample, item))
    except SystemExit as exc:
        return {"error": f"SystemExit: {exc.code!r} (the grader called sys.exit())"}
    except BaseException as exc:
        return {"error": child.describe(exc, lim)}


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _arm_cpu(lim: SandboxLimits) -> None:
    """Soft RLIMIT_CPU = what was used so far + one sample's budget (capped by the batch's hard limit)."""
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(_cpu_used()) + lim.cpu_seconds
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _cpu_exceeded(signum: int, frame: object) -> None:
    os._exit(CPU_EXCEEDED_EXIT)
