"""The emulator as users meet it in a container, through the official OpenAI SDK.

Collected only when GRADERS_EMULATOR_E2E_URL is set (see conftest.py); docker/e2e.sh builds the image,
starts the compose service and runs this module against it with GRADERS_EMULATOR_E2E_CONTAINER=1.
A subset of the SDK tests: one of each kind users rely on first, plus what only the image can prove
(the sandbox's protections in an unprivileged container, WordNet baked into the image, the numpy
package set, the mounted example config).
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai
import pytest
from example_graders import EXACT

RUN_PATH = "/v1/fine_tuning/alpha/graders/run"
READY_TIMEOUT_S = 90.0

# nltk's own meteor.doctest pair; 0.6944... needs WordNet (synonyms and stems), computed with nltk 3.9.
METEOR_HYPOTHESIS = (
    "It is a guide to action which ensures that the military always obeys the commands of the party"
)
METEOR_REFERENCE = "It is a guide to action that ensures that the military will forever heed Party commands"
METEOR_EXPECTED = 0.6944444444444445

STRING_CHECK = EXACT


def _run(sdk: openai.OpenAI, grader: dict[str, Any], sample: str = "Paris", **item: Any) -> Any:
    return sdk.fine_tuning.alpha.graders.run(
        grader=grader,  # type: ignore[arg-type]
        model_sample=sample,
        item=item or {"answer": "Paris"},
    )


def _raised_flags(result: Any) -> list[str]:
    errors = result.metadata.errors.model_dump()
    return sorted(name for name, value in errors.items() if value is True)


@pytest.fixture(scope="module")
def ready(http: httpx.Client) -> dict[str, Any]:
    """/readyz once a sandbox worker is warm and WordNet has loaded (both warm up in the background)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = http.get("/readyz")
        assert response.status_code == 200, response.text
        body = response.json()
        sandbox, metrics = body.get("sandbox", {}), body.get("metrics", {})
        if sandbox.get("warm", 0) >= 1 and metrics.get("wordnet") in ("loaded", "missing"):
            return body
        time.sleep(0.5)
    pytest.fail(f"not ready after {READY_TIMEOUT_S:.0f} s: {body}")


# --- health and readiness -------------------------------------------------------------------------


def test_healthz(http: httpx.Client) -> None:
    response = http.get("/healthz")
    assert response.status_code == 200, response.text


def test_readyz_reports_the_sandbox_protections(ready: dict[str, Any], in_container: bool) -> None:
    sandbox = ready["sandbox"]
    print(f"\nsandbox protections reported by /readyz: {sandbox}")
    assert ready["status"] == "ready"
    assert sandbox["seccomp"] is True, sandbox
    assert sandbox["landlock"], sandbox  # the Landlock ABI in use
    assert sandbox["rlimits"], sandbox
    if in_container:
        # An unprivileged default container: no CAP_SYS_ADMIN, so no namespaces and no tmpfs; the
        # disk watchdog replaces the per-job tmpfs, and the sandbox says why in its notes.
        assert sandbox["mode"] == "unprivileged", sandbox
        assert (sandbox["netns"], sandbox["pidns"], sandbox["mountns_tmpfs"]) == (False, False, False)
        assert sandbox["disk_watchdog"] is True, sandbox
        assert sandbox["notes"], sandbox


def test_readyz_reports_wordnet_from_the_image(ready: dict[str, Any], in_container: bool) -> None:
    metrics = ready["metrics"]
    assert metrics["wordnet"] == "loaded", metrics
    if in_container:
        # Copied at build time into GRADERS_EMULATOR_NLTK_DATA (owned by the non-root user).
        assert metrics["source"].startswith("/home/grader/nltk_data/corpora/wordnet"), metrics


# --- graders through the SDK ----------------------------------------------------------------------


def test_string_check(sdk: openai.OpenAI) -> None:
    assert _run(sdk, STRING_CHECK, "Paris").reward == 1.0
    assert _run(sdk, STRING_CHECK, "Lyon").reward == 0.0


def test_meteor_uses_wordnet_in_the_image(sdk: openai.OpenAI) -> None:
    grader = {
        "type": "text_similarity",
        "name": "meteor",
        "input": "{{ sample.output_text }}",
        "reference": "{{ item.reference }}",
        "evaluation_metric": "meteor",
    }
    result = _run(sdk, grader, METEOR_HYPOTHESIS, reference=METEOR_REFERENCE)
    assert _raised_flags(result) == []
    assert result.reward == pytest.approx(METEOR_EXPECTED, abs=1e-9)


