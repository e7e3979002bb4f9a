"""Per-job limits: the settings' values, their rlimits, and how a breach is worded."""

from __future__ import annotations

import math
import os
import resource
from dataclasses import asdict, dataclass
from typing import Any

MB = 1024 * 1024
OPEN_FILES = 64
JOB_TASKS = 64  # processes + threads one job may run (RLIMIT_NPROC; forks are denied by seccomp anyway)
RLIMITS_USED = ("CPU", "AS", "NOFILE", "FSIZE", "CORE", "NPROC")


@dataclass(frozen=True)
class SandboxLimits:
    """What one `grade()` call may use. `memory_mb` is on top of what the preloaded packages map."""

    timeout_s: float = 30.0
    cpu_s: float | None = None  # None: the same as timeout_s
    memory_mb: int = 2048
    disk_mb: int = 1024
    output_kb: int = 1024

    @property
    def cpu_seconds(self) -> int:
        """RLIMIT_CPU takes whole seconds; round up so the wall clock usually speaks first."""
        return max(1, math.ceil(self.cpu_s if self.cpu_s is not None else self.timeout_s))

    @property
    def output_bytes(self) -> int:
        return self.output_kb * 1024

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> SandboxLimits:
        return cls(**data)


def seconds(value: float) -> str:
    """`30`, `2.5`: how limits are named in messages."""
    return f"{value:g}"


def wall_clock_message(limits: SandboxLimits) -> str:
    return f"wall-clock limit of {seconds(limits.timeout_s)} s exceeded"


def cpu_message(limits: SandboxLimits) -> str:
    return f"CPU time limit of {limits.cpu_seconds} s exceeded"


def memory_message(limits: SandboxLimits) -> str:
    return f"memory limit of {limits.memory_mb} MB exceeded (MemoryError)"


def disk_message(limits: SandboxLimits) -> str:
    return f"disk limit of {limits.disk_mb} MB exceeded"


def output_message(limits: SandboxLimits) -> str:
    return f"output limit of {limits.output_kb} KB exceeded (stdout+stderr)"


def mapped_bytes() -> int:
    """This process's current address-space size (VmSize)."""
    with open("/proc/self/statm", "rb") as statm:
        pages = int(statm.read().split()[0])
    return pages * os.sysconf("SC_PAGE_SIZE")


def tasks_owned_by(uid: int) -> int:
    """Threads of every process of `uid` (what RLIMIT_NPROC counts), from /proc."""
    total = 0
    with os.scandir("/proc") as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                if entry.stat().st_uid == uid:
                    total += len(os.listdir(f"/proc/{entry.name}/task"))
            except OSError:
                continue  # gone meanwhile
    return total


def task_limit(dedicated_uid: bool) -> int:
    """RLIMIT_NPROC for a job: its own budget under a dedicated uid, else on top of what the uid runs now.

    Under a shared uid (the unprivileged mode) the count includes the server, so the bound is per job
    only approximately: threads the server starts later eat into the job's budget, never the reverse.
    """
    return JOB_TASKS if dedicated_uid else tasks_owned_by(os.getuid()) + JOB_TASKS


def apply_rlimits(limits: SandboxLimits, tasks: int | None = None) -> None:
    """Set the child's rlimits; soft = hard so a pid-namespace init (which ignores SIGXCPU) is still killed."""
    cpu = limits.cpu_seconds
    address_space = mapped_bytes() + limits.memory_mb * MB
    disk = limits.disk_mb * MB
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))
    resource.setrlimit(resource.RLIMIT_FSIZE, (disk, disk))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if tasks is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (tasks, tasks))
