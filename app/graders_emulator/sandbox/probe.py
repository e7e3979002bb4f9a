"""Start-up probe in the zygote: take the strongest protections this machine allows, say which."""

from __future__ import annotations

import os
import site
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from graders_emulator.sandbox import landlock, seccomp
from graders_emulator.sandbox.limits import RLIMITS_USED
from graders_emulator.sandbox.syscalls import (
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    MS_PRIVATE,
    MS_REC,
    mount,
    umount,
    unshare,
)

# System places a grader may read (shared libraries, time zones, NLTK data); /etc, /proc, /home are not.
SYSTEM_READ_ONLY = (
    "/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/local/lib", "/usr/share/zoneinfo",
    "/usr/share/nltk_data", "/usr/local/share/nltk_data", "/usr/lib/nltk_data", "/usr/local/lib/nltk_data",
)  # fmt: skip
LANDLOCK_SCOPES_SIGNALS = 6  # the ABI that added LANDLOCK_SCOPE_SIGNAL
DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")


@dataclass
class Protections:
    """What the zygote enforces on each child; the pool reports it verbatim."""

    mode: str = "unprivileged"
    netns: bool = False
    mountns_tmpfs: bool = False
    pidns: bool = False
    landlock: int | bool = False  # the ABI in use
    seccomp: bool = False
    rlimits: list[str] = field(default_factory=lambda: list(RLIMITS_USED))
    disk_watchdog: bool = False
    notes: list[str] = field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Prebuilt:
    """What each child applies as is."""

    landlock_fd: int | None = None
    seccomp_bpf: bytes | None = None


def probe(force_unprivileged: bool, base_dir: str, job_root: str) -> tuple[Protections, Prebuilt]:
    """Enter namespaces (unless forced off), build Landlock and seccomp; every failure becomes a note."""
    found = Protections()
    if force_unprivileged:
        found.notes.append("namespaces skipped: force_unprivileged")
    else:
        found.netns = _try(found, "netns", lambda: unshare(CLONE_NEWNET))
        found.mountns_tmpfs = _try(found, "mount namespace + tmpfs", lambda: _private_mounts(job_root))
    abi = landlock.abi_version()
    if not force_unprivileged and abi < LANDLOCK_SCOPES_SIGNALS:
        found.pidns = _try(found, "pid namespace", _pid_namespace_works)
    elif not force_unprivileged:
        # A per-job pid namespace needs a second fork of the zygote per job (the helper that takes the
        # namespace), which doubled the time to ready the next child; Landlock's signal scoping and
        # seccomp's fork deny already cover what it adds, so it is only the fallback for older kernels.
        found.notes.append(f"pid namespace not used: Landlock ABI {abi} scopes signals")
    found.mode = "root-namespaces" if (found.netns or found.mountns_tmpfs or found.pidns) else "unprivileged"
    found.disk_watchdog = not found.mountns_tmpfs
    built = Prebuilt()
    if abi:
        fd = _try_value(found, "landlock", lambda: landlock.build_ruleset(abi, read_only_paths(), [base_dir]))
        if fd is not None:
            built.landlock_fd, found.landlock = fd, abi
    else:
        found.notes.append("landlock: not available in this kernel")
    bpf = _try_value(found, "seccomp", seccomp.build_bpf)
    if bpf is not None:
        built.seccomp_bpf, found.seccomp = bpf, True
    return found, built


def _try(found: Protections, what: str, action: Any) -> bool:
    return _try_value(found, what, lambda: action() or True) is not None


def _try_value(found: Protections, what: str, action: Any) -> Any:
    try:
        return action()
    except Exception as exc:
        found.notes.append(f"{what}: {exc}")
        return None


def _private_mounts(job_root: str) -> None:
    # Each child takes its own mount namespace and a tmpfs on job_root; private propagation keeps those
    # mounts out of the zygote's view. Mount once here to prove the machine allows it.
    unshare(CLONE_NEWNS)
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", job_root, "tmpfs", 0, "size=1m")
    umount(job_root)


def _pid_namespace_works() -> None:
    helper = os.fork()
    if helper == 0:
        status = 1
        try:
            unshare(CLONE_NEWPID)
            child = os.fork()
            if child == 0:
                os._exit(0 if os.getpid() == 1 else 1)
            status = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
        finally:
            os._exit(status)
    if os.waitstatus_to_exitcode(os.waitpid(helper, 0)[1]) != 0:
        raise OSError("a child in a new pid namespace did not run as pid 1")


def read_only_paths() -> list[str]:
    """The interpreter, its stdlib and site-packages, system libraries and data; not the project tree."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *site.getsitepackages()}
    paths.update(SYSTEM_READ_ONLY)
    paths.update(DEVICES)
    nltk = sys.modules.get("nltk")
    if nltk is not None:
        paths.update(str(p) for p in getattr(nltk.data, "path", []) if isinstance(p, str))
    return sorted(p for p in paths if os.path.exists(p))
