"""Where the soak's time goes: event-loop lag (server and client) and CPU by process, per phase.

A normal request is slow under attack either because the server's event loop is busy or blocked
(its own work, or the GIL held by one of its threads) or because the server is not on a core at all
(the machine's two cores taken by the sandbox, the metric workers, the client or someone else).
The loop lag says how late the loop runs; the CPU split says who had the cores; the main thread's
run-queue wait (schedstat) says how long the loop's thread was ready to run but had no core.
"""

from __future__ import annotations

import asyncio
import os
import resource
import threading
import time
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
PROBE_DIR = Path(__file__).resolve().parent / "loop_probe"  # its sitecustomize.py, loaded by the server
LAG_FILE_ENV = "GRADERS_SOAK_LOOP_LAG_FILE"


def _stat_fields(path: str) -> list[str]:
    text = Path(path).read_text()
    return text[text.rindex(")") + 2 :].split()  # after "pid (comm) ": field 3 onwards


def _cpu_s(path: str, *, children: bool) -> float:
    fields = _stat_fields(path)  # utime stime cutime cstime are fields 14-17, here 11-14
    used = int(fields[11]) + int(fields[12])
    if children:
        used += int(fields[13]) + int(fields[14])
    return used / TICK


def _schedstat(pid: int, tid: int) -> tuple[float, float]:
    """(seconds on a core, seconds ready but waiting for one) of one thread."""
    run_ns, wait_ns, _ = Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()
    return int(run_ns) / 1e9, int(wait_ns) / 1e9


def _machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy (every core, every user)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / TICK


@dataclass(frozen=True)
class CpuSnapshot:
    at: float
    main_run: float  # the server's event-loop thread on a core
    main_wait: float  # ... ready to run, waiting for a core
    server: float  # every thread of the server process
    children: float  # every descendant, dead (reaped) or alive
    client: float  # this process (the load generator)
    machine: float

    @classmethod
    def take(cls, server_pid: int, descendants: set[int]) -> CpuSnapshot:
        main_run, main_wait = _schedstat(server_pid, server_pid)
        server_stat = _stat_fields(f"/proc/{server_pid}/stat")
        children = (int(server_stat[13]) + int(server_stat[14])) / TICK
        for pid in descendants:
            try:
                children += _cpu_s(f"/proc/{pid}/stat", children=True)
            except (OSError, ValueError):  # gone meanwhile: its parent's cutime has it (or will)
                continue
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return cls(
            at=time.monotonic(),
            main_run=main_run,
            main_wait=main_wait,
            server=_cpu_s(f"/proc/{server_pid}/stat", children=False),
            children=children,
            client=usage.ru_utime + usage.ru_stime,
            machine=_machine_busy_s(),
        )


def cpu_line(start: CpuSnapshot, end: CpuSnapshot) -> str:
    """Cores used over the interval, by whom; and the share of it the loop's thread waited for a core."""
    span = max(end.at - start.at, 1e-9)

    def cores(attr: str) -> float:
        return (getattr(end, attr) - getattr(start, attr)) / span

    ours = cores("server") + cores("children") + cores("client")
    return (
        f"cores: server {cores('server'):.2f} (loop thread {cores('main_run'):.2f}, "
        f"threads {cores('server') - cores('main_run'):.2f}), server children {cores('children'):.2f}, "
        f"client {cores('client'):.2f}, others {max(0.0, cores('machine') - ours):.2f}; "
        f"loop thread waited for a core {cores('main_wait') * 100:.0f}% of the time"
    )


Sample = tuple[float, float, float, float]  # wall time, lag, loop thread on a core, waiting for one


def lag_summary(samples: list[Sample]) -> str:
    """p50/p99/max lag of a 10 ms sleep; for wake-ups over 50 ms late, where the loop's time went."""
    if not samples:
        return "no samples"
    lags = sorted(sample[1] for sample in samples)
    late = [sample for sample in samples if sample[1] > 0.05]
    spent = sum(0.01 + sample[1] for sample in late)
    cpu = sum(sample[2] for sample in late)
    waited = sum(sample[3] for sample in late)
    split = (
        f"loop thread on a core {cpu / spent:.0%}, waiting for a core {waited / spent:.0%}, "
        f"asleep (GIL, locks) {max(0.0, 1 - (cpu + waited) / spent):.0%}"
        if spent
        else ""
    )
    return (
        f"p50 {lags[len(lags) // 2] * 1000:.1f}  p99 {lags[int(len(lags) * 0.99)] * 1000:.1f}  "
        f"max {lags[-1] * 1000:.0f} ms; {len(late)} wake-ups over 50 ms late ({spent:.1f} s: {split})"
    )


def read_lag(path: Path, start: float, end: float) -> list[Sample]:
    """The server probe's samples between two wall-clock times (loop_probe/sitecustomize.py)."""
    samples = []
    try:
        text = path.read_text()
    except OSError:
        return []
    for line in text.splitlines():
        parts = line.split()
        if parts[:1] == ["#"]:
            continue
        if len(parts) == 4:
            at, lag, cpu, waited = map(float, parts)
            if start <= at <= end:
                samples.append((at, lag, cpu, waited))
    return samples


async def client_lag(deadline: float, samples: list[Sample]) -> None:
    """The same probe on the client's loop: a late client inflates every latency it measures."""
    schedstat = f"/proc/self/task/{threading.get_native_id()}/schedstat"

    def waited() -> float:
        return int(Path(schedstat).read_text().split()[1]) / 1e9

    while time.perf_counter() < deadline:
        started, cpu, wait = time.perf_counter(), time.thread_time(), waited()
        await asyncio.sleep(0.01)
        lag = time.perf_counter() - started - 0.01
        samples.append((time.time(), lag, time.thread_time() - cpu, waited() - wait))


def read_thread_cpu(path: Path, start: float, end: float) -> str:
    """Cores used by the server's threads between two times, by thread name (the probe's `#` lines)."""
    marks: list[tuple[float, dict[str, float]]] = []
    try:
        text = path.read_text()
    except OSError:
        return "no samples"
    for line in text.splitlines():
        if line.startswith("# "):
            _, at, *rest = line.split(" ", 2)
            used = dict(item.split("=") for item in (rest[0].split(",") if rest and rest[0] else []))
            marks.append((float(at), {name: float(value) for name, value in used.items()}))
    first = next((m for m in marks if m[0] >= start), None)
    last = next((m for m in reversed(marks) if m[0] <= end), None)
    if first is None or last is None or last[0] <= first[0]:
        return "no samples"
    span = last[0] - first[0]
    cores = {name: (used - first[1].get(name, 0.0)) / span for name, used in last[1].items()}
    shown = [
        f"{name} {value:.2f}"
        for name, value in sorted(cores.items(), key=lambda kv: -kv[1])
        if value >= 0.005
    ]
    return ", ".join(shown) + " (live threads; a thread that ended meanwhile is missing)"
