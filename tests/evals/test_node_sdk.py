"""One complete Evals flow through the official Node SDK (`openai` 6.49.0, pinned in
tests/contract/node/package.json): upload, create, run on a file, poll, paginate and filter the
output items, update, delete, 404. Expected scores from rapidfuzz called directly (CONTRACT §5)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from graders_emulator.testing import RunningServer

from .support import fuzzy

NODE_DIR = Path(__file__).resolve().parents[1] / "contract" / "node"
SCRIPT = NODE_DIR / "evals.mjs"

pytestmark = pytest.mark.node


@pytest.fixture(scope="module")
def flow(evals_real: RunningServer) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("`node` is not on PATH: install Node.js >= 20 to run the Node SDK tests.")
    if not (NODE_DIR / "node_modules" / "openai" / "package.json").is_file():
        pytest.fail("The Node SDK is not installed: run `npm ci --prefix tests/contract/node` first.")
    env = {**os.environ, "GRADERS_EMULATOR_BASE_URL": evals_real.base_url, "NODE_NO_WARNINGS": "1"}
    done = subprocess.run(
        [node, str(SCRIPT)], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=90, check=False
    )
    assert done.returncode == 0, f"node failed ({done.returncode}):\n{done.stderr}\n{done.stdout}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_node_flow_counts_and_scores(flow: dict[str, Any]) -> None:
    assert flow["file"]["purpose"] == "evals" and flow["file"]["id"].startswith("file-")
    assert flow["criteria"] == ["exact", "close"]
    assert flow["created"]["status"] == "queued"
    assert flow["run"]["status"] == "completed"
    # Hand-counted: only Paris/Paris passes both; Roma/Rome passes `close` (0.75 >= 0.7) only.
    assert flow["run"]["counts"] == {"total": 3, "errored": 0, "failed": 2, "passed": 1}
    per = {
        entry["testing_criteria"]: (entry["passed"], entry["failed"]) for entry in flow["run"]["perCriterion"]
    }
    assert per == {"exact": (1, 2), "close": (2, 1)}
    expected = [("Paris", "Paris"), ("Roma", "Rome"), ("four", "4")]
    assert [item["id"] for item in flow["items"]] == [0, 1, 2]  # two pages (limit 2), followed by the SDK
    for item, (output, answer) in zip(flow["items"], expected, strict=True):
        scores = {name: (score, passed) for name, score, passed in item["results"]}
        assert scores["exact"] == (1.0 if output == answer else 0.0, output == answer)
        assert scores["close"][0] == pytest.approx(fuzzy(output, answer), abs=1e-12)
    assert flow["passing"] == [0]


def test_node_flow_update_delete_404(flow: dict[str, Any]) -> None:
    assert flow["renamed"] == "node flow, renamed"
    assert flow["deleted"] == {"object": "eval.deleted", "deleted": True, "eval_id": flow["evalId"]}
    assert flow["notFound"] == {
        "status": 404,
        "message": f"No eval found with id '{flow['evalId']}'.",
        "param": "eval_id",
    }
