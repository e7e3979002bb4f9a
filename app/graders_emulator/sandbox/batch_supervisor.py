"""The zygote's side of a batch: stream samples to one batch child, replace it when a sample kills it.

Every sample frame is queued at once (no round trip per sample); the child answers one line per
sample in order. Sample i starts when line i-1 arrives, so its wall-clock deadline runs from there.
"""

from __future__ import annotations

import json
import os
import select
import time
from typing import TYPE_CHECKING, Any

from graders_emulator.sandbox import batch_child, jobdir, limits, outcome, supervisor
from graders_emulator.sandbox.outcome import ChildEnd
from graders_emulator.sandbox.protocol import RESULT_MAX, encode

if TYPE_CHECKING:
    from graders_emulator.sandbox.supervisor import Spare, Zygote

LINE_MAX = 256 * 1024  # a batch line also carries the sample's stdout tail: more room than RESULT_MAX
_READ_CHUNK = 65536


def run_batch(zygote: Zygote, message: dict[str, Any], ctl_in: int) -> dict[str, Any]:
    """`{"results": [reply, ...]}`, one reply per job, each worded as the one-job path words it."""
    source = str(message.get("source", ""))
    jobs = [job if isinstance(job, dict) else {} for job in message.get("jobs") or []]
    results: list[dict[str, Any]] = []
    while len(results) < len(jobs):  # each pass ends at the batch's end or at a sample that ended its child
        current = _BatchChild.start(zygote, source, jobs[len(results) :])
        try:
            results.extend(current.collect(ctl_in))
        finally:
            current.discard()
    return {"op": "batch", "results": results}


