"""The zygote: imports the heavy packages once, keeps one pre-forked child ready, runs jobs one by one."""

from __future__ import annotations

import contextlib
import fcntl
import gc
import importlib
import os
import select
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graders_emulator.sandbox import batch_supervisor, child, hugepages, jobdir, leftovers, relay, teardown
from graders_emulator.sandbox.limits import SandboxLimits
from graders_emulator.sandbox.probe import Prebuilt, Protections, probe
from graders_emulator.sandbox.protocol import FRAME_HEADER, RESULT_MAX, read_frame, write_frame
from graders_emulator.sandbox.syscalls import (
    CAP_SYS_NICE,
    CLONE_NEWPID,
    PR_SET_CHILD_SUBREAPER,
    capget,
    prctl,
    unshare,
)

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
EXITING_WAIT_S = 1.0  # a thread stuck in an uninterruptible call longer than this: reap before answering
ChildEntry = Callable[[child.SpareFds, child.Plan], Any]  # what a forked child runs; never returns


@dataclass
class Spare:
    """A pre-forked child waiting for its job, and the zygote's ends of its pipes."""

    pid: int
    pidfd: int
    job_w: int
    done_r: int  # the child writes a byte here once its result is in `result`
    result: int  # sealed memfd: the child's one JSON line, at most RESULT_MAX bytes
    output: int
    job_dir: str

    def close(self) -> None:
        for fd in (self.pidfd, self.job_w, self.done_r, self.result, self.output):
            with contextlib.suppress(OSError):
                os.close(fd)


