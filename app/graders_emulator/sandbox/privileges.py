"""Root mode: each child drops to a dedicated uid/gid with no capabilities, and can still read the interpreter."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass

from graders_emulator.sandbox.syscalls import (
    MS_BIND,
    MS_MOVE,
    MS_NODEV,
    MS_NOSUID,
    MS_REC,
    PR_CAP_AMBIENT,
    PR_CAP_AMBIENT_CLEAR_ALL,
    PR_CAPBSET_DROP,
    PR_SET_NO_NEW_PRIVS,
    capset_empty,
    mount,
    prctl,
)

# Worker slot N runs its children as uid/gid SANDBOX_ID_BASE + N: ids no account uses (no passwd entry,
# above the usual subuid ranges), so the children own no file on the host and RLIMIT_NPROC counts only
# one job's tasks.
SANDBOX_ID_BASE = 2_147_000_000
EXPOSE_ROUNDS = 4  # nested unreadable directories are exposed one level per round


@dataclass(frozen=True)
class Identity:
    """Who a child becomes: a uid/gid pair with no supplementary groups."""

    uid: int
    gid: int


def dedicated_identity(slot: int) -> Identity:
    return Identity(SANDBOX_ID_BASE + slot, SANDBOX_ID_BASE + slot)


def last_capability() -> int:
    """The highest capability number this kernel knows (read once, in the zygote)."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as handle:
            return int(handle.read())
    except (OSError, ValueError):
        return 63


def drop_privileges(identity: Identity, last_cap: int) -> None:
    """Empty bounding set, then the uid/gid switch (clears permitted/effective), then ambient and inheritable."""
    for cap in range(last_cap + 1):
        with contextlib.suppress(OSError):  # EINVAL for a number this kernel does not know
            prctl(PR_CAPBSET_DROP, cap)
    os.setgroups([])
    os.setresgid(identity.gid, identity.gid, identity.gid)
    os.setresuid(identity.uid, identity.uid, identity.uid)
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    capset_empty()
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    if os.getresuid() != (identity.uid,) * 3 or os.getresgid() != (identity.gid,) * 3:
        raise OSError("the uid/gid switch did not take effect")


# ---------------------------------------------------------------------------------------------
# Making the interpreter reachable for an unprivileged uid (inside the zygote's own mount namespace)


def hidden_ancestors(paths: Iterable[str]) -> dict[str, set[str]]:
    """For each path, the outermost ancestor directory others cannot traverse, and the entry below it."""
    hidden: dict[str, set[str]] = {}
    for path in paths:
        parts = [part for part in os.path.abspath(path).split("/") if part]
        current = "/"
        for part in parts:  # each ancestor, up to the path's own parent
            try:
                mode = os.stat(current).st_mode
            except OSError:
                break
            if not mode & stat.S_IXOTH:
                hidden.setdefault(current, set()).add(part)
                break
            current = os.path.join(current, part)
    return hidden


def expose_for_others(paths: Iterable[str], stage_root: str) -> list[str]:
    """Over-mount each untraversable ancestor with a 0755 tmpfs holding bind mounts of just what is needed.

    Only the zygote's (private) mount namespace changes; nothing on the host does. Returns the
    directories it over-mounted. Needs CAP_SYS_ADMIN and a private mount namespace.
    """
    wanted = list(paths)
    exposed: list[str] = []
    for _ in range(EXPOSE_ROUNDS):
        hidden = hidden_ancestors(wanted)
        if not hidden:
            return exposed
        for directory, entries in sorted(hidden.items()):
            _overmount(directory, sorted(entries), stage_root)
            exposed.append(directory)
    if hidden_ancestors(wanted):
        raise OSError(f"could not make {sorted(hidden_ancestors(wanted))} reachable for the sandbox uid")
    return exposed


def _overmount(directory: str, entries: list[str], stage_root: str) -> None:
    stage = tempfile.mkdtemp(prefix="expose-", dir=stage_root)
    staged = []
    for index, entry in enumerate(entries):
        source = os.path.join(directory, entry)
        target = os.path.join(stage, str(index))
        is_dir = os.path.isdir(source)
        _make_mountpoint(target, is_dir)
        mount(source, target, None, MS_BIND | MS_REC)
        staged.append((entry, target, is_dir))
    mount("tmpfs", directory, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
    for entry, target, is_dir in staged:
        destination = os.path.join(directory, entry)
        _make_mountpoint(destination, is_dir)
        mount(target, destination, None, MS_MOVE)
        with contextlib.suppress(OSError):
            (os.rmdir if is_dir else os.unlink)(target)
    with contextlib.suppress(OSError):
        os.rmdir(stage)


def _make_mountpoint(path: str, is_dir: bool) -> None:
    if is_dir:
        os.mkdir(path, 0o755)
    else:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
