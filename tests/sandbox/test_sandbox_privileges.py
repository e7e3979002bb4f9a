"""The root mode's privilege drop and the mount-namespace trick that keeps the interpreter readable for it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from graders_emulator.sandbox import jobdir, privileges
from graders_emulator.sandbox.syscalls import CLONE_NEWNS, MS_PRIVATE, MS_REC, capget, mount, unshare

UID = 2_147_000_999  # an id no account uses, like the sandbox's own


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A 0755 directory straight under /tmp (pytest's own tmp_path sits below a 0700 directory)."""
    folder = Path(tempfile.mkdtemp(prefix="sec-expose-", dir="/tmp"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        jobdir.remove_tree(str(folder))


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    """tmp/open(0755)/closed(0700)/pkg(0755)/mod.py(0644): others cannot get through `closed`."""
    open_dir = tmp_path / "open"
    module = open_dir / "closed" / "pkg" / "mod.py"
    module.parent.mkdir(parents=True)
    module.write_text("VALUE = 42\n")
    module.chmod(0o644)
    (open_dir / "closed" / "pkg").chmod(0o755)
    (open_dir / "closed").chmod(0o700)
    open_dir.chmod(0o755)
    tmp_path.chmod(0o755)
    return open_dir / "closed", module


def test_hidden_ancestors_names_the_first_directory_others_cannot_enter(open_tmp: Path) -> None:
    closed, module = _tree(open_tmp)
    assert privileges.hidden_ancestors([str(module), str(module.parent)]) == {str(closed): {"pkg"}}
    closed.chmod(0o711)  # traversable without being listable is enough
    assert privileges.hidden_ancestors([str(module)]) == {}


def _in_child(action: object) -> int:
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = int(action())  # type: ignore[operator]
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@pytest.mark.skipif(os.geteuid() != 0, reason="mount namespaces and the uid switch need root")
def test_expose_then_drop_reads_the_module_and_nothing_else_changes(open_tmp: Path) -> None:
    closed, module = _tree(open_tmp)
    stage = open_tmp / "stage"
    stage.mkdir()
    sibling = closed / "secret.txt"
    sibling.write_text("not for the sandbox")

    def without_expose() -> int:
        privileges.drop_privileges(privileges.Identity(UID, UID), privileges.last_capability())
        try:
            module.read_text()
        except PermissionError:
            return 0
        return 1

    def with_expose() -> int:
        unshare(CLONE_NEWNS)
        mount("none", "/", None, MS_REC | MS_PRIVATE)
        exposed = privileges.expose_for_others([str(module.parent)], str(stage))
        privileges.drop_privileges(privileges.Identity(UID, UID), privileges.last_capability())
        readable = module.read_text() == "VALUE = 42\n"
        sibling_hidden = not (closed / "secret.txt").exists()  # only what was asked for is shown
        no_caps = capget() == (0, 0, 0) and os.getresuid() == (UID, UID, UID)
        return 0 if exposed and readable and sibling_hidden and no_caps else 1

    assert _in_child(without_expose) == 0
    assert _in_child(with_expose) == 0
    # The host saw none of it: the directory is still 0700 and still holds both entries.
    assert closed.stat().st_mode & 0o777 == 0o700
    assert sorted(p.name for p in closed.iterdir()) == ["pkg", "secret.txt"]
    assert list(stage.iterdir()) == []
