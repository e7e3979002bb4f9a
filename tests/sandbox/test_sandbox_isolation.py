"""Issue 10's sandbox findings, each as its reproducer: the attack fails as the contract says, nothing leaks.

Both modes: as root (namespaces, children as a dedicated uid) and with every zygote as uid 10001 without
capabilities (the default container). Each attack is followed by a normal job, answered normally.
"""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import secrets
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_helpers import (
    MODES,
    TEST_LIMITS,
    PoolHandle,
    close_pool,
    open_mode_pool,
    sandbox_processes,
    wait_until,
    zygote_pids,
)

from graders_emulator.grading.context import PythonOutcome
from graders_emulator.sandbox import SandboxLimits

NORMAL = "def grade(sample, item):\n    return 0.25\n"
LIMITS = SandboxLimits(timeout_s=10.0, memory_mb=256, disk_mb=16, output_kb=64)
EPERM, EACCES = 1, 13


@pytest.fixture(scope="module", params=MODES)
def iso(request: pytest.FixtureRequest) -> Iterator[PoolHandle]:
    """A 2-worker pool per mode with a 10 s limit (walking every object of the zygote's image takes a while)."""
    handle = open_mode_pool(request.param, LIMITS)
    try:
        yield handle
    finally:
        close_pool(handle)


def _then_normal(pool: PoolHandle, zygotes_before: set[int]) -> None:
    """The next job is answered normally, by the same zygotes (none died), with no stray process left."""
    assert pool.run(NORMAL).value == 0.25
    assert zygotes_before <= zygote_pids(pool.pool.token)

    def settled() -> bool:
        zygotes = zygote_pids(pool.pool.token)
        return len([p for p, _ in sandbox_processes(pool.pool.token) if p not in zygotes]) <= len(zygotes)

    assert wait_until(settled), sandbox_processes(pool.pool.token)


def _value(outcome: PythonOutcome) -> float:
    assert outcome.server_error_type is None and outcome.runtime_error is None, outcome
    assert outcome.value is not None
    return outcome.value


def _details(outcome: PythonOutcome) -> dict[str, object]:
    """Graders below report what they saw by raising `Exception(json)`; the runtime error carries it."""
    assert outcome.value is None and outcome.runtime_error is not None, outcome
    match = re.search(r"^Exception: (\{.*\})$", outcome.runtime_error, re.M)
    assert match, outcome.runtime_error
    found: dict[str, object] = json.loads(match.group(1))
    return found


# ---------------------------------------------------------------------------------------------
# Finding 1: a child forked after a job must find nothing of it (frames, objects, the zygote's memory)

LEAK_HUNT = """
import gc, json, sys
def grade(sample, item):
    marker = "leak-" + item["t"][::-1]
    hits = []
    frame = sys._getframe()
    while frame is not None:
        for value in list(frame.f_locals.values()) + list(frame.f_globals.values()):
            if value is not marker and marker in repr(value)[:1000000]:
                hits.append("frame " + frame.f_code.co_name)
        frame = frame.f_back
    for obj in gc.get_objects():
        for ref in gc.get_referents(obj):
            if ref is marker:
                continue
            if (isinstance(ref, str) and marker in ref) or (isinstance(ref, bytes) and marker.encode() in ref):
                hits.append(type(obj).__name__)
    raise Exception(json.dumps({"hits": hits[:20]}))
"""


def _zygote_memory_holds(pid: int, needle: bytes) -> bool:
    """Scan every readable mapping of a zygote for `needle` (root reads /proc/<pid>/mem)."""
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for line in maps:
            span, perms = line.split()[:2]
            # A request's bytes could only sit in writable memory (heap, anonymous maps, stacks).
            if not perms.startswith("rw") or line.rstrip().endswith(
                ("[vvar]", "[vsyscall]", "[vvar_vclock]")
            ):
                continue
            start, end = (int(x, 16) for x in span.split("-"))
            try:
                mem.seek(start)
                if needle in mem.read(end - start):
                    return True
            except OSError:
                continue
    return False


