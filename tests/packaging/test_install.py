"""A plain `pip install <repo>` (not editable) into a fresh venv, used from outside the repository:
`graders_emulator` imports, nothing named `app` lands in site-packages, the console script and the
pytest plugin are registered, and the python sandbox has seccomp (the hostile suite passes there)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
# What a checkout holds that is not the project (built or installed things).
NOT_THE_PROJECT = shutil.ignore_patterns(
    ".git", ".venv", "node_modules", "__pycache__", "*.egg-info", "build", "dist", ".*_cache"
)


@dataclass(frozen=True)
class Install:
    python: Path
    bin: Path
    site_packages: Path
    checkout: Path  # the copy that was installed (its tests/ are used, its app/ never imported)


def _clean_env() -> dict[str, str]:
    """The environment without what points at a checkout or another venv (PYTHONPATH=app in tests)."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(command: list[str | Path], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (
        f"{command} -> {result.returncode}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Install]:
    root = tmp_path_factory.mktemp("fresh-install")
    checkout = root / "graders-emulator"
    shutil.copytree(REPO, checkout, ignore=NOT_THE_PROJECT)
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=root)
    python = venv / "bin" / "python"
    _run([python, "-m", "pip", "install", "-q", str(checkout)], cwd=root)
    site = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=root)
    yield Install(python, venv / "bin", Path(site.stdout.strip()), checkout)


def test_imports_from_site_packages_outside_the_repo(installed: Install, tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import importlib.util, json
        import graders_emulator
        print(json.dumps({"file": graders_emulator.__file__, "app": importlib.util.find_spec("app") is not None}))
        """
    )
    result = _run([installed.python, "-c", script], cwd=tmp_path)
    found = __import__("json").loads(result.stdout)
    assert Path(found["file"]).is_relative_to(installed.site_packages), found
    assert found["app"] is False  # no top-level `app` anywhere on that interpreter's path


def test_nothing_named_app_in_site_packages(installed: Install) -> None:
    site = installed.site_packages
    assert not (site / "app").exists()
    assert not (site / "app.py").exists()
    (dist_info,) = site.glob("graders_emulator-*.dist-info")
    top_level = dist_info / "top_level.txt"
    if top_level.exists():  # setuptools writes it; other backends may not
        assert top_level.read_text().split() == ["graders_emulator"]
    record = (dist_info / "RECORD").read_text().splitlines()
    installed_paths = [line.split(",", 1)[0] for line in record]
    assert any(path.startswith("graders_emulator/") for path in installed_paths)
    assert not [path for path in installed_paths if path.split("/", 1)[0] in {"app", "app.py"}]
    for other in site.glob("*.dist-info"):  # no dependency brings an `app` either
        text = (other / "top_level.txt").read_text() if (other / "top_level.txt").exists() else ""
        assert "app" not in text.split(), other.name
    assert not list(site.glob("__editable__*graders*"))  # a real copy, not an editable finder


def test_console_script_and_pytest_plugin_are_registered(installed: Install, tmp_path: Path) -> None:
    version = _run([installed.bin / "graders-emulator", "--version"], cwd=tmp_path)
    assert version.stdout.startswith("graders-emulator ")
    script = (
        "import importlib.util; from importlib.metadata import entry_points; "
        "[ep] = [ep for ep in entry_points(group='pytest11') if ep.name == 'graders_emulator']; "
        "print(ep.value, importlib.util.find_spec(ep.value).origin)"
    )
    plugin = _run([installed.python, "-c", script], cwd=tmp_path)
    value, origin = plugin.stdout.split()
    assert value == "graders_emulator.pytest_plugin"  # loaded by pytest only (it imports pytest)
    assert Path(origin).is_relative_to(installed.site_packages)


def test_default_install_sandbox_has_seccomp_and_refuses_fork(installed: Install, tmp_path: Path) -> None:
    """pyseccomp is a core dependency on Linux: the default sandbox filters fork (CONTRACT §3's flag)."""
    script = textwrap.dedent(
        """
        import json
        import graders_emulator as ge
        FORK = "import os\\ndef grade(sample, item):\\n    os.fork()\\n    return 1.0\\n"
        with ge.Sandbox(workers=1) as sandbox:
            seccomp = sandbox.protections().get("seccomp")
            body = ge.run({"type": "python", "name": "fork", "source": FORK}, "x")
        print(json.dumps({"seccomp": seccomp, "body": body}))
        """
    )
    result = _run([installed.python, "-c", script], cwd=tmp_path)
    found = __import__("json").loads(result.stdout.splitlines()[-1])
    assert found["seccomp"] is True, result.stderr[-2000:]
    errors = found["body"]["metadata"]["errors"]
    assert found["body"]["reward"] == 0.0
    assert errors["python_grader_runtime_error"] is True
    assert errors["python_grader_runtime_error_details"].startswith(
        "PermissionError: [Errno 1] Operation not permitted"
    )


def test_hostile_suite_passes_in_the_default_install(installed: Install) -> None:
    """tests/sandbox/test_sandbox_hostile.py run by the fresh venv (only pytest added to it)."""
    _run([installed.python, "-m", "pip", "install", "-q", "pytest", "pytest-timeout"], cwd=installed.checkout)
    # pytest picks the plugin up from the entry point, with nothing to configure.
    options = _run([installed.python, "-m", "pytest", "--help"], cwd=installed.checkout)
    assert "--graders-emulator-url" in options.stdout
    result = _run(
        [
            installed.python,
            "-m",
            "pytest",
            "tests/sandbox/test_sandbox_hostile.py",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=installed.checkout,
        timeout=1200,
    )
    last = result.stdout.strip().splitlines()[-1]
    assert " passed" in last and "failed" not in last and "error" not in last and "skipped" not in last, last
