"""The zygote: imports the heavy packages once, keeps one pre-forked child ready, runs jobs one by one."""

from __future__ import annotations

import contextlib
import fcntl
import gc
import importlib
import os
import select
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graders_emulator.sandbox import batch_supervisor, child, outcome
from graders_emulator.sandbox.limits import SandboxLimits
from graders_emulator.sandbox.probe import Prebuilt, Protections, probe
from graders_emulator.sandbox.protocol import RESULT_MAX, read_frame, write_frame
from graders_emulator.sandbox.syscalls import CLONE_NEWPID, PR_SET_CHILD_SUBREAPER, prctl, unshare

# OpenAI's python-grader image (tag 2025-05-08) offers these; each is imported when installed.
DEFAULT_PRELOAD = (
    "numpy", "scipy", "scipy.stats", "scipy.optimize", "pandas", "sympy", "sklearn", "sklearn.metrics",
    "rapidfuzz", "rapidfuzz.fuzz", "rapidfuzz.utils", "rouge_score.rouge_scorer", "deepdiff", "jsonschema",
    "pydantic", "yaml", "nltk", "sqlparse",
    "json", "re", "math", "difflib", "collections", "statistics", "decimal", "fractions", "itertools",
    "functools", "string", "unicodedata", "datetime", "random", "hashlib", "dataclasses", "typing", "ast",
)  # fmt: skip
WATCHDOG_INTERVAL_S = 0.02
WATCHDOG_MAX_ENTRIES = 50_000
ChildEntry = Callable[[child.SpareFds, child.Plan], Any]  # what a forked child runs; never returns


@dataclass
class Spare:
    """A pre-forked child waiting for its job, and the zygote's ends of its pipes."""

    pid: int
    pidfd: int
    job_w: int
    result_r: int
    output: int
    job_dir: str

    def close(self) -> None:
        for fd in (self.pidfd, self.job_w, self.result_r, self.output):
            with contextlib.suppress(OSError):
                os.close(fd)


