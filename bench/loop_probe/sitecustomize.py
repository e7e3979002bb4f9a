"""The soak's event-loop probe, loaded into the server under test by `bench_soak.py --loop-lag`.

Python imports `sitecustomize` at start-up from the first directory of sys.path that has one:
bench_soak.py puts this directory first on PYTHONPATH and names a file in
GRADERS_SOAK_LOOP_LAG_FILE. The server pops that variable at once, so that none of its children
(metric workers, sandbox) runs the probe; in every process without it this module does nothing.

The probe is one task on the server's event loop: it sleeps 10 ms, over and over, and writes how
late each wake-up came, and how the loop's thread spent that time: one line `time lag_s cpu_s
waited_s` per wake-up. cpu_s is the thread on a core (the loop's own work: callbacks); waited_s is
the thread ready to run with no core free (the kernel's run-queue wait: other processes have the
cores); the rest is the thread asleep although the loop had work due: waiting for the GIL, held by
another thread of the server.
"""

from __future__ import annotations

import os

_PATH = os.environ.pop("GRADERS_SOAK_LOOP_LAG_FILE", None)

if _PATH:
    import asyncio
    import itertools
    import threading
    import time
    from typing import Any

    import uvicorn.server

    _TICK = os.sysconf("SC_CLK_TCK")
    _serve = uvicorn.server.Server.serve
    _tasks: set[asyncio.Task[None]] = set()

    def _waited_s(schedstat: str) -> float:
        """Seconds this thread has spent ready to run but without a core (the kernel's schedstat)."""
        with open(schedstat) as source:
            return int(source.read().split()[1]) / 1e9

    def _thread_cpu() -> str:
        """CPU seconds of the live threads, by Python thread name less its digits: `name=s,...`."""
        used: dict[str, float] = {}
        for thread in threading.enumerate():
            try:
                with open(f"/proc/self/task/{thread.native_id}/stat") as source:
                    fields = source.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            name = thread.name.split(" (", 1)[0].rstrip("0123456789_-") or "?"
            ticks = int(fields[11]) + int(fields[12])  # utime, stime
            used[name] = used.get(name, 0.0) + ticks / _TICK
        return ",".join(f"{name.replace(' ', '_')}={seconds:.2f}" for name, seconds in sorted(used.items()))

    async def _probe(path: str, period_s: float = 0.01) -> None:
        schedstat = f"/proc/self/task/{threading.get_native_id()}/schedstat"
        with open(path, "w") as out:
            for count in itertools.count():
                started, cpu, waited = time.perf_counter(), time.thread_time(), _waited_s(schedstat)
                await asyncio.sleep(period_s)
                lag = time.perf_counter() - started - period_s
                cpu, waited = time.thread_time() - cpu, _waited_s(schedstat) - waited
                out.write(f"{time.time():.4f} {lag:.5f} {cpu:.5f} {waited:.5f}\n")
                if count % 100 == 0:  # about once a second: the bench reads it while the server runs
                    out.write(f"# {time.time():.4f} {_thread_cpu()}\n")
                    out.flush()

    async def _serve_probed(self: Any, sockets: Any = None) -> None:
        assert _PATH is not None
        task = asyncio.get_running_loop().create_task(_probe(_PATH))
        _tasks.add(task)
        await _serve(self, sockets)

    uvicorn.server.Server.serve = _serve_probed  # type: ignore[method-assign]
