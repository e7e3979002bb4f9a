"""Start-up probe in the zygote: take the strongest protections this machine allows, say which."""

from __future__ import annotations

import os
import site
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from graders_emulator.sandbox import landlock, privileges, seccomp
from graders_emulator.sandbox.limits import JOB_TASKS, RLIMITS_USED
from graders_emulator.sandbox.privileges import Identity
from graders_emulator.sandbox.syscalls import (
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUTS,
    MS_PRIVATE,
    MS_REC,
    capget,
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
    ipcns: bool = False  # each child has its own IPC namespace (SysV/mqueue are denied by seccomp anyway)
    utsns: bool = False
    uid: int | None = None  # the dedicated uid children run as; None: the server's own
    capabilities: str = "inherited"  # "none": bounding/ambient/inheritable/permitted/effective all empty
    no_new_privs: bool = False
    tasks_per_job: int = JOB_TASKS
    task_limit: str = "RLIMIT_NPROC over the shared uid"
    pids_cgroup: bool = False
    job_dir: str = "emptied between jobs"  # or "per-child tmpfs"
    seccomp_denied: list[str] = field(default_factory=list)
    seccomp_self_only: list[str] = field(default_factory=list)
    result_parsing: str = "bounded in the server: 64 KiB, depth 32"
    job_transfer: str = "splice: the zygote never holds a job's or a reply's content"
    notes: list[str] = field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Prebuilt:
    """What each child applies as is."""

    landlock_fd: int | None = None
    seccomp_bpf: bytes | None = None
    unshare_flags: int = 0
    identity: Identity | None = None
    last_cap: int = 63


def probe(
    force_unprivileged: bool, base_dir: str, job_root: str, slot: int = 0
) -> tuple[Protections, Prebuilt]:
    """Enter namespaces (unless forced off), build Landlock and seccomp; every failure becomes a note."""
    found = Protections()
    built = Prebuilt(last_cap=privileges.last_capability())
    if force_unprivileged:
        found.notes.append("namespaces skipped: force_unprivileged")
    else:
        found.netns = _try(found, "netns", lambda: unshare(CLONE_NEWNET))
        found.mountns_tmpfs = _try(found, "mount namespace + tmpfs", lambda: _private_mounts(job_root))
    if not force_unprivileged and os.geteuid() == 0:
        _probe_identity(found, built, base_dir, slot)
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
    found.job_dir = "per-child tmpfs" if found.mountns_tmpfs else "emptied between jobs"
    if abi:
        # Landlock skips a rule on a mount point for what is mounted on it, so with a per-child tmpfs
        # the rule is on the base dir above it: root-owned 0711, the sandbox uid cannot write there.
        writable = base_dir if found.mountns_tmpfs else job_root
        fd = _try_value(found, "landlock", lambda: landlock.build_ruleset(abi, read_only_paths(), [writable]))
        if fd is not None:
            built.landlock_fd, found.landlock = fd, abi
    else:
        found.notes.append("landlock: not available in this kernel")
    bpf = _try_value(found, "seccomp", seccomp.build_bpf)
    if bpf is not None:
        built.seccomp_bpf, found.seccomp = bpf, True
        found.seccomp_denied = sorted(seccomp.DENIED)
        found.seccomp_self_only = sorted((*seccomp.SELF_ONLY, "setpriority", "ioprio_set"))
    found.no_new_privs = bool(
        built.landlock_fd is not None or built.seccomp_bpf is not None or built.identity
    )
    if found.uid is None:
        held = any(capget())
        found.capabilities = "inherited" if held else "none"
        if os.geteuid() == 0:
            found.notes.append("children run as root: the privilege drop is not available (see notes above)")
    return found, built


def _probe_identity(found: Protections, built: Prebuilt, base_dir: str, slot: int) -> None:
    """Root: children take their own IPC/UTS (and mount) namespaces and drop to a dedicated uid.

    The interpreter may live where that uid cannot go (e.g. under /root, mode 0700): the zygote's own
    mount namespace then shows it there through a 0755 tmpfs. A forked trial proves it all works.
    """
    identity = privileges.dedicated_identity(slot)
    flags = CLONE_NEWIPC | CLONE_NEWUTS | (CLONE_NEWNS if found.mountns_tmpfs else 0)
    paths = read_only_paths()
    try:
        if privileges.hidden_ancestors(paths):
            if not found.mountns_tmpfs:
                _private_mounts_only()
            found.notes.append(
                f"made reachable for the sandbox uid: {privileges.expose_for_others(paths, base_dir)}"
            )
        os.chmod(base_dir, 0o711)  # the child reaches its job dir by path; it cannot list or write here
        _trial_child(flags, identity, built.last_cap, paths)
    except Exception as exc:
        found.notes.append(f"privilege drop: {exc}")
        with_ipc = _try(found, "ipc namespace", lambda: _trial_child(flags, None, built.last_cap, []))
        if with_ipc:
            built.unshare_flags = flags
            found.ipcns = found.utsns = True
        return
    built.unshare_flags, built.identity = flags, identity
    found.ipcns = found.utsns = True
    found.uid = identity.uid
    found.capabilities = "none"
    found.task_limit = "RLIMIT_NPROC under the dedicated uid"


def _trial_child(flags: int, identity: Identity | None, last_cap: int, paths: list[str]) -> None:
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            unshare(flags)
            if identity is not None:
                privileges.drop_privileges(identity, last_cap)
            for path in paths:
                if os.path.isdir(path):
                    os.listdir(path)
                else:
                    os.stat(path)
            code = 0
        finally:
            os._exit(code)
    if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0:
        raise OSError(
            "a trial child could not take its namespaces, drop to the sandbox uid and read the interpreter"
        )


def _private_mounts_only() -> None:
    unshare(CLONE_NEWNS)
    mount("none", "/", None, MS_REC | MS_PRIVATE)


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