PYTHON_GRADERS = {
    # The python-grader package set is in the image.
    "numpy-and-scipy": (
        "import numpy as np\nfrom scipy import stats\n"
        "def grade(sample, item):\n"
        "    ok = sample['output_text'] == item['answer']\n"
        "    return float(np.mean([ok, ok])) * float(stats.norm.cdf(50.0))\n"
    ),
    "package-set": (
        "import deepdiff, jsonschema, pandas, sklearn.metrics, sqlparse, sympy\n"
        "def grade(sample, item):\n"
        "    frame = pandas.DataFrame({'a': [1, 2]})\n"
        "    x = sympy.Symbol('x')\n"
        "    checks = [\n"
        "        int(frame['a'].sum()) == 3,\n"
        "        sympy.integrate(2 * x, x) == x**2,\n"
        "        sklearn.metrics.accuracy_score([1, 0], [1, 0]) == 1.0,\n"
        "        not deepdiff.DeepDiff({'a': 1}, {'a': 1}),\n"
        "        sqlparse.format('select 1', keyword_case='upper') == 'SELECT 1',\n"
        "    ]\n"
        "    jsonschema.validate(1, {'type': 'integer'})\n"
        "    return float(all(checks))\n"
    ),
    # Landlock: files outside the interpreter, libraries and the job dir are unreadable.
    "etc-passwd-unreadable": (
        "def grade(sample, item):\n"
        "    try:\n        open('/etc/passwd').read()\n    except PermissionError:\n        return 1.0\n"
        "    return 0.0\n"
    ),
    # seccomp: no sockets, no new processes.
    "no-sockets": (
        "import socket\n"
        "def grade(sample, item):\n"
        "    try:\n        socket.socket()\n    except PermissionError:\n        return 1.0\n"
        "    return 0.0\n"
    ),
    "no-subprocess": (
        "import subprocess\n"
        "def grade(sample, item):\n"
        "    try:\n        subprocess.run(['id'], check=False)\n    except PermissionError:\n        return 1.0\n"
        "    return 0.0\n"
    ),
    # The job dir is writable.
    "tempfile-writable": (
        "import tempfile\n"
        "def grade(sample, item):\n"
        "    with tempfile.NamedTemporaryFile('w+') as f:\n"
        "        f.write('x' * 1000); f.flush(); f.seek(0)\n"
        "        return len(f.read()) / 1000\n"
    ),
}


@pytest.mark.parametrize("name", sorted(PYTHON_GRADERS), ids=sorted(PYTHON_GRADERS))
def test_python_grader_in_the_sandbox(sdk: openai.OpenAI, ready: dict[str, Any], name: str) -> None:
    result = _run(sdk, {"type": "python", "name": name, "source": PYTHON_GRADERS[name]})
    assert _raised_flags(result) == [], result.metadata
    assert result.reward == 1.0, result.metadata
    assert result.metadata.type == "python"


def test_python_grader_runtime_error_is_a_flag(sdk: openai.OpenAI) -> None:
    source = "def grade(sample, item):\n    raise ValueError('boom')\n"
    result = _run(sdk, {"type": "python", "name": "raises", "source": source})
    assert result.reward == 0.0
    assert _raised_flags(result) == ["python_grader_runtime_error"]


# --- the mounted example config (docker/example-config.yaml) ---------------------------------------


def _config_rule_ids(http: httpx.Client) -> set[str]:
    response = http.get("/_emulator/rules")
    assert response.status_code == 200, response.text
    return {str(rule.get("id")) for rule in response.json()["data"]}


def test_score_model_canned_answer_from_the_mounted_config(sdk: openai.OpenAI, http: httpx.Client) -> None:
    if "accuracy-paris" not in _config_rule_ids(http):
        pytest.skip("the emulator runs without docker/example-config.yaml (no rule 'accuracy-paris')")
    grader = {
        "type": "score_model",
        "name": "accuracy",
        "model": "gpt-4o",
        "range": [0, 1],
        "input": [
            {"role": "system", "content": "Grade the answer from 0 to 1."},
            {"role": "user", "content": "What is the capital of France? Answer: {{ sample.output_text }}"},
        ],
    }
    result = _run(sdk, grader, "Paris", answer="Paris")
    assert _raised_flags(result) == []
    assert result.reward == pytest.approx(0.9)


# --- an error path --------------------------------------------------------------------------------


def test_invalid_grader_is_a_400_envelope(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        _run(sdk, {**STRING_CHECK, "operation": "xyz"})
    error = caught.value.body
    assert isinstance(error, dict), error
    assert error["param"] == "grader.operation"
    assert error["code"] == "invalid_value"
    assert caught.value.request_id


def test_missing_key_is_a_401_envelope(http: httpx.Client) -> None:
    response = http.post(RUN_PATH, json={"grader": STRING_CHECK, "model_sample": "Paris"})
    assert response.status_code == 401, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"