class Zygote:
    """One worker slot's supervisor process."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.limits = SandboxLimits.from_wire(config["limits"])
        self.base_dir = config["base_dir"]
        # The one directory children may write: a per-child tmpfs in root mode, emptied between jobs
        # otherwise. Children cannot write the base dir around it (Landlock covers only this one).
        self.job_root = os.path.join(self.base_dir, "job")
        os.makedirs(self.job_root, mode=0o700, exist_ok=True)
        self.import_report = preload(config.get("preload") or DEFAULT_PRELOAD)
        for signum in child.ZYGOTE_IGNORED:  # a grader that reaches us with a signal must not kill us
            signal.signal(signum, signal.SIG_IGN)
        prctl(PR_SET_CHILD_SUBREAPER, 1)  # pid-namespace children are re-parented here, to be reaped
        self.protections: Protections
        self.prebuilt: Prebuilt
        self.protections, self.prebuilt = probe(
            bool(config.get("force_unprivileged")), self.base_dir, self.job_root, int(config.get("slot", 0))
        )
        self.spare: Spare | None = None
        self.running: Spare | None = None
        self.dying: list[Spare] = []  # killed, to be reaped when they are gone (off the request path)
        self.dying_helpers: list[int] = []
        # A child killed while its answer goes out tears down at SCHED_IDLE, so its exit (10-20 ms of
        # unmapping) leaves the CPUs to the server answering; raised back once the next spare is
        # forked, which needs CAP_SYS_NICE (root mode), so without it nothing is lowered.
        self.yield_teardown = bool(capget()[0] >> CAP_SYS_NICE & 1)
        self.lowered: set[int] = set()
        self.stage = "idle"
        self._reaped_running = False
        gc.freeze()  # keep the collector from touching (and so copying) the preloaded objects in children
        self.huge_pages_mb = hugepages.collapse()  # last: the probe's trial forks split pages again

    # -----------------------------------------------------------------------------------------
    # Spares

    def fork_spare(self, entry: ChildEntry | None = None, limits: SandboxLimits | None = None) -> Spare:
        """A locked-down child on `entry` (the one-job harness by default), with `limits` or the zygote's."""
        output = _sealed_memfd(self.limits.output_bytes, "grader-output")
        result = _sealed_memfd(RESULT_MAX, "grader-result")
        job_r, job_w = os.pipe()
        done_r, done_w = os.pipe()
        fds = child.SpareFds(job_r=job_r, result_w=done_w, output=output, result=result)
        plan = child.Plan(
            limits or self.limits,
            self.job_root,
            self.protections.mountns_tmpfs,
            self.prebuilt.landlock_fd,
            self.prebuilt.seccomp_bpf,
            unshare_flags=self.prebuilt.unshare_flags,
            identity=self.prebuilt.identity,
            last_cap=self.prebuilt.last_cap,
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
            os.close(done_w)
        os.set_blocking(done_r, False)  # draining it must never hang on a leaked write end
        return Spare(pid, os.pidfd_open(pid), job_w, done_r, result, output, self.job_root)

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

    def run(self, size: int, ctl_in: int, ctl_out: int) -> None:
        """Pass `size` bytes of job from the server to the spare, watch it, and reply.

        The job's bytes move from the server's pipe to the child's (splice) and the reply's text from
        the child's memfds to the server's pipe (sendfile): none of a request's content is ever in this
        process's memory, so no later child forked from it can find any (in a frame, a global or a
        freed buffer).
        """
        spare = self._take_live_spare()
        self.running = spare
        self.reap_helpers(block=True)
        try:
            write_frame_header(spare.job_w, size)
            relay.forward(ctl_in, spare.job_w, size)
        except relay.Broken as exc:  # the spare died while its job arrived (nothing the job did)
            relay.discard(ctl_in, exc.remaining)
            write_frame(ctl_out, {"op": "error", "server_error_type": "worker_crashed", "details": str(exc)})
            return
        self.stage = "watching"
        end = self._watch(spare, ctl_in)
        self.stage = "replying"
        result_bytes = min(os.lseek(spare.result, 0, os.SEEK_CUR), RESULT_MAX)
        stdout_bytes = min(os.lseek(spare.output, 0, os.SEEK_CUR), self.limits.output_bytes)
        header = {"op": "done", **end, "result_bytes": result_bytes, "stdout_bytes": stdout_bytes}
        write_frame(ctl_out, header)
        relay.send_file(spare.result, ctl_out, result_bytes)
        relay.send_file(spare.output, ctl_out, stdout_bytes)

    def _run_answering_errors(self, size: int, ctl_in: int, ctl_out: int) -> None:
        # A failure of ours while watching the child is this job's server error, not the end of the
        # zygote; one while the job or the reply is in flight leaves the stream out of step, so the
        # zygote exits and the pool starts another.
        self.stage = "forwarding"
        try:
            self.run(size, ctl_in, ctl_out)
        except Exception as exc:
            if self.stage != "watching":
                raise
            if self.running is not None:
                _kill(self.running.pid)
            details = f"{type(exc).__name__}: {exc}"[:500]
            write_frame(ctl_out, {"op": "error", "server_error_type": "sandbox_error", "details": details})

    def finish_job(self) -> None:
        """Close the last job's pipes; a child killed but not yet reaped is collected off the request path."""
        if self.running is not None:
            if self._reaped_running:
                self.running.close()
            else:
                self._discard(self.running)
            self.running = None
        self._reaped_running = False

    def _take_live_spare(self) -> Spare:
        spare, self.spare = self.spare or self.fork_spare(), None
        if _exited(spare.pidfd):  # the idle spare died (nothing a job did): take a fresh one
            self._discard(spare)
            spare = self.fork_spare()
        return spare

    def _watch(self, spare: Spare, ctl_in: int) -> dict[str, Any]:
        """Wait for the result, the exit, the deadline or the disk limit; then end the child.

        An answered job's child is killed, and reaped after the reply: by then nothing of it can act
        (see `_gone_enough`), and its exit, which unmaps what it shares with the zygote, takes 10-20
        ms that the answer does not wait for. Any other end is reaped first, for its status.
        """
        answered, timed_out, disk_exceeded = self._wait_for_end(spare, ctl_in)
        _kill(spare.pid)
        end: dict[str, Any] = {
            "wait_status": 0,
            "cpu_s": 0.0,
            "timed_out": timed_out and not answered,
            "disk_exceeded": disk_exceeded,
        }
        if answered and self._gone_enough(spare):
            if self.yield_teardown:
                self._lower(spare.pid)
            return end
        _, status, usage = os.wait4(spare.pid, 0)  # reaped before the answer: nothing of the job runs on
        self._reaped_running = True
        if not self.protections.mountns_tmpfs:
            jobdir.empty(self.job_root)  # and none of its files is left for the next job
        end.update(wait_status=0 if answered else status, cpu_s=usage.ru_utime + usage.ru_stime)
        return end

    def _gone_enough(self, spare: Spare) -> bool:
        """Killed, can the child be reaped after the reply and still leave nothing when it goes out?

        With a per-child tmpfs, yes: its tmpfs and IPC namespace are shared with no other process, it
        has no network, and the next child gets fresh ones. Without, once every thread of it is in
        its exit (none can finish another system call, so none can create a file) the job dir is
        emptied here, before the answer.
        """
        if self.protections.mountns_tmpfs:
            return True
        if not teardown.wait_exiting(spare.pid, spare.pidfd, EXITING_WAIT_S):
            return False
        jobdir.empty(self.job_root)
        return True

    def _wait_for_end(self, spare: Spare, ctl_in: int) -> tuple[bool, bool, bool]:
        """(answered, timed out, disk exceeded), whichever comes first, or all False when it exited."""
        deadline = time.monotonic() + self.limits.timeout_s
        poller = select.poll()
        for fd in (spare.done_r, spare.pidfd, ctl_in):
            poller.register(fd, select.POLLIN)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False, True, False
            if self.protections.disk_watchdog:
                remaining = min(remaining, WATCHDOG_INTERVAL_S)
            answered = exited = False
            for fd, _ in poller.poll(remaining * 1000):
                if fd == spare.done_r:
                    signalled, still_open = _drain(fd)
                    answered = answered or signalled
                    if not still_open:
                        poller.unregister(fd)
                elif fd == spare.pidfd:
                    exited = True
                elif fd == ctl_in:  # the server closed our pipe: stop everything
                    _kill(spare.pid)
                    raise SystemExit(0)
            if answered or exited:
                return answered, False, False
            if self.protections.disk_watchdog and _too_big(spare.job_dir, self.limits.disk_mb):
                return False, False, True

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
                self.lowered.discard(spare.pid)
                spare.close()
        self.reap_helpers(block)

    def _lower(self, pid: int) -> None:
        if teardown.lower(pid):
            self.lowered.add(pid)

    def restore_priorities(self) -> None:
        """Children still tearing down finish at the normal priority; their pids are not reaped yet,
        so none can have been reused."""
        teardown.restore(self.lowered)
        self.lowered.clear()

    def reap_helpers(self, block: bool = False) -> None:
        flags = 0 if block else os.WNOHANG
        self.dying_helpers = [pid for pid in self.dying_helpers if not _reaped(pid, flags)]

    def shutdown(self) -> None:
        """Kill and reap every child, then remove this worker's directory (whoever started us may be gone)."""
        if self.running is not None:
            self._discard(self.running)
            self.running = None
        if self.spare is not None:
            self._discard(self.spare)
            self.spare = None
        self.reap(block=True)
        _reap_strays()
        jobdir.remove_tree(self.base_dir)

    def serve(self, ctl_in: int, ctl_out: int) -> None:
        """Answer jobs until the server closes the pipe; prefork the next child right after each reply.

        The job is handled in `run`'s frame; by the time the next spare is forked here, this frame holds
        only the job's size.
        """
        while True:
            if self.spare is None:
                self.spare = self.fork_spare()
            request = read_frame(ctl_in)
            if request is None:
                return
            if request.get("op") == "run":
                self._run_answering_errors(int(request["size"]), ctl_in, ctl_out)
                self.finish_job()
                self.spare = self.fork_spare()
                self.restore_priorities()
                self.reap()
            elif request.get("op") == "run_batch":  # samples of one grader from one caller (CONTRACT §6)
                write_frame(ctl_out, batch_supervisor.run_batch(self, request, ctl_in))
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


def _sealed_memfd(size: int, name: str) -> int:
    # A memfd of exactly `size` bytes that can never grow: writes past the end fail (EPERM), and the
    # shared file offset tells the zygote how much the child wrote.
    fd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    os.ftruncate(fd, size)
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_GROW | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_SEAL)
    return fd