@pytest.mark.skipif(os.geteuid() != 0, reason="reading a zygote's memory through /proc/<pid>/mem needs root")
def test_a_later_job_finds_nothing_of_an_earlier_one(iso: PoolHandle) -> None:
    """Finding 1: the previous request's source, sample and item were readable through sys._getframe()."""
    token = secrets.token_hex(8)
    secret = f"leak-{token}"
    zygotes = zygote_pids(iso.pool.token)
    victim = f"SECRET = {secret!r}\ndef grade(sample, item):\n    return 1.0 if SECRET in sample['output_text'] else 0.0\n"
    for _ in range(4):  # more jobs than workers: each zygote has served a victim
        assert _value(iso.run(victim, {"output_text": secret}, {"ref": secret})) == 1.0
    hunted = [_details(iso.run(LEAK_HUNT, {"output_text": "x"}, {"t": token[::-1]})) for _ in range(2)]
    assert all(found == {"hits": []} for found in hunted), hunted
    # Stronger than any walk a grader can do: no zygote's memory holds the text at all.
    for pid in zygote_pids(iso.pool.token):
        assert not _zygote_memory_holds(pid, secret.encode()), f"zygote {pid} holds the previous request"
    _then_normal(iso, zygotes)


def test_the_leak_hunt_finds_what_is_there(iso: PoolHandle) -> None:
    """The hunt above is able to find a marker that is in the child's own objects (so its empty result counts)."""
    token = secrets.token_hex(8)
    planted = f"KEEP = ['leak-{token}']\n" + LEAK_HUNT
    found = _details(iso.run(planted, {"output_text": "x"}, {"t": token[::-1]}))
    assert found["hits"], found


# ---------------------------------------------------------------------------------------------
# Finding 2: no privilege. Capability sets, no_new_privs, uid; files the child does not own.

CAPABILITIES = """
import ctypes, json, os
libc = ctypes.CDLL("libc.so.6", use_errno=True)
class Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
class Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]
def grade(sample, item):
    header, data = Header(0x20080522, 0), (Data * 2)()
    assert libc.capget(ctypes.byref(header), ctypes.byref(data)) == 0
    sets = {name: getattr(data[0], name) | getattr(data[1], name) << 32 for name in ("effective", "permitted", "inheritable")}
    last = int(item["last_cap"])
    sets["bounding"] = sum(1 << cap for cap in range(last + 1) if libc.prctl(23, cap, 0, 0, 0) == 1)  # PR_CAPBSET_READ
    sets["ambient"] = sum(1 << cap for cap in range(last + 1) if libc.prctl(47, 1, cap, 0, 0) == 1)  # IS_SET
    sets["no_new_privs"] = libc.prctl(39, 0, 0, 0, 0)
    sets["uids"] = list(os.getresuid()) + list(os.getresgid())
    sets["groups"] = os.getgroups()
    raise Exception(json.dumps(sets))
"""


def test_children_hold_no_capability_and_no_root_id(iso: PoolHandle) -> None:
    """Finding 2: root mode ran graders as uid 0 with every capability."""
    last_cap = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    zygotes = zygote_pids(iso.pool.token)
    found = _details(iso.run(CAPABILITIES, item={"last_cap": last_cap}))
    for name in ("effective", "permitted", "inheritable", "bounding", "ambient"):
        assert found[name] == 0, (name, found)
    assert found["no_new_privs"] == 1
    uids = found["uids"]
    assert isinstance(uids, list) and 0 not in uids and len(set(uids)) == 1, uids
    assert found["groups"] == []
    _then_normal(iso, zygotes)


@pytest.fixture
def root_owned_binary() -> Iterator[Path]:
    """A root-owned 0755 file in a directory every uid can traverse (as /usr/bin is)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to own a file the sandbox uid does not")
    folder = Path(tempfile.mkdtemp(prefix="sec-suid-"))
    folder.chmod(0o755)
    target = folder / "tool"
    target.write_bytes(b"#!/bin/sh\nid\n")
    target.chmod(0o755)
    try:
        yield target
    finally:
        target.unlink()
        folder.rmdir()


CHANGE_FOREIGN_FILE = """
import json, os
def grade(sample, item):
    path, errors = item["path"], {}
    for name, call in {
        "chmod_setuid": lambda: os.chmod(path, 0o4755),
        "chown": lambda: os.chown(path, os.getuid(), os.getgid()),
        "utime": lambda: os.utime(path, (0, 0)),
        "setxattr": lambda: os.setxattr(path, "user.pwned", b"1"),
    }.items():
        try:
            call()
            errors[name] = 0
        except OSError as exc:
            errors[name] = exc.errno
    raise Exception(json.dumps(errors))
