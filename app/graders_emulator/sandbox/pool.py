"""The async side: a fixed set of zygote workers, a FIFO of idle ones, and restarts when one dies."""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from collections.abc import Sequence
from typing import Any

from graders_emulator.grading.context import PythonJob, PythonOutcome
from graders_emulator.sandbox import leftovers, outcome
from graders_emulator.sandbox.limits import SandboxLimits
from graders_emulator.sandbox.worker import JobReply, Worker, WorkerLost

logger = logging.getLogger("graders_emulator.sandbox")

KNOWN_IMAGE_TAGS = frozenset({"2025-05-08"})
REPLY_GRACE_S = 10.0  # the zygote enforces the wall clock; this only catches a hung zygote
FAILURES_BEFORE_UNAVAILABLE = 3
MAX_BATCH = 256  # samples per frame to one zygote: bounds a frame's size and a slow sample's queue
MAX_BACKOFF_S = 5.0
QUICK_DEATH_S = 10.0  # a zygote that dies sooner than this after start counts toward the respawn backoff
RETRIES_AFTER_WORKER_DEATH = 1
SLOTS_PER_POOL = 32  # sandbox uids: each pool gets its own range of slot numbers (see privileges.py)


class _Unavailable(Exception):
    """No worker can be had: every slot keeps failing to start, or the pool is closed."""


