"""Seccomp: a deny-list compiled once with libseccomp (pyseccomp), loaded per job as raw BPF."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
from typing import Any

from graders_emulator.sandbox.syscalls import (
    PR_SET_NO_NEW_PRIVS,
    PR_SET_SECCOMP,
    SECCOMP_MODE_FILTER,
    check,
    libc,
    prctl,
)

CLONE_THREAD = 0x00010000
# clone flags that create namespaces: a thread never needs one (CLONE_NEWNS .. CLONE_NEWNET, NEWCGROUP, NEWTIME)
CLONE_NAMESPACE_FLAGS = (
    0x00020000,
    0x02000000,
    0x04000000,
    0x08000000,
    0x10000000,
    0x20000000,
    0x40000000,
    0x00000080,
)
PRIO_PROCESS = 0
IOPRIO_WHO_PROCESS = 1

# No new processes or programs, no namespace or mount games, no kernel attack surface a grader needs.
NO_PROCESSES = (
    "fork", "vfork", "execve", "execveat", "setsid", "setpgid", "ptrace", "process_vm_readv",
    "process_vm_writev", "pidfd_open", "pidfd_getfd", "pidfd_send_signal", "kcmp",
)  # fmt: skip
NO_NAMESPACES_OR_MOUNTS = (
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "fsopen", "fsmount", "fsconfig",
    "fspick", "move_mount", "open_tree", "mount_setattr", "open_by_handle_at", "name_to_handle_at",
    "quotactl", "quotactl_fd", "lookup_dcookie",
)  # fmt: skip
# Docker's default profile denies these (they need a capability or are kernel attack surface).
NO_KERNEL_SURFACE = (
    "bpf", "perf_event_open", "keyctl", "add_key", "request_key", "init_module", "finit_module",
    "delete_module", "create_module", "get_kernel_syms", "query_module", "kexec_load", "kexec_file_load",
    "reboot", "swapon", "swapoff", "acct", "userfaultfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "sethostname", "setdomainname", "syslog", "iopl", "ioperm", "settimeofday",
    "clock_settime", "clock_adjtime", "adjtimex", "stime", "personality", "mbind", "set_mempolicy",
    "set_mempolicy_home_node", "move_pages", "migrate_pages", "vm86", "vm86old", "nfsservctl", "_sysctl",
    "uselib", "ustat", "sysfs", "fanotify_init", "vhangup", "socket",
)  # fmt: skip
# Memory that RLIMIT_AS does not charge and state that outlives the job in the host's IPC namespace.
NO_IPC = (
    "shmget", "shmat", "shmctl", "shmdt", "semget", "semop", "semctl", "semtimedop", "msgget", "msgsnd",
    "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify",
    "mq_getsetattr", "memfd_create", "memfd_secret",
)  # fmt: skip
DENIED = NO_PROCESSES + NO_NAMESPACES_OR_MOUNTS + NO_KERNEL_SURFACE + NO_IPC
# Allowed on the calling process only (pid/who argument 0): a grader must not renice, reschedule or
# re-limit the server or the zygote, which run under the same uid in the unprivileged mode.
SELF_ONLY = ("prlimit64", "sched_setscheduler", "sched_setparam", "sched_setattr", "sched_setaffinity")


def build_bpf() -> bytes:
    """Compile the filter. Costs ~2 ms, so the zygote does it once; pyseccomp must be imported first."""
    import pyseccomp as sc  # imported here: its import runs `ldconfig`, which must happen before seccomp

    flt = sc.SyscallFilter(sc.ALLOW)
    eperm = sc.ERRNO(errno.EPERM)
    for name in DENIED:
        _deny(flt, eperm, name)
    for name in SELF_ONLY:
        _deny(flt, eperm, name, sc.Arg(0, sc.NE, 0))
    # setpriority(which, who, prio) and ioprio_set(which, who, prio): only "this process" (who 0).
    _deny(flt, eperm, "setpriority", sc.Arg(0, sc.NE, PRIO_PROCESS))
    _deny(flt, eperm, "setpriority", sc.Arg(1, sc.NE, 0))
    _deny(flt, eperm, "ioprio_set", sc.Arg(0, sc.NE, IOPRIO_WHO_PROCESS))
    _deny(flt, eperm, "ioprio_set", sc.Arg(1, sc.NE, 0))
    # clone is how threads start: allow it only with CLONE_THREAD and no namespace flag; clone3's flags
    # live in memory, so make it ENOSYS and glibc falls back to clone.
    flt.add_rule(eperm, "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))
    for flag in CLONE_NAMESPACE_FLAGS:
        flt.add_rule(eperm, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    flt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    read_fd, write_fd = os.pipe()
    try:
        with os.fdopen(write_fd, "wb", closefd=True) as sink:
            flt.export_bpf(sink)
        chunks = []
        while chunk := os.read(read_fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(read_fd)
    return b"".join(chunks)


def _deny(flt: Any, action: Any, name: str, *conditions: Any) -> None:
    with contextlib.suppress(OSError, RuntimeError, ValueError):  # a syscall this architecture lacks
        flt.add_rule(action, name, *conditions)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def load_bpf(program: bytes) -> None:
    """Install a prebuilt filter on this thread's process (0.3 ms); needs no_new_privs."""
    count, rest = divmod(len(program), 8)  # struct sock_filter is 8 bytes
    if rest or not count:
        raise ValueError("malformed seccomp program")
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(count, ctypes.cast(buffer, ctypes.c_void_p))
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    fn = libc()["prctl"]  # a fresh function object: argtypes differ from syscalls.prctl's
    fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    check(fn(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0), "seccomp")
