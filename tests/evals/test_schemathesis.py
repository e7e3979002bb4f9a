"""schemathesis (CLI, in a subprocess) against the Evals and Files paths: OpenAI's spec fragment
(`tests/contract/openapi/evals-files-fragment.json`) and the emulator's own /openapi.json.

Bounded as the graders' fuzzing is: a fixed seed, ~20 examples per operation, one worker.
`positive_data_acceptance` is left out: schema-valid bodies that name an eval, run, file or cursor
that does not exist (404 / 400), a `logs`/`stored_completions`/`responses` source (not emulated, 400)
or an `item_schema` that is not a JSON schema (400) are rightly refused.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from graders_emulator.testing import RunningServer

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
FRAGMENT = Path(__file__).resolve().parents[1] / "contract" / "openapi" / "evals-files-fragment.json"
HOOKS = Path(__file__).resolve().with_name("schemathesis_hooks.py")
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "20"))
COMMON = [
    "--seed=20261202",
    f"--max-examples={EXAMPLES}",
    "--workers=1",
    "--generation-database=none",
    "--request-timeout=30",
    "--no-color",
    "--header=Authorization: Bearer x",
]
PATHS = "--include-path-regex=^(/v1)?/(evals|files)"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _schemathesis(args: list[str], cwd: Path, **env: str) -> str:
    assert SCHEMATHESIS.is_file(), f"schemathesis is not installed next to {sys.executable}"
    result = subprocess.run(
        [str(SCHEMATHESIS), "run", *COMMON, *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=240 + EXAMPLES * 20,
        check=False,
    )
    output = result.stdout + result.stderr
    findings = output[output.find("=== FAILURES") :] if "=== FAILURES" in output else output[-6000:]
    assert result.returncode == 0, (
        f"schemathesis found problems (exit {result.returncode}):\n{findings[:20000]}"
    )
    return output


def test_openai_evals_fragment(evals_spec: RunningServer, tmp_path: Path) -> None:
    """OpenAI's spec for its 17 operations: no 5xx, every answer conforms to its schema.

    The `spec` profile answers what the spec types (object `error`, "" ids of empty pages, `user_data`
    for `evals` files). The fragment documents few 4xx, so status-code checks do not apply;
    `downloadFile` is documented as JSON while files are bytes, so content types are not checked.
    The hooks file's check is `response_schema_conformance` with the fragment's two known defects
    tolerated (bare `Error` bodies for some errors; ambiguous `oneOf` message unions), see there.
    """
    output = _schemathesis(
        [
            str(FRAGMENT),
            f"--url={evals_spec.base_url}",
            "--checks=not_a_server_error,response_schema_conformance_enveloped",
        ],
        tmp_path,
        SCHEMATHESIS_HOOKS=str(HOOKS),
    )
    assert "17 selected / 17 total" in output, output[-3000:]


def test_own_openapi_evals_paths(evals_spec: RunningServer, tmp_path: Path) -> None:
    """Every other check on the new paths of the document the emulator publishes."""
    output = _schemathesis(
        [
            f"{evals_spec.url}/openapi.json",
            "--checks=all",
            "--exclude-checks=positive_data_acceptance",
            PATHS,
        ],
        tmp_path,
    )
    tested = re.search(r"Tested: (\d+)", output)
    assert tested is not None and int(tested.group(1)) >= 17, output[-3000:]
    assert "Traceback" not in output
