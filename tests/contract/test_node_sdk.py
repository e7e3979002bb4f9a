"""The same requests through the official Node SDK (`openai` on npm, pinned in node/package.json):
run, validate and one error, by `node node/contract.mjs` against the session's emulator."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from graders_emulator.testing import RunningServer

from .support import REAL_ERROR_KEYS, REQUEST_ID, fuzzy_match

NODE_DIR = Path(__file__).resolve().parent / "node"
SCRIPT = NODE_DIR / "contract.mjs"
INSTALL_HINT = "npm ci --prefix tests/contract/node"

pytestmark = pytest.mark.node


def _run_script(server: RunningServer) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("`node` is not on PATH: install Node.js >= 20 to run the Node SDK contract tests.")
    if not (NODE_DIR / "node_modules" / "openai" / "package.json").is_file():
        pytest.fail(f"The Node SDK is not installed: run `{INSTALL_HINT}` (from the repository root) first.")
    env = {**os.environ, "GRADERS_EMULATOR_BASE_URL": server.base_url, "NODE_NO_WARNINGS": "1"}
    result = subprocess.run(
        [node, str(SCRIPT)], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"node failed ({result.returncode}):\n{result.stderr}\n{result.stdout}"
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.fixture(scope="module")
def node_results(emulator: RunningServer) -> dict[str, Any]:
    return _run_script(emulator)


def test_node_sdk_is_the_pinned_version(node_results: dict[str, Any]) -> None:
    package = json.loads((NODE_DIR / "package.json").read_text())
    lock = json.loads((NODE_DIR / "package-lock.json").read_text())
    pinned = package["dependencies"]["openai"]
    assert pinned[0].isdigit(), "pin an exact version, not a range"
    assert lock["packages"]["node_modules/openai"]["version"] == pinned
    assert node_results["sdkVersion"] == pinned


def test_node_run(node_results: dict[str, Any]) -> None:
    run = node_results["run"]
    assert run["status"] == 200
    data = run["data"]
    assert list(data) == ["reward", "metadata", "sub_rewards", "model_grader_token_usage_per_model"]
    assert data["reward"] == 1.0
    assert data["metadata"]["name"] == "node-eq"
    assert data["metadata"]["type"] == "string_check"
    assert tuple(data["metadata"]["errors"]) == REAL_ERROR_KEYS
    assert data["metadata"]["token_usage"] is None
    assert REQUEST_ID.match(run["requestID"])
    assert run["processingMs"].isdigit()


def test_node_run_text_similarity(node_results: dict[str, Any]) -> None:
    data = node_results["runFuzzy"]["data"]
    expected = fuzzy_match("fuzzy wuzzy was a bear", "fuzzy wuzzy had no hair")
    assert data["reward"] == pytest.approx(expected, abs=1e-12)
    assert data["reward"] == pytest.approx(0.7555555555555555, abs=1e-12)  # the captured live value


def test_node_validate(node_results: dict[str, Any]) -> None:
    validate = node_results["validate"]
    assert validate["status"] == 200
    grader = validate["data"]["grader"]
    assert list(grader) == ["type", "name", "input", "reference", "operation"]
    assert grader["type"] == "string_check"
    assert grader["operation"] == "ilike"
    assert grader["name"].startswith("grader-")
    assert REQUEST_ID.match(validate["requestID"])


def test_node_bad_enum_error(node_results: dict[str, Any]) -> None:
    error = node_results["badEnum"]
    assert error["class"] == "BadRequestError"
    assert error["isBadRequest"] is True
    assert error["status"] == 400
    assert error["param"] == "grader.operation"
    assert error["code"] == "invalid_value"
    assert error["type"] == "invalid_request_error"
    message = "Invalid value: 'xyz'. Supported values are: 'eq', 'ne', 'like', and 'ilike'."
    assert error["error"] == {
        "message": message,
        "type": "invalid_request_error",
        "param": "grader.operation",
        "code": "invalid_value",
    }
    assert error["message"] == f"400 {message}"
    assert REQUEST_ID.match(error["requestID"])