"""


def test_a_grader_cannot_change_a_file_it_does_not_own(iso: PoolHandle, root_owned_binary: Path) -> None:
    """Finding 2: Landlock does not cover chmod/chown/utime/setxattr; the uid switch does (the setuid trick)."""
    before = root_owned_binary.stat()
    zygotes = zygote_pids(iso.pool.token)
    found = _details(iso.run(CHANGE_FOREIGN_FILE, item={"path": str(root_owned_binary)}))
    # xattr(7): user.* attributes need write permission on the file, so that one is EACCES.
    assert found == {"chmod_setuid": EPERM, "chown": EPERM, "utime": EPERM, "setxattr": EACCES}, found
    assert os.listxattr(root_owned_binary) == []
    after = root_owned_binary.stat()
    assert stat.S_IMODE(after.st_mode) == 0o755 and not after.st_mode & stat.S_ISUID
    assert (after.st_uid, after.st_mtime_ns) == (before.st_uid, before.st_mtime_ns)
    _then_normal(iso, zygotes)


# Syscall numbers of x86-64 (linux/arch/x86/entry/syscalls/syscall_64.tbl). Docker's default seccomp
# profile (moby/profiles/seccomp/default.json) denies each of these to a container without capabilities;
# the SysV/mqueue/memfd calls are denied here because they escape RLIMIT_AS and the job's lifetime.
DENIED_SYSCALLS = {
    "sethostname": (170, 0, 0),
    "setdomainname": (171, 0, 0),
    "syslog": (103, 3, 0, 0),
    "iopl": (172, 3),
    "ioperm": (173, 0, 1, 1),
    "keyctl": (250, 0, 0),
    "add_key": (248, 0, 0, 0, 0, 0),
    "request_key": (249, 0, 0, 0, 0),
    "bpf": (321, 0, 0, 0),
    "perf_event_open": (298, 0, 0, -1, -1, 0),
    "userfaultfd": (323, 0),
    "mount": (165, 0, 0, 0, 0, 0),
    "umount2": (166, 0, 0),
    "pivot_root": (155, 0, 0),
    "swapon": (167, 0, 0),
    "swapoff": (168, 0),
    "reboot": (169, 0, 0, 0, 0),
    "kexec_load": (246, 0, 0, 0, 0),
    "init_module": (175, 0, 0, 0),
    "finit_module": (313, -1, 0, 0),
    "delete_module": (176, 0, 0),
    "acct": (163, 0),
    "settimeofday": (164, 0, 0),
    "clock_settime": (227, 0, 0),
    "adjtimex": (159, 0),
    "ptrace": (101, 0, 0, 0, 0),
    "process_vm_readv": (310, 1, 0, 0, 0, 0, 0),
    "unshare": (272, 0),
    "setns": (308, -1, 0),
    "personality": (135, 0xFFFFFFFF),
    "quotactl": (179, 0, 0, 0, 0),
    "lookup_dcookie": (212, 0, 0, 0),
    "open_by_handle_at": (304, -1, 0, 0),
    "name_to_handle_at": (303, -1, 0, 0, 0, 0),
    "kcmp": (312, 1, 1, 0, 0, 0),
    "mbind": (237, 0, 0, 0, 0, 0, 0),
    "set_mempolicy": (238, 0, 0, 0),
    "move_pages": (279, 0, 0, 0, 0, 0, 0),
    "shmget": (29, 0, 4096, 0o1600),
    "semget": (64, 0, 1, 0o1600),
    "msgget": (68, 0, 0o1600),
    "mq_open": (240, 0, 0, 0, 0),
    "memfd_create": (319, 0, 0),
    "pidfd_open": (434, 1, 0),
    "io_uring_setup": (425, 1, 0),
}
SYSCALL = """
import ctypes
libc = ctypes.CDLL("libc.so.6", use_errno=True)
libc.syscall.restype = ctypes.c_long
def grade(sample, item):
    args = [ctypes.c_long(a) for a in item["args"]]
    result = libc.syscall(ctypes.c_long(item["nr"]), *args)
    return float(-ctypes.get_errno() if result == -1 else result)
