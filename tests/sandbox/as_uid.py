"""Run a command as an unprivileged uid, the way a default Docker container runs the server (uid 10001).

Usage (as root): python -I as_uid.py PROJECT_ROOT UID -- COMMAND...

The tests use it to start each zygote as that uid, with no capabilities (empty bounding, ambient,
inheritable, permitted and effective sets) and no_new_privs, like the `USER 10001` container. The
interpreter here lives under /root (mode 0700), where uid 10001 cannot go; in a container it is under
/usr/local, readable by all. So first, in a private mount namespace of this one process tree, the
directories on the way are made traversable with the same mechanism the root-mode zygote uses
(`privileges.expose_for_others`); nothing on the host changes. The zygote's base dir (created by the
root test process) is handed to the uid, as it would be when the server itself runs as that uid.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    root, uid = sys.argv[1], int(sys.argv[2])
    command = sys.argv[sys.argv.index("--") + 1 :]
    sys.path.insert(0, root)
    from graders_emulator.sandbox import privileges, probe
    from graders_emulator.sandbox.syscalls import CLONE_NEWNS, MS_PRIVATE, MS_REC, mount, unshare

    unshare(CLONE_NEWNS)
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    needed = [*probe.read_only_paths(), root, os.path.realpath(sys.executable), sys.executable]
    base_dir = os.getcwd()
    privileges.expose_for_others(needed, base_dir)
    os.chown(base_dir, uid, uid)
    privileges.drop_privileges(privileges.Identity(uid, uid), privileges.last_capability())
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
