"""The per-job harness: a pre-forked child locks itself down, runs `grade`, reports one JSON line."""

from __future__ import annotations

import builtins
import contextlib
import errno
import json
import linecache
import math
import numbers
import os
import select
import signal
import sys
import tempfile
import traceback
import types
from dataclasses import dataclass
from typing import Any, NoReturn

from graders_emulator.sandbox import landlock, limits, privileges, seccomp
from graders_emulator.sandbox.limits import SandboxLimits
from graders_emulator.sandbox.privileges import Identity
from graders_emulator.sandbox.protocol import read_frame
from graders_emulator.sandbox.syscalls import MS_NODEV, MS_NOSUID, PR_SET_PDEATHSIG, mount, prctl, unshare

GRADER_FILE = "<grader>"
DETAILS_MAX = 8000  # characters of error text returned to the user
TRACEBACK_FRAMES = 8
# Signals the zygote ignores to shield itself; the grader gets Python's usual dispositions back.
ZYGOTE_IGNORED = (
    signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM,
)  # fmt: skip
_DISK_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


@dataclass(frozen=True)
class SpareFds:
    """The zygote's ends are elsewhere; these are the child's."""

    job_r: int  # one job frame arrives here
    result_w: int  # one byte here says "the result is written"
    output: int  # sealed memfd: stdout and stderr, capped at output_kb
    result: int  # sealed memfd: the one JSON result line, capped at RESULT_MAX


@dataclass(frozen=True)
class Plan:
    """What the zygote probed and prebuilt, so the child only applies it."""

    limits: SandboxLimits
    job_dir: str
    tmpfs: bool
    landlock_fd: int | None
    seccomp_bpf: bytes | None
    unshare_flags: int = 0  # the child's own namespaces (mount, IPC, UTS) in root mode
    identity: Identity | None = None  # the dedicated uid/gid to drop to in root mode
    last_cap: int = 63


def spare_main(fds: SpareFds, plan: Plan) -> NoReturn:
    """Lock down, warm up, wait for one job, run it, exit. Never returns into the zygote's code.

    Everything that does not depend on the job happens before it arrives, so a job only pays for
    reading its frame, running `grade` and writing one line.
    """
    code = 0
    try:
        _close_fds_except({0, 1, 2, fds.job_r, fds.result_w, fds.output, fds.result, plan.landlock_fd or 0})
        setup_error = _try_lock_down(fds, plan)
        if setup_error is None:
            _warm_up(plan.limits)
        job = read_frame(fds.job_r)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if job is not None and not _zygote_gone(fds.job_r):
            if setup_error is not None:  # the sandbox failed, not the grader: the server must say so
                _report(fds, {"server_error": "sandbox_setup_failed", "details": setup_error})
            else:
                result = run_grader(
                    job.get("source", ""), job.get("sample", {}), job.get("item"), plan.limits
                )
                _report(fds, _with_output_check(result, plan.limits))
    except BaseException:
        code = 70
    os._exit(code)


def _try_lock_down(fds: SpareFds, plan: Plan) -> str | None:
    try:
        _lock_down(fds, plan)
    except Exception as exc:
        return repr(exc)
    return None


def _warm_up(lim: SandboxLimits) -> None:
    # Touch the code paths a job takes (compile, exec, json) while idle: the copy-on-write page faults
    # they cause then happen before the job, not during it.
    run_grader("def grade(sample, item):\n    return 0.0\n", {}, None, lim)
    json.dumps({"value": 0.0})
    sys.modules.pop("grader", None)


def _zygote_gone(job_r: int) -> bool:
    # Checked after PDEATHSIG is set (the zygote is our parent by then: it reaps a pid-namespace helper
    # before it sends the job): the zygote holds the job pipe open for the whole job.
    return any(event & select.POLLHUP for _, event in _poll_once(job_r))


def _poll_once(fd: int) -> list[tuple[int, int]]:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return poller.poll(0)


def _lock_down(fds: SpareFds, plan: Plan) -> None:
    os.setsid()  # before seccomp, which forbids it: the zygote kills the whole group by this id
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(fds.output, 1)
    os.dup2(fds.output, 2)
    os.close(fds.output)
    _reset_signals()
    if plan.unshare_flags:
        # Its own mount namespace (the tmpfs dies with it), IPC namespace (no SysV object outlives the
        # job or is shared with another) and UTS namespace.
        unshare(plan.unshare_flags)
    if plan.tmpfs:
        options = f"size={plan.limits.disk_mb}m,mode=0700"
        if plan.identity is not None:
            options += f",uid={plan.identity.uid},gid={plan.identity.gid}"
        mount("tmpfs", plan.job_dir, "tmpfs", MS_NOSUID | MS_NODEV, options)
    _enter_job_dir(plan.job_dir)
    limits.apply_rlimits(plan.limits, limits.task_limit(dedicated_uid=plan.identity is not None))
    if plan.identity is not None:
        privileges.drop_privileges(plan.identity, plan.last_cap)
    _close_fds_except({0, 1, 2, fds.job_r, fds.result_w, fds.result, plan.landlock_fd or 0})
    if plan.landlock_fd is not None:
        landlock.restrict_self(plan.landlock_fd)
        os.close(plan.landlock_fd)
    if plan.seccomp_bpf is not None:
        seccomp.load_bpf(plan.seccomp_bpf)
    _fresh_std_streams()