"""


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the table holds x86-64 syscall numbers")
@pytest.mark.parametrize("name", list(DENIED_SYSCALLS), ids=list(DENIED_SYSCALLS))
def test_denied_syscall_fails_with_eperm(iso: PoolHandle, name: str) -> None:
    """Findings 2 and 4: each call fails with EPERM (seccomp), whether or not the uid could have made it."""
    nr, *args = DENIED_SYSCALLS[name]
    assert _value(iso.run(SYSCALL, item={"nr": nr, "args": args})) == -EPERM
    assert iso.run(NORMAL).value == 0.25


def test_sethostname_leaves_the_host_name(iso: PoolHandle) -> None:
    """Finding 2: sethostname on the host worked."""
    before = socket.gethostname()
    source = "import socket\ndef grade(s, i):\n    socket.sethostname('pwned-by-grader')\n    return 1"
    outcome = iso.run(source)
    assert outcome.runtime_error and outcome.runtime_error.startswith("PermissionError: [Errno 1]"), outcome
    assert socket.gethostname() == before


def test_sysv_and_posix_ipc_and_memfd_are_refused_through_python(iso: PoolHandle) -> None:
    """Finding 4: SysV shared memory was a cross-request channel and kept 3 GB; memfd bypassed RLIMIT_AS."""
    with open("/proc/sysvipc/shm") as table:
        segments_before = len(table.readlines())
    zygotes = zygote_pids(iso.pool.token)
    source = (
        "import os\ndef grade(s, i):\n    fd = os.memfd_create('hog')\n"
        "    os.ftruncate(fd, 3 * 2**30)\n    return 1"
    )
    outcome = iso.run(source)
    assert outcome.runtime_error and outcome.runtime_error.startswith("PermissionError: [Errno 1]"), outcome
    with open("/proc/sysvipc/shm") as table:
        assert len(table.readlines()) == segments_before
    _then_normal(iso, zygotes)


# ---------------------------------------------------------------------------------------------
# Finding 3: the server's (and the zygote's) limits and scheduling are out of a grader's reach

RELIMIT = """
import json, os, resource
def grade(sample, item):
    errors = {}
    for name, call in {
        "prlimit_cpu": lambda pid: resource.prlimit(pid, resource.RLIMIT_CPU, (1, 1)),
        "prlimit_nofile": lambda pid: resource.prlimit(pid, resource.RLIMIT_NOFILE, (8, 8)),
        "sched_idle": lambda pid: os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0)),
        "sched_param": lambda pid: os.sched_setparam(pid, os.sched_param(0)),
        "setpriority": lambda pid: os.setpriority(os.PRIO_PROCESS, pid, 19),
        "affinity": lambda pid: os.sched_setaffinity(pid, {0}),
    }.items():
        for who, pid in (("server", item["server"]), ("zygote", os.getppid())):
            try:
                call(pid)
                errors[f"{name}:{who}"] = 0
            except OSError as exc:
                errors[f"{name}:{who}"] = exc.errno
    for name, call in {
        "setpriority_user": lambda: os.setpriority(os.PRIO_USER, 0, 19),
        "setpriority_group": lambda: os.setpriority(os.PRIO_PGRP, 0, 19),
    }.items():
        try:
            call()
            errors[name] = 0
        except OSError as exc:
            errors[name] = exc.errno
    # on itself, all of it stays allowed
    resource.setrlimit(resource.RLIMIT_NOFILE, (32, 32))
    resource.prlimit(0, resource.RLIMIT_CORE, (0, 0))
    os.setpriority(os.PRIO_PROCESS, 0, 5)
    os.sched_setaffinity(0, os.sched_getaffinity(0))
    errors["self"] = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    raise Exception(json.dumps(errors))
