"""The zygote's side of a batch: feed one batch child sample by sample, replace it when a sample kills it."""

from __future__ import annotations

import json
import os
import select
import shutil
import time
from typing import TYPE_CHECKING, Any

from graders_emulator.sandbox import batch_child, limits, outcome, supervisor
from graders_emulator.sandbox.outcome import ChildEnd
from graders_emulator.sandbox.protocol import RESULT_MAX, write_frame

if TYPE_CHECKING:
    from graders_emulator.sandbox.supervisor import Spare, Zygote


def run_batch(zygote: Zygote, message: dict[str, Any], ctl_in: int) -> dict[str, Any]:
    """`{"results": [reply, ...]}`, one reply per job, each as the one-job path would word it."""
    source = str(message.get("source", ""))
    jobs = [job if isinstance(job, dict) else {} for job in message.get("jobs") or []]
    results: list[dict[str, Any]] = []
    current: _BatchChild | None = None
    try:
        for index, job in enumerate(jobs):
            if current is None:
                current = _BatchChild.start(zygote, source, len(jobs) - index)
            reply, alive = current.grade(job, ctl_in)
            results.append(reply)
            if not alive:  # a crash or timeout costs only this sample: a fresh child takes the rest
                current.discard()
                current = None
    finally:
        if current is not None:
            current.discard()
    return {"op": "batch", "results": results}


class _BatchChild:
    """One forked batch child, the zygote's pipes to it, and what it reported so far."""

    def __init__(self, zygote: Zygote, spare: Spare) -> None:
        self.zygote = zygote
        self.spare = spare
        self.lim = zygote.limits
        self.buffer = bytearray()
        self.cpu_reported = 0.0
        self.reaped = False

    @classmethod
    def start(cls, zygote: Zygote, source: str, samples: int) -> _BatchChild:
        lim = zygote.limits
        spare = zygote.fork_spare(
            entry=lambda fds, plan: batch_child.batch_main(fds, plan, lim),
            limits=batch_child.batch_limits(lim, samples),
        )
        zygote.reap_helpers(block=True)  # the child sets PDEATHSIG on the header: its parent must be us
        write_frame(spare.job_w, {"source": source})
        return cls(zygote, spare)

    def grade(self, job: dict[str, Any], ctl_in: int) -> tuple[dict[str, Any], bool]:
        """Send one sample and watch it up to its own wall-clock deadline; (reply, child still usable)."""
        started = time.monotonic()
        try:
            write_frame(self.spare.job_w, {"sample": job.get("sample", {}), "item": job.get("item")})
        except BrokenPipeError:
            gone = self._reap(timed_out=False)
            return self._finish(self._dead_reply(gone), started), False
        line, end = self._watch(started + self.lim.timeout_s, ctl_in)
        if line is not None:
            return self._finish(outcome.reply_for(ChildEnd(line, 0, 0.0), self.lim), started), True
        assert end is not None
        return self._finish(self._dead_reply(end), started), False

    def _finish(self, reply: dict[str, Any], started: float) -> dict[str, Any]:
        reply["stdout"] = self._take_output()
        reply["elapsed_s"] = time.monotonic() - started
        return reply

    def _watch(self, deadline: float, ctl_in: int) -> tuple[bytes | None, ChildEnd | None]:
        poller = select.poll()
        poller.register(self.spare.result_r, select.POLLIN)
        poller.register(self.spare.pidfd, select.POLLIN)
        poller.register(ctl_in, select.POLLIN)
        watchdog = self.zygote.protections.disk_watchdog
        while True:
            line = self._take_line()
            if line is not None:
                return line, None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None, self._reap(timed_out=True)
            if watchdog:
                remaining = min(remaining, supervisor.WATCHDOG_INTERVAL_S)
            exited = self._poll_once(poller, remaining, ctl_in)
            line = self._take_line()
            if line is not None:
                return line, None
            if exited:
                return None, self._reap(timed_out=False)
            if watchdog and supervisor._too_big(self.spare.job_dir, self.lim.disk_mb):
                return None, self._reap(timed_out=False, disk_exceeded=True)

    def _poll_once(self, poller: select.poll, timeout_s: float, ctl_in: int) -> bool:
        """Read what arrived; True when the child exited."""
        exited = False
        for fd, _ in poller.poll(timeout_s * 1000):
            if fd == self.spare.result_r:
                if not supervisor._read_some(fd, self.buffer):
                    poller.unregister(fd)
            elif fd == self.spare.pidfd:
                exited = True
            elif fd == ctl_in:  # the server closed our pipe: stop everything
                supervisor._kill(self.spare.pid)
                raise SystemExit(0)
        return exited

    def _take_line(self) -> bytes | None:
        newline = self.buffer.find(b"\n")
        if newline < 0:
            return None
        line = bytes(self.buffer[: newline + 1])
        del self.buffer[: newline + 1]
        self.cpu_reported = _reported_cpu(line, self.cpu_reported)
        return line

    def _reap(self, *, timed_out: bool, disk_exceeded: bool = False) -> ChildEnd:
        supervisor._kill(self.spare.pid)
        _, status, usage = os.wait4(self.spare.pid, 0)
        self.reaped = True
        while supervisor._read_some(self.spare.result_r, self.buffer):
            pass
        line = self._take_line()
        cpu = usage.ru_utime + usage.ru_stime - self.cpu_reported  # this sample's share only
        return ChildEnd(line[:RESULT_MAX] if line else b"", status, cpu, timed_out, disk_exceeded)

    def _dead_reply(self, end: ChildEnd) -> dict[str, Any]:
        exited = not end.timed_out and os.WIFEXITED(end.wait_status)
        if exited and os.WEXITSTATUS(end.wait_status) == batch_child.CPU_EXCEEDED_EXIT:
            return {"runtime_error": limits.cpu_message(self.lim)}
        return outcome.reply_for(end, self.lim)

    def _take_output(self) -> str:
        # The child is blocked reading its next frame (or dead): its output so far is this sample's.
        text = supervisor._read_output(self.spare.output)
        os.lseek(self.spare.output, 0, os.SEEK_SET)
        return text

    def discard(self) -> None:
        """Kill a live child (reaped off this path); never signal a pid already reaped (it may be reused)."""
        if not self.reaped:
            self.zygote._discard(self.spare)
            return
        self.spare.close()
        if self.spare.job_dir != self.zygote.job_root:
            shutil.rmtree(self.spare.job_dir, ignore_errors=True)


def _reported_cpu(line: bytes, previous: float) -> float:
    try:
        value = json.loads(line).get("cpu")
    except (ValueError, AttributeError):
        return previous
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else previous