class SandboxPool:
    """`SandboxRunner` backed by `workers` zygote processes; jobs wait FIFO for an idle one."""

    def __init__(
        self,
        workers: int,
        limits: SandboxLimits,
        *,
        force_unprivileged: bool = False,
        preload: Sequence[str] | None = None,
    ) -> None:
        self.size = max(1, workers)
        self.limits = limits
        self.force_unprivileged = force_unprivileged
        self.token = secrets.token_hex(8)  # appears in every sandbox process's command line
        self._config: dict[str, Any] = {
            "limits": limits.to_wire(),
            "force_unprivileged": force_unprivileged,
            "preload": list(preload) if preload is not None else None,
        }
        self._idle: asyncio.Queue[Worker] = asyncio.Queue()
        self._live: set[Worker] = set()
        self._slots: list[asyncio.Task[None]] = []
        self._failing: set[int] = set()
        self._unavailable = asyncio.Event()
        self._last_error = ""
        self._ready_info: dict[str, Any] | None = None
        self._image_tags: set[str] = set()
        self._closed = False
        self._first_attempt = asyncio.Event()

    async def start(self) -> None:
        """Start the supervisors in the background and return at once; jobs wait for the first warm one."""
        if self._slots or self._closed:
            return
        leftovers.sweep_stale()
        self._slots = [
            asyncio.create_task(self._keep_slot(i), name=f"sandbox-slot-{i}") for i in range(self.size)
        ]

    async def wait_started(self) -> None:
        """Return once the first worker is warm (or failed to start): protections() is then known."""
        await self.start()
        await self._first_attempt.wait()

    async def close(self) -> None:
        """Stop every zygote (their children die with them) and remove their directories."""
        self._closed = True
        self._unavailable.set()
        await asyncio.gather(*(worker.stop() for worker in list(self._live)), return_exceptions=True)
        for task in self._slots:
            task.cancel()
        await asyncio.gather(*self._slots, return_exceptions=True)
        self._live.clear()

    def protections(self) -> dict[str, object]:
        """The protections the workers enforce, as probed by the first one that started."""
        info = self._ready_info or {}
        found = dict(info.get("protections") or {"mode": "starting"})
        found.update(
            workers=self.size,
            warm=sum(1 for worker in self._live if worker.alive),
            forced_unprivileged=self.force_unprivileged,
            preloaded=info.get("imports", {}).get("loaded", []),
            preload_s=info.get("imports", {}).get("import_s"),
            zygote_huge_pages_mb=info.get("huge_pages_mb"),
            image_tags_seen=sorted(self._image_tags),
        )
        return found

    # -----------------------------------------------------------------------------------------
    # Running a job

    async def run(self, job: PythonJob) -> PythonOutcome:
        started = time.perf_counter()
        self._note_image_tag(job.image_tag)
        if not self._slots:
            await self.start()
        message = {"source": job.source, "sample": dict(job.sample), "item": job.item}
        for attempt in range(1 + RETRIES_AFTER_WORKER_DEATH):
            try:
                worker = await self._acquire()
            except _Unavailable as exc:
                return PythonOutcome(
                    server_error_type="worker_unavailable",
                    server_error_details=str(exc),
                    elapsed_s=time.perf_counter() - started,
                )
            # Shielded: a cancelled request must not leave a worker mid-job with nobody reading its reply.
            reply = await asyncio.shield(asyncio.create_task(self._run_on(worker, message)))
            if not reply.pop("retry", False) or attempt == RETRIES_AFTER_WORKER_DEATH:
                break
        return _to_outcome(reply, time.perf_counter() - started)

    async def run_batch(self, jobs: Sequence[PythonJob]) -> list[PythonOutcome]:
        """Grade many samples of one grader (one source and image_tag): chunks spread over the workers."""
        if not jobs:
            return []
        first = jobs[0]
        if any(job.source != first.source or job.image_tag != first.image_tag for job in jobs):
            raise ValueError("a batch holds samples of one python grader only (same source and image_tag)")
        self._note_image_tag(first.image_tag)
        if not self._slots:
            await self.start()
        size = min(MAX_BATCH, max(1, math.ceil(len(jobs) / self.size)))
        chunks = [jobs[start : start + size] for start in range(0, len(jobs), size)]
        answers = await asyncio.gather(*(self._run_chunk(first.source, chunk) for chunk in chunks))
        return [outcome for answer in answers for outcome in answer]

    async def _run_chunk(self, source: str, jobs: Sequence[PythonJob]) -> list[PythonOutcome]:
        started = time.perf_counter()
        try:
            worker = await self._acquire()
        except _Unavailable as exc:
            failed = PythonOutcome(
                server_error_type="worker_unavailable",
                server_error_details=str(exc),
                elapsed_s=time.perf_counter() - started,
            )
            return [failed] * len(jobs)
        batch = {"source": source, "jobs": [{"sample": dict(job.sample), "item": job.item} for job in jobs]}
        reply = await asyncio.shield(asyncio.create_task(self._run_batch_on(worker, batch)))
        replies = reply.get("results")
        if not isinstance(replies, list) or len(replies) != len(jobs):
            lost = {"server_error_type": "worker_crashed", "server_error_details": str(reply)[:500]}
            replies = [reply if reply.get("server_error_type") else lost] * len(jobs)
        return [_to_outcome(one, float(one.get("elapsed_s") or 0.0)) for one in replies]

    async def _run_batch_on(self, worker: Worker, batch: dict[str, Any]) -> dict[str, Any]:
        # The zygote keeps every sample's wall clock; this only catches a hung zygote.
        timeout = self.limits.timeout_s * len(batch["jobs"]) + REPLY_GRACE_S
        try:
            return await worker.run_batch(batch, timeout)
        except WorkerLost as exc:
            logger.error("sandbox worker lost during a batch: %s", exc)
            await worker.kill()
            return {"server_error_type": "worker_crashed", "server_error_details": str(exc)}
        finally:
            if worker.alive:
                self._idle.put_nowait(worker)

    async def _run_on(self, worker: Worker, message: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._reply(await worker.run(message, self.limits.timeout_s + REPLY_GRACE_S))
        except WorkerLost as exc:
            logger.error("sandbox worker lost during a job: %s", exc)
            await worker.kill()  # its slot task notices and starts a fresh one
            # A zygote found dead before the job reached it (killed while idle) did not run it: the job
            # goes to another worker. One that dies during a job is that job's server error.
            return {
                "server_error_type": "worker_crashed",
                "server_error_details": str(exc),
                "retry": not exc.delivered,
            }
        finally:
            if worker.alive:
                self._idle.put_nowait(worker)

    def _reply(self, answer: JobReply) -> dict[str, Any]:
        """The zygote's header and the child's raw bytes, judged here in the server (never in the zygote)."""
        header = answer.header
        if header.get("op") != "done":
            return {
                "server_error_type": str(header.get("server_error_type") or "sandbox_error"),
                "server_error_details": str(header.get("details") or ""),
            }
        end = outcome.ChildEnd(
            answer.result,
            int(header.get("wait_status") or 0),
            float(header.get("cpu_s") or 0.0),
            bool(header.get("timed_out")),
            bool(header.get("disk_exceeded")),
        )
        reply = outcome.reply_for(end, self.limits)
        reply["stdout"] = answer.stdout.decode("utf-8", "replace")
        return reply

    async def _acquire(self) -> Worker:
        while True:
            if self._closed:
                raise _Unavailable("the sandbox pool is closed")
            if not self._idle.empty():  # the usual case: no futures to build and wait on
                worker = self._idle.get_nowait()
                if worker.alive:
                    return worker
                continue
            getter = asyncio.ensure_future(self._idle.get())
            failed = asyncio.ensure_future(self._unavailable.wait())
            await asyncio.wait({getter, failed}, return_when=asyncio.FIRST_COMPLETED)
            failed.cancel()
            if not getter.done():
                getter.cancel()
                raise _Unavailable(f"no sandbox worker could be started: {self._last_error}")
            worker = getter.result()
            if worker.alive:
                return worker

    def _note_image_tag(self, tag: str | None) -> None:
        if tag is not None and tag not in self._image_tags:
            self._image_tags.add(tag)
            if tag not in KNOWN_IMAGE_TAGS:
                logger.info("python grader image_tag %r is unknown; running it on the local image", tag)

    # -----------------------------------------------------------------------------------------
    # Keeping slots filled

    async def _keep_slot(self, index: int) -> None:
        if index > 0:  # on a small machine, N zygotes importing at once all get warm N times later
            await self._first_attempt.wait()
        failures = quick_deaths = 0
        config = {**self._config, "slot": self._slot_number(index)}
        while not self._closed:
            try:
                worker = await Worker.spawn(config, self.token)
            except (OSError, WorkerLost) as exc:
                failures += 1
                self._slot_failed(index, failures, exc)
                await asyncio.sleep(min(MAX_BACKOFF_S, 0.25 * 2**failures))
                continue
            failures = 0
            self._slot_ready(index, worker)
            born = time.monotonic()
            try:
                await worker.wait()
            finally:
                self._live.discard(worker)
                await worker.kill()
            if self._closed:
                break
            # Respawn at once after a long life; back off (never give up) when zygotes keep dying young.
            quick_deaths = quick_deaths + 1 if time.monotonic() - born < QUICK_DEATH_S else 0
            delay = min(MAX_BACKOFF_S, 0.25 * 2 ** (quick_deaths - 1)) if quick_deaths > 1 else 0.0
            logger.warning(
                "sandbox worker %d exited (status %s); starting another in %.2f s",
                index,
                worker.proc.returncode,
                delay,
            )
            if delay:
                await asyncio.sleep(delay)

    def _slot_number(self, index: int) -> int:
        """A number unique to this pool's slot: each maps to its own sandbox uid in root mode."""
        return (int(self.token[:4], 16) * SLOTS_PER_POOL) + index % SLOTS_PER_POOL

    def _slot_failed(self, index: int, failures: int, exc: Exception) -> None:
        self._first_attempt.set()
        self._last_error = f"{type(exc).__name__}: {exc}"
        logger.error("sandbox worker %d failed to start (attempt %d): %s", index, failures, self._last_error)
        if failures >= FAILURES_BEFORE_UNAVAILABLE:
            self._failing.add(index)
            if len(self._failing) == self.size:
                self._unavailable.set()

    def _slot_ready(self, index: int, worker: Worker) -> None:
        self._first_attempt.set()
        self._failing.discard(index)
        if not self._closed:
            self._unavailable.clear()
        self._live.add(worker)
        self._idle.put_nowait(worker)
        if self._ready_info is None:
            self._ready_info = worker.ready
            _log_protections(self.protections())


def _log_protections(found: dict[str, object]) -> None:
    summary = ", ".join(f"{key}={value}" for key, value in found.items() if key not in ("notes", "preloaded"))
    strong = found.get("landlock") and found.get("seccomp")
    logger.log(logging.INFO if strong else logging.WARNING, "python sandbox protections: %s", summary)
    for note in found.get("notes") or []:  # type: ignore[attr-defined]
        logger.info("python sandbox probe: %s", note)


def _to_outcome(reply: dict[str, Any], elapsed_s: float) -> PythonOutcome:
    stdout = str(reply.get("stdout") or "")
    if reply.get("server_error_type"):
        details = reply.get("server_error_details")
        return PythonOutcome(
            server_error_type=str(reply["server_error_type"]),
            server_error_details=str(details) if details is not None else None,
            stdout=stdout,
            elapsed_s=elapsed_s,
        )
    if "value" in reply:
        return PythonOutcome(value=float(reply["value"]), stdout=stdout, elapsed_s=elapsed_s)
    return PythonOutcome(runtime_error=str(reply.get("runtime_error")), stdout=stdout, elapsed_s=elapsed_s)
