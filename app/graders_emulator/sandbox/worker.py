"""One zygote process as the server sees it: spawn it with a scrubbed environment, send jobs, kill it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graders_emulator.sandbox import leftovers
from graders_emulator.sandbox.protocol import MAX_FRAME, RESULT_MAX, ProtocolError, encode, read_frame_async

MARKER = "--graders-emulator-sandbox"  # in every zygote's (and child's) command line, for ps and tests
START_TIMEOUT_S = 120.0
_PASSED_THROUGH = ("HOME", "NLTK_DATA")  # paths, not secrets: NLTK finds its data through them
_BOOT = (
    "import sys; sys.path.insert(0, {root!r}); from graders_emulator.sandbox.supervisor import main; main()"
)


class WorkerLost(Exception):
    """The zygote died, hung, or spoke nonsense; the pool replaces it."""

    def __init__(self, message: str, *, delivered: bool = True) -> None:
        super().__init__(message)
        self.delivered = delivered  # False: it died before the job reached it, so the job can go elsewhere


@dataclass(frozen=True)
class JobReply:
    """A zygote's answer to one job: how its child ended, and the child's raw result line and output."""

    header: dict[str, Any]
    result: bytes
    stdout: bytes


def zygote_environment() -> dict[str, str]:
    """Nothing of the server's environment (API keys, GRADERS_EMULATOR_*) except harmless paths."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
        # One BLAS/OpenMP thread: smaller address space (RLIMIT_AS) and no threads to fork past.
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "NUMEXPR_NUM_THREADS": "1",
    }
    env.update({name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ})
    return env


def _project_root() -> str:
    return str(Path(__file__).resolve().parents[2])


def zygote_command(token: str) -> list[str]:
    """The zygote's command line: a fresh isolated interpreter carrying the pool's marker and token."""
    return [sys.executable, "-I", "-c", _BOOT.format(root=_project_root()), MARKER, token]


class Worker:
    """A ready zygote; one job at a time (the pool guarantees it)."""

    def __init__(self, proc: asyncio.subprocess.Process, base_dir: str, ready: dict[str, Any]) -> None:
        self.proc = proc
        self.base_dir = base_dir
        self.ready = ready

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None

    @classmethod
    async def spawn(cls, config: dict[str, Any], token: str) -> Worker:
        """Start a zygote and wait until it has imported, probed and pre-forked (about 2-3 s)."""
        base_dir = tempfile.mkdtemp(prefix=leftovers.dir_prefix())
        try:
            proc = await asyncio.create_subprocess_exec(
                *zygote_command(token),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                env=zygote_environment(),
                cwd=base_dir,
            )
        except OSError:
            shutil.rmtree(base_dir, ignore_errors=True)
            raise
        worker = cls(proc, base_dir, {})
        try:
            worker.ready = await worker._exchange({**config, "base_dir": base_dir}, START_TIMEOUT_S)
            if worker.ready.get("op") != "ready":
                raise WorkerLost(f"zygote answered {worker.ready!r} instead of ready")
        except BaseException:  # including cancellation by close(): never leave a zygote behind
            worker.kill_now()
            raise
        return worker

    async def run(self, job: dict[str, Any], timeout_s: float) -> JobReply:
        """Send one job; the zygote passes its bytes on to its child unread (splice)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        body = json.dumps(job, separators=(",", ":")).encode()
        try:
            self.proc.stdin.write(encode({"op": "run", "size": len(body)}) + body)
            await self.proc.stdin.drain()
        except OSError as exc:  # dead before it could take the job: the job never ran
            raise WorkerLost(f"{type(exc).__name__}: {exc}".rstrip(": "), delivered=False) from exc
        try:
            return await asyncio.wait_for(self._read_reply(self.proc.stdout), timeout_s)
        except (OSError, asyncio.IncompleteReadError, ProtocolError, TimeoutError) as exc:
            raise WorkerLost(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc

    @staticmethod
    async def _read_reply(reader: asyncio.StreamReader) -> JobReply:
        header = await read_frame_async(reader)
        if header.get("op") != "done":
            return JobReply(header, b"", b"")
        result_bytes, stdout_bytes = header.get("result_bytes"), header.get("stdout_bytes")
        if not isinstance(result_bytes, int) or not 0 <= result_bytes <= RESULT_MAX:
            raise ProtocolError(f"bad result size {result_bytes!r}")
        if not isinstance(stdout_bytes, int) or not 0 <= stdout_bytes <= MAX_FRAME:
            raise ProtocolError(f"bad output size {stdout_bytes!r}")
        result = await reader.readexactly(result_bytes)
        stdout = await reader.readexactly(stdout_bytes)
        return JobReply(header, result, stdout)

    async def run_batch(self, batch: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """`batch`: `{"source", "jobs": [{"sample", "item"}, ...]}`; the answer holds one reply per job."""
        return await self._exchange({"op": "run_batch", **batch}, timeout_s)

    async def _exchange(self, message: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(encode(message))
            await self.proc.stdin.drain()
            return await asyncio.wait_for(read_frame_async(self.proc.stdout), timeout_s)
        except (OSError, asyncio.IncompleteReadError, ProtocolError, TimeoutError) as exc:
            raise WorkerLost(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc

    async def wait(self) -> int:
        return await self.proc.wait()

    async def stop(self, grace_s: float = 2.0) -> None:
        """Close the pipe (the zygote kills its child and exits), then SIGKILL if it lingers."""
        if self.alive and self.proc.stdin is not None:
            self.proc.stdin.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), grace_s)
        await self.kill()

    def kill_now(self) -> None:
        """SIGKILL without waiting (usable while being cancelled); asyncio reaps it later."""
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        transport = getattr(self.proc, "_transport", None)
        if transport is not None:
            transport.close()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    async def kill(self) -> None:
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        await self.proc.wait()
        # asyncio's Process has no public close; without it the transport is only closed by the
        # garbage collector, possibly after the loop is gone (an "Event loop is closed" warning).
        transport = getattr(self.proc, "_transport", None)
        if transport is not None:
            transport.close()
        shutil.rmtree(self.base_dir, ignore_errors=True)