class _BatchChild:
    """One forked batch child, the frames still to write to it, and the lines read from it."""

    def __init__(self, zygote: Zygote, spare: Spare, outbox: bytes, samples: int) -> None:
        self.zygote = zygote
        self.spare = spare
        self.lim = zygote.limits
        self.outbox = memoryview(outbox)
        self.samples = samples
        self.buffer = bytearray()
        self.cpu_reported = 0.0
        self.reaped = False

    @classmethod
    def start(cls, zygote: Zygote, source: str, jobs: list[dict[str, Any]]) -> _BatchChild:
        lim = zygote.limits
        spare = zygote.fork_spare(
            entry=lambda fds, plan: batch_child.batch_main(fds, plan, lim),
            limits=batch_child.batch_limits(lim, len(jobs)),
        )
        zygote.reap_helpers(block=True)  # the child sets PDEATHSIG on the header: its parent must be us
        frames = [encode({"source": source})]
        frames += [encode({"sample": job.get("sample", {}), "item": job.get("item")}) for job in jobs]
        os.set_blocking(spare.job_w, False)
        return cls(zygote, spare, b"".join(frames), len(jobs))

    def collect(self, ctl_in: int) -> list[dict[str, Any]]:
        """Replies in order, up to the end or to the first sample that timed out or ended the child."""
        poller = select.poll()
        poller.register(self.spare.done_r, select.POLLIN)
        poller.register(self.spare.pidfd, select.POLLIN)
        poller.register(ctl_in, select.POLLIN)
        if self._write_some():
            poller.register(self.spare.job_w, select.POLLOUT)
        watchdog = self.zygote.protections.disk_watchdog
        replies: list[dict[str, Any]] = []
        started = time.monotonic()
        while True:
            for line in self._take_lines():
                now = time.monotonic()
                replies.append(self._line_reply(line, now - started))
                started = now
            if len(replies) == self.samples:
                return replies
            remaining = started + self.lim.timeout_s - time.monotonic()
            if remaining <= 0:
                return [*replies, self._dead_reply(self._reap(timed_out=True), started)]
            if watchdog:
                remaining = min(remaining, supervisor.WATCHDOG_INTERVAL_S)
            if self._poll_once(poller, remaining, ctl_in) and not self._drained_a_line():
                return [*replies, self._dead_reply(self._reap(timed_out=False), started)]
            if watchdog and supervisor._too_big(self.spare.job_dir, self.lim.disk_mb):
                return [*replies, self._dead_reply(self._reap(timed_out=False, disk_exceeded=True), started)]

    def _poll_once(self, poller: select.poll, timeout_s: float, ctl_in: int) -> bool:
        """Read and write what can be; True when the child exited."""
        exited = False
        for fd, event in poller.poll(timeout_s * 1000):
            if fd == self.spare.done_r:
                if not self._read_some():
                    poller.unregister(fd)
            elif fd == self.spare.job_w:
                if not self._write_some() or event & (select.POLLERR | select.POLLHUP):
                    poller.unregister(fd)
            elif fd == self.spare.pidfd:
                exited = True
            elif fd == ctl_in:  # the server closed our pipe: stop everything
                supervisor._kill(self.spare.pid)
                raise SystemExit(0)
        return exited

    def _write_some(self) -> bool:
        """Write queued frames until the pipe is full; True while some are left to write."""
        while self.outbox:
            try:
                written = os.write(self.spare.job_w, self.outbox[:_READ_CHUNK])
            except BlockingIOError:
                return True
            except OSError:  # the child is gone: its exit is seen on the pidfd
                self.outbox = memoryview(b"")
                return False
            self.outbox = self.outbox[written:]
        return False

    def _read_some(self) -> bool:
        """Append what is there; False at end of file or when nothing more is there now."""
        try:
            chunk = os.read(self.spare.done_r, _READ_CHUNK)
        except BlockingIOError:
            return False
        self.buffer += chunk
        return bool(chunk)

    def _drained_a_line(self) -> bool:
        """After the child exited: read everything it wrote; True when a whole line is still to take."""
        while self._read_some():
            pass
        return b"\n" in self.buffer

    def _take_lines(self) -> list[bytes]:
        lines = []
        while (newline := self.buffer.find(b"\n")) >= 0:
            lines.append(bytes(self.buffer[: newline + 1]))
            del self.buffer[: newline + 1]
        if len(self.buffer) > LINE_MAX:  # a line that never ends: unreadable, the child is stopped
            supervisor._kill(self.spare.pid)
            self.buffer.clear()
        return lines

    def _line_reply(self, line: bytes, elapsed_s: float) -> dict[str, Any]:
        try:
            parsed = json.loads(line)
        except ValueError:
            parsed = None
        stdout = ""
        if isinstance(parsed, dict):
            cpu = parsed.get("cpu")
            if isinstance(cpu, int | float) and not isinstance(cpu, bool):
                self.cpu_reported = float(cpu)
            text = parsed.get("stdout")
            stdout = text if isinstance(text, str) else ""
        reply = outcome.reply_for(ChildEnd(line[:RESULT_MAX], 0, 0.0), self.lim)
        reply["stdout"] = stdout
        reply["elapsed_s"] = elapsed_s
        return reply

    def _reap(self, *, timed_out: bool, disk_exceeded: bool = False) -> ChildEnd:
        supervisor._kill(self.spare.pid)
        _, status, usage = os.wait4(self.spare.pid, 0)
        self.reaped = True
        cpu = usage.ru_utime + usage.ru_stime - self.cpu_reported  # this sample's share only
        return ChildEnd(b"", status, cpu, timed_out, disk_exceeded)

    def _dead_reply(self, end: ChildEnd, started: float) -> dict[str, Any]:
        exited = not end.timed_out and os.WIFEXITED(end.wait_status)
        if exited and os.WEXITSTATUS(end.wait_status) == batch_child.CPU_EXCEEDED_EXIT:
            reply: dict[str, Any] = {"runtime_error": limits.cpu_message(self.lim)}
        else:
            reply = outcome.reply_for(end, self.lim)
        # The child rewinds its output after each sample: what is in it now is this sample's.
        reply["stdout"] = _read_output(self.spare.output)[-batch_child.STDOUT_IN_LINE :]
        reply["elapsed_s"] = time.monotonic() - started
        return reply

    def discard(self) -> None:
        """Kill and reap the child, close its pipes and empty the job dir for the next child.

        A pid already reaped is never signalled again (it may be reused).
        """
        if not self.reaped:
            supervisor._kill(self.spare.pid)
            os.wait4(self.spare.pid, 0)
            self.reaped = True
        self.spare.close()
        if not self.zygote.protections.mountns_tmpfs:
            jobdir.empty(self.zygote.job_root)  # no file of this batch is left for the next child


def _read_output(fd: int) -> str:
    """What the child wrote to its output memfd since it last rewound it."""
    written = os.lseek(fd, 0, os.SEEK_CUR)
    return os.pread(fd, written, 0).decode("utf-8", "replace") if written > 0 else ""
