"""Worker directories in the temp dir: named after their owner's pid, swept when that owner is dead."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import time

from graders_emulator.sandbox import jobdir

logger = logging.getLogger("graders_emulator.sandbox")
PREFIX = "graders-sandbox-"
_OWNED = re.compile(rf"^{PREFIX}(\d+)-[A-Za-z0-9_]+$")
_UNOWNED = re.compile(rf"^{PREFIX}[A-Za-z0-9_]+$")  # the pre-pid naming: no owner to ask
UNOWNED_GRACE_S = 60.0


def dir_prefix() -> str:
    """`graders-sandbox-<server pid>-`: mkdtemp appends the random part."""
    return f"{PREFIX}{os.getpid()}-"


def sweep_stale(temp_dir: str | None = None) -> list[str]:
    """Remove this uid's worker dirs whose owner process is gone (or, unnamed ones, no process works in)."""
    root = temp_dir or tempfile.gettempdir()
    removed: list[str] = []
    try:
        entries = [entry for entry in os.scandir(root) if entry.name.startswith(PREFIX)]
    except OSError:
        return removed
    in_use: set[str] | None = None
    for entry in entries:
        try:
            if (
                not entry.is_dir(follow_symlinks=False)
                or entry.stat(follow_symlinks=False).st_uid != os.geteuid()
            ):
                continue
        except OSError:
            continue
        owned = _OWNED.match(entry.name)
        if owned:
            stale = not _alive(int(owned.group(1)))
        elif _UNOWNED.match(entry.name):
            # Old naming: no owner to ask. Stale when no process works there and it is not brand new
            # (a server of the old code makes its dir a moment before its zygote enters it).
            in_use = _working_dirs() if in_use is None else in_use
            idle = not any(cwd == entry.path or cwd.startswith(entry.path + "/") for cwd in in_use)
            stale = idle and _age_s(entry.path) > UNOWNED_GRACE_S
        else:
            continue
        if stale:
            jobdir.remove_tree(entry.path)
            removed.append(entry.path)
    if removed:
        logger.info("removed %d sandbox directories left by stopped servers", len(removed))
    return removed


def _age_s(path: str) -> float:
    try:
        return time.time() - os.stat(path).st_mtime
    except OSError:
        return 0.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: not ours to judge
    return True


def _working_dirs() -> set[str]:
    found = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError):
                found.add(os.readlink(f"/proc/{name}/cwd"))
    return found
