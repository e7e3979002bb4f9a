"""Seccomp: a deny-list compiled once with libseccomp (pyseccomp), loaded per job as raw BPF."""

from __future__ import annotations

import ctypes
import errno
import os

from graders_emulator.sandbox.syscalls import (
    PR_SET_NO_NEW_PRIVS,
    PR_SET_SECCOMP,
    SECCOMP_MODE_FILTER,
    check,
    libc,
    prctl,
)

CLONE_THREAD = 0x00010000

# No new processes or programs, no namespace or mount games, no kernel attack surface a grader needs.
DENIED = (
    "fork", "vfork", "execve", "execveat", "setsid", "setpgid", "ptrace", "process_vm_readv",
    "process_vm_writev", "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "bpf",
    "perf_event_open", "keyctl", "add_key", "request_key", "init_module", "finit_module",
    "delete_module", "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff", "acct",
    "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "open_by_handle_at",
    "name_to_handle_at", "fsopen", "fsmount", "fsconfig", "move_mount", "open_tree", "mount_setattr",
    "socket",
)  # fmt: skip


def build_bpf() -> bytes:
    """Compile the filter. Costs ~2 ms, so the zygote does it once; pyseccomp must be imported first."""
    import pyseccomp as sc  # imported here: its import runs `ldconfig`, which must happen before seccomp

    flt = sc.SyscallFilter(sc.ALLOW)
    for name in DENIED:
        try:
            flt.add_rule(sc.ERRNO(errno.EPERM), name)
        except OSError:
            continue  # a syscall this architecture lacks (e.g. fork on arm64)
    # clone is how threads start: allow it only with CLONE_THREAD; clone3's flags live in memory, so make
    # it ENOSYS and glibc falls back to clone.
    flt.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))
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
