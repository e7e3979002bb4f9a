"""The sandbox a default install builds has seccomp: pyseccomp (a core dependency on Linux) and
libseccomp are present, the pool reports the filter active, and a grader's `os.fork()` is refused."""

from __future__ import annotations

import ctypes.util
import importlib.util
import sys

import pytest

import graders_emulator as ge
from graders_emulator.runtime import build_sandbox
from graders_emulator.sandbox import SandboxPool
from graders_emulator.settings import Settings

FORK = "import os\ndef grade(sample, item):\n    os.fork()\n    return 1.0\n"

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="seccomp is a Linux kernel facility")


def test_pyseccomp_and_libseccomp_are_installed() -> None:
    """Both come with a default install: pyseccomp from pyproject's core dependencies, libseccomp2
    from the system (make test, .ci/run and the Dockerfile install it)."""
    assert importlib.util.find_spec("pyseccomp") is not None, "pip install . should have installed pyseccomp"
    assert ctypes.util.find_library("seccomp") is not None, (
        "libseccomp2 is missing (apt-get install libseccomp2)"
    )


def test_default_sandbox_reports_seccomp_and_refuses_fork() -> None:
    # The sandbox the server and the library build from default Settings (one worker to stay light).
    assert isinstance(build_sandbox(Settings()), SandboxPool)
    with ge.Sandbox(workers=1) as sandbox:
        protections = sandbox.protections()
        body = ge.run({"type": "python", "name": "fork", "source": FORK}, "x")

    assert protections["seccomp"] is True, protections
    # CONTRACT §3: a python grader that raises answers 200 with python_grader_runtime_error and the
    # exception line; fork is denied by the filter with EPERM.
    assert body["reward"] == 0.0
    errors = body["metadata"]["errors"]
    assert errors["python_grader_runtime_error"] is True
    assert errors["python_grader_runtime_error_details"].startswith(
        "PermissionError: [Errno 1] Operation not permitted"
    )
    assert "os.fork()" in errors["python_grader_runtime_error_details"]