def write_frame_header(fd: int, size: int) -> None:
    """The 4-byte length of a frame whose body follows by splice."""
    relay.write_all(fd, FRAME_HEADER.pack(size))


def _drain(fd: int) -> tuple[bool, bool]:
    """Read and drop what the child signalled: (any byte arrived, the pipe is still open)."""
    got = False
    for _ in range(16):  # bounded: a child writing without end cannot keep us here
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            return got, True
        if not chunk:
            return got, False
        got = True
    return got, True


def _exited(pidfd: int) -> bool:
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(0))


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
    base_dir = os.getcwd()  # the pool starts us in our own directory
    ctl_in, ctl_out = _take_control_fds()
    zygote: Zygote | None = None
    try:
        config = read_frame(ctl_in)
        if config is None:
            return
        zygote = Zygote(config)
        ready = {"op": "ready", "pid": os.getpid(), "protections": zygote.protections.to_wire()}
        ready.update(imports=zygote.import_report, huge_pages_mb=zygote.huge_pages_mb)
        write_frame(ctl_out, {**ready, "python": sys.version.split()[0]})
        zygote.serve(ctl_in, ctl_out)
    finally:
        # Whoever started us may be gone (even SIGKILLed): our directory goes with us, whatever ended us.
        if zygote is not None:
            zygote.shutdown()
        if os.path.basename(base_dir).startswith(leftovers.PREFIX):
            jobdir.remove_tree(base_dir)
