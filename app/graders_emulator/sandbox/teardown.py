"""A finished child's exit, kept off the answer's path: when it can no longer act, and its priority.

Its exit unmaps what it shares with the zygote (10-20 ms of kernel time with the default preload);
the answer needs none of that to have happened, only that nothing of the job can act any more.
"""

from __future__ import annotations

import contextlib
import os
import select
import time
from collections.abc import Iterable

PF_EXITING = 0x4  # include/linux/sched.h: set on a thread as it enters do_exit, before anything is torn down
EXITING_POLL_S = 0.001


def all_exiting(pid: int) -> bool:
    """True once every thread of process `pid` (not yet reaped) has entered its exit.

    From then on none can return to user code or finish another system call, so nothing can create a
    file any more; what exit still does (unmapping memory, closing descriptors) creates nothing.
    False while any thread runs, or when /proc does not tell.
    """
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except FileNotFoundError:
            continue  # that thread has exited (and was released) since the listing
        except OSError:
            return False
        if not int(fields[6]) & PF_EXITING:  # fields[0] is the state (field 3 of stat); flags is field 9
            return False
    return bool(tids)


def wait_exiting(pid: int, pidfd: int, timeout_s: float) -> bool:
    """Wait (up to `timeout_s`) until `pid` has exited or all its threads are exiting; False on timeout."""
    deadline = time.monotonic() + timeout_s
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    while True:
        if all_exiting(pid):
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        if poller.poll(min(remaining, EXITING_POLL_S) * 1000):
            return True  # the whole process has exited


def lower(pid: int) -> bool:
    """SCHED_IDLE for a killed child's main thread: its teardown then yields to anything else."""
    try:
        os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))
    except OSError:
        return False
    return True


def restore(pids: Iterable[int]) -> None:
    """Back to the normal policy (needs CAP_SYS_NICE): under load SCHED_IDLE could let teardowns pile up."""
    for pid in pids:
        with contextlib.suppress(OSError):
            os.sched_setscheduler(pid, os.SCHED_OTHER, os.sched_param(0))