class Zygote:
    """One worker slot's supervisor process."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.limits = SandboxLimits.from_wire(config["limits"])
        self.base_dir = config["base_dir"]
        self.job_root = os.path.join(self.base_dir, "job")
        os.makedirs(self.job_root, mode=0o700, exist_ok=True)
        self.import_report = preload(config.get("preload") or DEFAULT_PRELOAD)
        for signum in child.ZYGOTE_IGNORED:  # a grader that reaches us with a signal must not kill us
            signal.signal(signum, signal.SIG_IGN)
        prctl(PR_SET_CHILD_SUBREAPER, 1)  # pid-namespace children are re-parented here, to be reaped
        self.protections: Protections
        self.prebuilt: Prebuilt
        self.protections, self.prebuilt = probe(
            bool(config.get("force_unprivileged")), self.base_dir, self.job_root
        )
        self.spare: Spare | None = None
        self.running: Spare | None = None
        self.dying: list[Spare] = []  # killed, to be reaped when they are gone (off the request path)
        self.dying_helpers: list[int] = []
        gc.freeze()  # keep the collector from touching (and so copying) the preloaded objects in children

    # -----------------------------------------------------------------------------------------
    # Spares

    def fork_spare(self, entry: ChildEntry | None = None, limits: SandboxLimits | None = None) -> Spare:
        """A locked-down child on `entry` (the one-job harness by default), with `limits` or the zygote's."""
        output = _sealed_memfd(self.limits.output_bytes)
        job_r, job_w = os.pipe()
        result_r, result_w = os.pipe()
        tmpfs = self.protections.mountns_tmpfs
        job_dir = self.job_root if tmpfs else tempfile.mkdtemp(prefix="job-", dir=self.base_dir)
        fds = child.SpareFds(job_r=job_r, result_w=result_w, output=output)
        plan = child.Plan(
            limits or self.limits, job_dir, tmpfs, self.prebuilt.landlock_fd, self.prebuilt.seccomp_bpf
        )
        try:
            main = entry or child.spare_main
            pid = (
                self._fork_in_pid_namespace(fds, plan, main)
                if self.protections.pidns
                else _fork(fds, plan, main)
            )
        finally:
            os.close(job_r)
            os.close(result_w)
        os.set_blocking(result_r, False)  # draining it must never hang on a leaked write end
        return Spare(pid, os.pidfd_open(pid), job_w, result_r, output, job_dir)

    def _fork_in_pid_namespace(self, fds: child.SpareFds, plan: child.Plan, main: ChildEntry) -> int:
        # unshare(CLONE_NEWPID) works once per process, so a short-lived helper takes it and forks the
        # child as pid 1 of the new namespace; the child is then re-parented to us (subreaper). We do
        # not wait for the helper's exit (a few ms of teardown) here but before sending the job: the
        # child sets PDEATHSIG when its job arrives, and would get it at the helper's exit otherwise.
        pid_r, pid_w = os.pipe()
        helper = os.fork()
        if helper == 0:
            try:
                os.close(pid_r)
                unshare(CLONE_NEWPID)
                os.write(pid_w, f"{_fork(fds, plan, main)}\n".encode())
            finally:
                os._exit(0)
        os.close(pid_w)
        self.dying_helpers.append(helper)
        data = b""
        while not data.endswith(b"\n"):
            chunk = os.read(pid_r, 64)
            if not chunk:
                break
            data += chunk
        os.close(pid_r)
        if not data.endswith(b"\n"):
            raise OSError("the pid-namespace helper did not fork a child")
        return int(data)

    # -----------------------------------------------------------------------------------------
    # Jobs

    def run(self, job: dict[str, Any], ctl_in: int) -> dict[str, Any]:
        """Hand the job to the spare and watch it; the caller replies, then calls `finish_job`."""
        spare = self._take_spare()
        self.running = spare
        self.reap_helpers(block=True)
        try:
            write_frame(spare.job_w, job)
        except BrokenPipeError:  # the idle spare died (nothing a job did); one fresh try
            self._discard(spare)
            spare = self.running = self._take_spare()
            self.reap_helpers(block=True)
            write_frame(spare.job_w, job)
        end = self._watch(spare, ctl_in)
        reply = outcome.reply_for(end, self.limits)
        reply["stdout"] = _read_output(spare.output)
        return reply

    def finish_job(self) -> None:
        """Reap the last job's child and clean up after it, off the request path."""
        if self.running is not None:
            self._discard(self.running)
            self.running = None

    def _take_spare(self) -> Spare:
        spare, self.spare = self.spare or self.fork_spare(), None
        return spare

    def _watch(self, spare: Spare, ctl_in: int) -> outcome.ChildEnd:
        deadline = time.monotonic() + self.limits.timeout_s
        poller = select.poll()
        poller.register(spare.result_r, select.POLLIN)
        poller.register(spare.pidfd, select.POLLIN)
        poller.register(ctl_in, select.POLLIN)
        result = bytearray()
        timed_out = disk_exceeded = exited = False
        while not exited:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            if self.protections.disk_watchdog:
                remaining = min(remaining, WATCHDOG_INTERVAL_S)
            for fd, _ in poller.poll(remaining * 1000):
                if fd == spare.result_r:
                    if not _read_some(fd, result):
                        poller.unregister(fd)
                elif fd == spare.pidfd:
                    exited = True
                elif fd == ctl_in:  # the server closed our pipe: stop everything
                    _kill(spare.pid)
                    raise SystemExit(0)
            if b"\n" in result:  # the child's last act: answer now, reap after replying
                _kill(spare.pid)
                return outcome.ChildEnd(bytes(result), 0, 0.0)
            if self.protections.disk_watchdog and not exited and _too_big(spare.job_dir, self.limits.disk_mb):
                disk_exceeded = True
                break
        _kill(spare.pid)
        _, status, usage = os.wait4(spare.pid, 0)
        while _read_some(spare.result_r, result):
            pass
        cpu = usage.ru_utime + usage.ru_stime
        return outcome.ChildEnd(bytes(result[:RESULT_MAX]), status, cpu, timed_out, disk_exceeded)

    def _discard(self, spare: Spare) -> None:
        _kill(spare.pid)
        self.dying.append(spare)
        self.reap()

    def reap(self, block: bool = False) -> None:
        """Collect killed children and pid-namespace helpers; clean up after them."""
        flags = 0 if block else os.WNOHANG
        for spare in list(self.dying):
            if _reaped(spare.pid, flags):
                self.dying.remove(spare)
                spare.close()
                if spare.job_dir != self.job_root:
                    shutil.rmtree(spare.job_dir, ignore_errors=True)
        self.reap_helpers(block)

    def reap_helpers(self, block: bool = False) -> None:
        flags = 0 if block else os.WNOHANG
        self.dying_helpers = [pid for pid in self.dying_helpers if not _reaped(pid, flags)]

    def shutdown(self) -> None:
        self.finish_job()
        if self.spare is not None:
            self._discard(self.spare)
            self.spare = None
        self.reap(block=True)
        _reap_strays()

    def serve(self, ctl_in: int, ctl_out: int) -> None:
        """Answer jobs until the server closes the pipe; prefork the next child right after each reply."""
        while True:
            if self.spare is None:
                self.spare = self.fork_spare()
            message = read_frame(ctl_in)
            if message is None:
                return
            if message.get("op") == "run":
                write_frame(ctl_out, self.run(message["job"], ctl_in))
                self.finish_job()
                self.spare = self.fork_spare()
                self.reap()
            elif message.get("op") == "run_batch":  # samples of one grader from one caller (CONTRACT §6)
                write_frame(ctl_out, batch_supervisor.run_batch(self, message, ctl_in))
                self.reap()