"""


def test_a_grader_cannot_relimit_or_reschedule_other_processes(iso: PoolHandle) -> None:
    """Finding 3: prlimit(server, RLIMIT_CPU=1) killed it; NOFILE=8 hung it; SCHED_IDLE stayed in effect."""
    me = os.getpid()
    before = (
        resource.prlimit(me, resource.RLIMIT_CPU),
        resource.prlimit(me, resource.RLIMIT_NOFILE),
        os.sched_getscheduler(me),
        os.getpriority(os.PRIO_PROCESS, me),
        os.sched_getaffinity(me),
    )
    zygotes = zygote_pids(iso.pool.token)
    found = _details(iso.run(RELIMIT, item={"server": me}))
    assert found.pop("self") == 32
    assert set(found.values()) == {EPERM}, found
    after = (
        resource.prlimit(me, resource.RLIMIT_CPU),
        resource.prlimit(me, resource.RLIMIT_NOFILE),
        os.sched_getscheduler(me),
        os.getpriority(os.PRIO_PROCESS, me),
        os.sched_getaffinity(me),
    )
    assert after == before
    for pid in zygotes:  # as they started: the server's policy and nice value (`nice pytest` runs at 5)
        assert os.sched_getscheduler(pid) == os.SCHED_OTHER
        assert os.getpriority(os.PRIO_PROCESS, pid) == before[3]
    _then_normal(iso, zygotes)


# ---------------------------------------------------------------------------------------------
# Finding 5: nothing writable outside the job dir, and the job dir is empty for every job

WRITE_AROUND = """
import json, os, tempfile
def grade(sample, item):
    here = os.getcwd()
    seen = {"cwd_entries": sorted(os.listdir(".")), "tmp_entries": sorted(os.listdir(tempfile.gettempdir()))}
    with open("mine.txt", "w") as handle:
        handle.write(item["mark"])
    os.mkdir("sub")
    os.chmod("sub", 0)
    os.chmod(".", 0o500)
    for name, path in {"parent": os.path.join(here, "..", "planted.txt"), "parent_dir": os.path.join(here, "..", "d")}.items():
        try:
            if name == "parent_dir":
                os.mkdir(path)
            else:
                open(path, "w").close()
            seen[name] = 0
        except OSError as exc:
            seen[name] = exc.errno
    try:
        seen["parent_list"] = sorted(os.listdir(os.path.join(here, "..")))
    except OSError as exc:
        seen["parent_list"] = exc.errno
    raise Exception(json.dumps(seen))
"""


def test_no_writable_path_survives_a_job(iso: PoolHandle) -> None:
    """Finding 5: the base dir above the job dir was writable, and a later job saw the earlier one's files."""
    zygotes = zygote_pids(iso.pool.token)
    results = [_details(iso.run(WRITE_AROUND, item={"mark": f"job-{n}"})) for n in range(4)]
    for found in results:
        assert found["cwd_entries"] == [] and found["tmp_entries"] == [], results  # nothing of a previous job
        assert found["parent"] in (1, 13) and found["parent_dir"] in (1, 13), found  # EPERM/EACCES
        assert found["parent_list"] in (1, 13), found  # not even listable
    for pid in zygotes:  # and nothing sits in the workers' directories on the host
        base = _base_dir_of(pid)
        assert not (Path(base) / "planted.txt").exists() and not (Path(base) / "d").exists()
    _then_normal(iso, zygotes)


SPAWN_WRITER = """
import itertools, os, threading, time
def keep_writing():
    for n in itertools.count():
        try:
            with open(f"left-{n}", "w") as handle:
                handle.write("x")
        except OSError:
            pass
def grade(sample, item):
    threading.Thread(target=keep_writing, daemon=True).start()
    time.sleep(0.02)  # files are being made when grade() returns, and while the answer goes out
    return float(len(os.listdir(".")) > 0)
"""
COUNT_FILES = "import os\ndef grade(sample, item):\n    return float(len(os.listdir('.')))\n"


def test_a_thread_still_writing_when_the_job_answers_leaves_no_file(iso: PoolHandle) -> None:
    """The answer goes out before the child is reaped: by then no thread of it can make a file."""
    assert wait_until(lambda: iso.pool.protections()["warm"] == 2, timeout=60)  # both job dirs exist
    zygotes = zygote_pids(iso.pool.token)
    for _ in range(6):  # each worker in turn: a writer, then whoever runs next sees its job dir
        assert _value(iso.run(SPAWN_WRITER)) == 1.0
        assert _value(iso.run(COUNT_FILES)) == 0.0
        for pid in zygotes:  # on the host too (the unprivileged mode's job dir is a real directory)
            assert not any(name.startswith("left-") for name in _job_dir_entries(pid))
    _then_normal(iso, zygotes)


def _job_dir_entries(pid: int) -> list[str]:
    return os.listdir(os.path.join(_base_dir_of(pid), "job"))