def _reset_signals() -> None:
    for signum in ZYGOTE_IGNORED:
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # over-long writes then fail with EFBIG, not a kill


def _enter_job_dir(job_dir: str) -> None:
    os.chdir(job_dir)
    for name in ("TMPDIR", "TEMP", "TMP", "HOME"):
        os.environ[name] = job_dir
    tempfile.tempdir = job_dir
    sys.dont_write_bytecode = True


def _fresh_std_streams() -> None:
    # New objects on the redirected fds: the zygote's own streams may hold buffered bytes of its own.
    sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1)  # noqa: SIM115
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115


def _close_fds_except(keep: set[int]) -> None:
    low = 3
    for fd in sorted(fd for fd in keep if fd >= low):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, max(low + 1, os.sysconf("SC_OPEN_MAX")))


# ---------------------------------------------------------------------------------------------
# Running the grader: every failure becomes a result dict, never an exception


def run_grader(source: str, sample: Any, item: Any, lim: SandboxLimits) -> dict[str, Any]:
    """Compile, execute, call `grade(sample, item)`, check the value. `{"value"}` or `{"error"}`."""
    linecache.cache[GRADER_FILE] = (len(source), None, source.splitlines(True), GRADER_FILE)
    try:
        code = compile(source, GRADER_FILE, "exec")
    except (SyntaxError, ValueError) as exc:  # ValueError: source with NUL bytes
        return {"error": _exception_only(exc)}
    module = types.ModuleType("grader")
    module.__dict__["__builtins__"] = builtins
    sys.modules["grader"] = module  # so dataclasses, pickle and typing can find the grader's module
    try:
        exec(code, module.__dict__)
        grade = module.__dict__.get("grade")
        if not callable(grade):
            return {"error": "NameError: the grader source does not define grade(sample, item)"}
        value = grade(sample, item)
        return check_value(value)
    except SystemExit as exc:
        return {"error": f"SystemExit: {exc.code!r} (the grader called sys.exit())"}
    except BaseException as exc:
        return {"error": describe(exc, lim)}


def check_value(value: object) -> dict[str, Any]:
    """The reward must be a real number, not a bool, finite once converted to float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return {
            "error": f"TypeError: grade() must return a real number (int or float), got {type(value).__name__}"
        }
    try:
        number = float(value)
    except (OverflowError, ValueError, TypeError) as exc:
        return {"error": f"{_exception_only(exc)} (converting the value grade() returned to float)"}
    if not math.isfinite(number):
        return {"error": f"ValueError: grade() returned {number!r}; the reward must be a finite number"}
    return {"value": number}


def describe(exc: BaseException, lim: SandboxLimits) -> str:
    """The exception line (naming a limit when one was hit) and a short traceback tail."""
    line = _exception_only(exc)
    if isinstance(exc, MemoryError):
        line = f"{limits.memory_message(lim)}: {line}"
    elif isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS:
        line = f"{limits.disk_message(lim)}: {line}"
    tail = _traceback_tail(exc)
    return f"{line}\n{tail}" if tail else line


def _exception_only(exc: BaseException) -> str:
    lines = "".join(traceback.format_exception_only(type(exc), exc)).rstrip().splitlines()
    if isinstance(exc, SyntaxError) and len(lines) > 1:  # the exception line first, then where it is
        return "\n".join([f"{lines[-1]} (line {exc.lineno})", *lines[:-1]])
    return "\n".join(lines)


def _traceback_tail(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    first = next((i for i, frame in enumerate(frames) if frame.filename == GRADER_FILE), len(frames))
    user_frames = frames[first:][-TRACEBACK_FRAMES:]
    if not user_frames:
        return ""
    return "Traceback (most recent call last):\n" + "".join(traceback.format_list(user_frames)).rstrip()


def _with_output_check(result: dict[str, Any], lim: SandboxLimits) -> dict[str, Any]:
    """Flush the grader's streams; a write refused by the sealed memfd means the output limit was hit."""
    overflow = False
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            overflow = True
    with contextlib.suppress(OSError):  # the grader closed fd 1; what it wrote is still in the memfd
        overflow = overflow or os.lseek(1, 0, os.SEEK_CUR) >= lim.output_bytes
    if not overflow:
        return result
    message = limits.output_message(lim)
    return {"error": f"{message}\n{result['error']}" if "error" in result else message}


def _report(fds: SpareFds, result: dict[str, Any]) -> None:
    """The result line goes into the result memfd; then one byte on the pipe says it is there."""
    if "error" in result:
        result = {**result, "error": result["error"][:DETAILS_MAX]}
    os.write(fds.result, json.dumps(result).encode() + b"\n")
    os.write(fds.result_w, b"\n")