def preload(modules: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Import what is installed; returns what loaded, what did not, and how long it took."""
    started = time.perf_counter()
    loaded, missing = [], []
    for name in modules:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except Exception:
            missing.append(name)
    return {"loaded": loaded, "missing": missing, "import_s": round(time.perf_counter() - started, 3)}


def _fork(fds: child.SpareFds, plan: child.Plan, main: ChildEntry) -> int:
    pid = os.fork()
    if pid == 0:
        main(fds, plan)
    return pid


def _sealed_memfd(size: int) -> int:
    # A memfd of exactly `size` bytes that can never grow: writes past the end fail (EPERM), and the
    # shared file offset tells the zygote how much the child wrote.
    fd = os.memfd_create("grader-output", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    os.ftruncate(fd, size)
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_GROW | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_SEAL)
    return fd


def _read_output(fd: int) -> str:
    written = os.lseek(fd, 0, os.SEEK_CUR)
    return os.pread(fd, written, 0).decode("utf-8", "replace") if written > 0 else ""


def _read_some(fd: int, into: bytearray) -> bool:
    """Append what is there (capped); False at end of file or when nothing more is there now."""
    try:
        chunk = os.read(fd, 65536)
    except BlockingIOError:
        return False
    if len(into) < RESULT_MAX:
        into += chunk
    return bool(chunk)


def _kill(pid: int) -> None:
    # The child called setsid(), so its pid is its group; in a pid namespace killing pid 1 ends them all.
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)


def _reaped(pid: int, flags: int) -> bool:
    try:
        return os.waitpid(pid, flags)[0] == pid
    except ChildProcessError:
        return True  # already collected


def _reap_strays() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def _too_big(job_dir: str, disk_mb: int) -> bool:
    """The unprivileged fallback for a per-job tmpfs: measure the job dir between polls."""
    total, entries, stack = 0, 0, [job_dir]
    while stack:
        with contextlib.suppress(OSError), os.scandir(stack.pop()) as listing:
            for entry in listing:
                entries += 1
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    total += entry.stat(follow_symlinks=False).st_blocks * 512
    return total > disk_mb * 1024 * 1024 or entries > WATCHDOG_MAX_ENTRIES


def _take_control_fds() -> tuple[int, int]:
    # Frames travel on the original stdin/stdout; fds 0 and 1 then point at /dev/null and stderr so a
    # stray print from an imported package cannot corrupt the protocol.
    ctl_in, ctl_out = os.dup(0), os.dup(1)
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    return ctl_in, ctl_out


def main() -> None:
    """Entry point of the zygote process (spawned by the pool with a scrubbed environment)."""
    ctl_in, ctl_out = _take_control_fds()
    config = read_frame(ctl_in)
    if config is None:
        return
    zygote = Zygote(config)
    ready = {"op": "ready", "pid": os.getpid(), "protections": zygote.protections.to_wire()}
    write_frame(ctl_out, {**ready, "imports": zygote.import_report, "python": sys.version.split()[0]})
    try:
        zygote.serve(ctl_in, ctl_out)
    finally:
        zygote.shutdown()
