"""The job directory between jobs: emptied (even of what a grader made unreadable), and removed at exit."""

from __future__ import annotations

import contextlib
import os
import shutil

OWNER_ONLY = 0o700


def empty(path: str) -> None:
    """Remove everything inside `path`, keeping `path` itself (its inode carries the Landlock rule)."""
    with contextlib.suppress(OSError):
        os.chmod(path, OWNER_ONLY)  # a grader may chmod its own dir; the zygote owns it too
    _make_traversable(path)
    try:
        entries = list(os.scandir(path))
    except OSError:
        return
    for entry in entries:
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)


def remove_tree(path: str) -> None:
    """Remove `path` and everything below it, whatever modes a grader set."""
    _make_traversable(path)
    shutil.rmtree(path, ignore_errors=True)


def _make_traversable(path: str) -> None:
    # Top-down: each directory is made 0700 before os.walk lists it (symlinks are never followed).
    with contextlib.suppress(OSError):
        if not os.path.islink(path) and os.path.isdir(path):
            os.chmod(path, OWNER_ONLY)
    for root, dirs, _ in os.walk(path, followlinks=False):
        for name in dirs:
            with contextlib.suppress(OSError):
                full = os.path.join(root, name)
                if not os.path.islink(full):
                    os.chmod(full, OWNER_ONLY)
