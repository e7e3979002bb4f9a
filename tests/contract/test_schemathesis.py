"""schemathesis (CLI, in a subprocess) against the emulator: (a) its own /openapi.json with every check,
(b) OpenAI's spec fragment with the checks that apply to a spec that documents only 200s
(reference/clients.md). Bounded: a fixed seed, a fixed number of examples, one worker.

One worker because schemathesis's coverage phase, run in threads, hit a CPython `ast` race
("AST constructor recursion depth mismatch") in hypothesis's lambda descriptions: a tool error,
not a finding.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from graders_emulator.testing import RunningServer

from .support import FRAGMENT_PATH

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# CI's budget; a fuzzing run raises it, e.g. `SCHEMATHESIS_EXAMPLES=500 pytest tests/contract/test_schemathesis.py`.
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "30"))
HOOKS = Path(__file__).resolve().with_name("schemathesis_hooks.py")
COMMON = [
    "--seed=20261129",
    f"--max-examples={EXAMPLES}",
    "--workers=1",
    "--generation-database=none",
    "--request-timeout=30",
    "--no-color",
    "--header=Authorization: Bearer x",
]

# pytest's own limit sits above the subprocess's, so a slow run fails with schemathesis' output, not
# pytest-timeout's 120 s default (on a loaded 2-core machine one run can take longer than that).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300 + EXAMPLES * 8)]


def _schemathesis(args: list[str], cwd: Path, **env: str) -> str:
    assert SCHEMATHESIS.is_file(), f"schemathesis is not installed next to {sys.executable}"
    result = subprocess.run(
        [str(SCHEMATHESIS), "run", *COMMON, *args],  # later options win
        cwd=cwd,  # reports and caches land in the test's tmp dir, not the repo
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=240 + EXAMPLES * 8,
        check=False,
    )
    output = result.stdout + result.stderr
    findings = output[output.find("=== FAILURES") :] if "=== FAILURES" in output else output[-6000:]
    assert result.returncode == 0, (
        f"schemathesis found problems (exit {result.returncode}):\n{findings[:20000]}"
    )
    return output


def test_own_openapi_all_checks(emulator: RunningServer, tmp_path: Path) -> None:
    """Every check on the graders operations and health endpoints of the document the server publishes.

    `positive_data_acceptance` is replaced by the hooks file's `positive_data_acceptance_per_contract`,
    which lets through only the 400s that CONTRACT.md decides for schema-valid bodies (see the hooks
    module: unparsable `calculate_output`, foreign template namespaces, top-level label_model, ...).
    The `/_emulator` control plane is covered by its own test below.
    """
    output = _schemathesis(
        [
            f"{emulator.url}/openapi.json",
            "--checks=all",
            "--exclude-checks=positive_data_acceptance",
            "--include-path-regex=^/(v1/fine_tuning/|healthz$|readyz$)",  # evals: tests/evals/
        ],
        tmp_path,
        SCHEMATHESIS_HOOKS=str(HOOKS),
    )
    tested = re.search(r"Tested: (\d+)", output)
    assert tested is not None
    assert int(tested.group(1)) >= 2, output[-3000:]


def test_openai_fragment(spec_emulator: RunningServer, tmp_path: Path) -> None:
    """OpenAI's own spec: no 5xx, answers conform to its schema and content type.

    The `spec` profile server answers the integer token_usage the spec types (the live API's object is
    a known spec defect, reference/clients.md); the spec documents only 200s, so status-code checks do
    not apply and its 400s (e.g. for its one-grader `multi.graders`, also a known defect) are correct.
    """
    output = _schemathesis(
        [
            str(FRAGMENT_PATH),
            f"--url={spec_emulator.base_url}",
            "--checks=not_a_server_error,response_schema_conformance,content_type_conformance",
        ],
        tmp_path,
    )
    assert "2 selected / 2 total" in output, output[-3000:]


def test_own_openapi_control_plane_all_checks(emulator: RunningServer, tmp_path: Path) -> None:
    """The `/_emulator` control plane of the same document (CONTRACT §9), every check, fewer examples."""
    _schemathesis(
        [
            f"{emulator.url}/openapi.json",
            "--checks=all",
            "--exclude-checks=positive_data_acceptance",  # replaced by the hooks file's contract-aware check
            "--include-path-regex=^/_emulator/",
            "--max-examples=10",
        ],
        tmp_path,
        SCHEMATHESIS_HOOKS=str(HOOKS),
    )