def _base_dir_of(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/cwd")


def test_disk_limit_holds_one_level_up(iso: PoolHandle) -> None:
    """Finding 5: files written above the job dir escaped the disk limit (2 GB under 1 GB)."""
    source = (
        "import os\ndef grade(s, i):\n    with open(os.path.join(os.getcwd(), '..', 'fill.bin'), 'wb') as f:\n"
        "        f.write(b'x' * 2**20)\n    return 1"
    )
    outcome = iso.run(source)
    assert outcome.runtime_error and re.match(r"PermissionError: \[Errno (1|13)\]", outcome.runtime_error), (
        outcome
    )
    assert iso.run(NORMAL).value == 0.25


# ---------------------------------------------------------------------------------------------
# Finding 6: a child cannot crash its worker through the result it writes

FORGE_RESULT = """
import os
def grade(sample, item):
    for fd in range(3, 64):
        try:
            os.write(fd, item["line"].encode())
        except OSError:
            pass
    while True:
        pass
"""


@pytest.mark.parametrize(
    "line",
    ["[" * 60000 + "\n", '{"value": ' + "[" * 40 + "]" * 40 + "}\n", '{"value": 1e999}\n', "\n"],
    ids=["60000-brackets", "deep-value", "infinite", "newline-only"],
)
def test_a_hostile_result_line_is_the_jobs_runtime_error(iso: PoolHandle, line: str) -> None:
    """Finding 6: 60,000 `[` on the result pipe raised RecursionError in the worker; looping it kept the pool down."""
    zygotes = zygote_pids(iso.pool.token)
    for _ in range(3):
        outcome = iso.run(FORGE_RESULT, item={"line": line})
        assert outcome.server_error_type is None and outcome.value is None, outcome
        assert outcome.runtime_error in (
            "the grader's process wrote an unreadable result",
            "exited with status 0 without returning",
        ), outcome
    assert zygote_pids(iso.pool.token) == zygotes  # the same zygotes: none crashed
    _then_normal(iso, zygotes)


# ---------------------------------------------------------------------------------------------
# Finding 7: threads (and processes) per job are capped

THREADS = """
import threading
def grade(sample, item):
    release, started = threading.Event(), 0
    try:
        for _ in range(6000):
            threading.Thread(target=release.wait, daemon=True).start()
            started += 1
    except RuntimeError:
        pass
    release.set()
    return float(started)
"""


def test_threads_per_job_are_capped(iso: PoolHandle) -> None:
    """Finding 7: 5,500 threads in 10 s. The cap is 64 tasks per job (RLIMIT_NPROC), the grader's own thread included."""
    zygotes = zygote_pids(iso.pool.token)
    started = _value(iso.run(THREADS))
    assert 1 <= started <= 64, started
    _then_normal(iso, zygotes)


def test_readyz_keys_report_each_protection(iso: PoolHandle) -> None:
    """/readyz shows the pool's protections(): the new keys next to the existing ones."""
    found = iso.pool.protections()
    assert (
        found["rlimits"] == ["CPU", "AS", "NOFILE", "FSIZE", "CORE", "NPROC"] and found["tasks_per_job"] == 64
    )
    assert found["capabilities"] == "none" and found["no_new_privs"] is True
    denied, self_only = found["seccomp_denied"], found["seccomp_self_only"]
    assert isinstance(denied, list) and isinstance(self_only, list)
    assert {"memfd_create", "shmget", "syslog", "sethostname", "bpf", "ptrace"} <= set(denied)
    assert {"prlimit64", "sched_setscheduler", "setpriority"} <= set(self_only)
    if iso.uid_switch is None:  # root mode
        assert found["uid"] is not None and found["uid"] != 0
        assert found["ipcns"] is True and found["job_dir"] == "per-child tmpfs"
    else:
        assert found["uid"] is None and found["ipcns"] is False and found["job_dir"] == "emptied between jobs"


def test_limits_used_by_these_tests_are_the_shared_ones() -> None:
    """The pool here differs from the hostile suite's only in its wall clock (the leak hunt walks ~1M objects)."""
    assert (LIMITS.memory_mb, LIMITS.disk_mb, LIMITS.output_kb) == (
        TEST_LIMITS.memory_mb,
        TEST_LIMITS.disk_mb,
        TEST_LIMITS.output_kb,
    )
