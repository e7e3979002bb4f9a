"""Thin ctypes wrappers for the few Linux calls the sandbox needs and the stdlib lacks."""

from __future__ import annotations

import ctypes
import os
from functools import cache

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_REC = 0x4000
MS_PRIVATE = 1 << 18


@cache
def libc() -> ctypes.CDLL:
    """The C library, loaded by soname so no `ldconfig` subprocess is needed (unlike find_library)."""
    return ctypes.CDLL("libc.so.6", use_errno=True)


def check(result: int, what: str) -> int:
    """Raise OSError with errno when a libc call returned -1."""
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    fn = libc()["prctl"]
    fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return check(fn(option, arg2, arg3, arg4, arg5), "prctl")


def unshare(flags: int) -> None:
    check(libc().unshare(ctypes.c_int(flags)), "unshare")


def mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    fn = libc()["mount"]
    fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    check(
        fn(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            flags,
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def umount(target: str) -> None:
    check(libc().umount2(target.encode(), ctypes.c_int(0)), f"umount {target}")


def syscall(number: int, *args: object) -> int:
    """A raw syscall with integer/pointer arguments; -1 with errno on failure."""
    fn = libc()["syscall"]
    fn.restype = ctypes.c_long
    return int(fn(ctypes.c_long(number), *args))
