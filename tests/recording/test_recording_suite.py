"""The starter suite, recorded the way a user records it, against the emulator itself: parity exits 0.

`parity --write-suite`, `serve --upstream URL --record DIR`, `parity --send-suite SUITE --to URL`,
`parity DIR`: the commands the README gives, with another emulator as the upstream.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from recording_helpers import CALLER_KEY, cli, cli_env, cli_server

from graders_emulator.recording.suite import METRICS, PY_SOURCES, TEXT_PAIRS
from graders_emulator.settings import Settings
from graders_emulator.testing import serve_in_thread


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("suite")
    done = cli("parity", "--write-suite", str(directory))
    assert done.returncode == 0, done.stderr
    return directory


def _requests(suite: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted(suite.glob("*.json"))]


def test_suite_covers_every_metric_on_every_kind_of_text(suite: Path) -> None:
    requests = _requests(suite)
    pairs = {
        (r["body"]["grader"]["evaluation_metric"], r["body"]["item"]["reference"], r["body"]["model_sample"])  # type: ignore[index]
        for r in requests
        if isinstance(r.get("body"), dict)
        and r["body"].get("grader", {}).get("type") == "text_similarity"  # type: ignore[union-attr]
        and "item" in r["body"]  # type: ignore[operator]
    }
    assert {metric for metric, _, _ in pairs} == set(METRICS)
    assert len(pairs) == len(METRICS) * len(TEXT_PAIRS)
    samples = {sample for _, _, sample in pairs}
    assert "" in samples and any(len(str(s)) > 1000 for s in samples)
    assert any("😀" in str(s) for s in samples) and any("," in str(s) for s in samples)


def test_suite_covers_formulas_errors_templates_python_and_multi(suite: Path) -> None:
    names = [p.name.split("-", 1)[1] for p in sorted(suite.glob("*.json"))]  # without the NNN- prefix
    assert any(n == "formula-power-right-associative.json" for n in names)
    assert sum(n.startswith("error-") for n in names) >= 15
    assert sum(n.startswith("template-") for n in names) >= 15
    assert sum(n.startswith("python-") for n in names) == len(PY_SOURCES)
    assert sum(n.startswith("multi-") for n in names) >= 4
    assert all(r["format"] == "graders-emulator-suite/1" and r["about"] for r in _requests(suite))


@pytest.mark.slow
@pytest.mark.timeout(900)  # 201 requests recorded, then graded again; minutes on a loaded 2-core machine
def test_recording_of_the_emulator_itself_has_parity(suite: Path, tmp_path: Path) -> None:
    cassettes = tmp_path / "cassettes"
    settings = Settings(port=0, python_workers=2, python_timeout_s=10)
    with (
        serve_in_thread(settings) as upstream,
        cli_server("--upstream", upstream.base_url, "--record", str(cassettes)) as recorder,
    ):
        sent = cli(
            "parity", "--send-suite", str(suite), "--to", recorder, env=cli_env(OPENAI_API_KEY=CALLER_KEY)
        )
    assert sent.returncode == 0, sent.stderr
    lines = sent.stdout.splitlines()
    assert len(lines) == len(list(suite.glob("*.json")))
    assert not [line for line in lines if "failed" in line]
    assert len(list(cassettes.glob("*.json"))) == len(lines)
    done = cli("parity", str(cassettes), "--format", "json", timeout=900)
    report = json.loads(done.stdout)
    assert report["differences"] == []
    assert (done.returncode, report["cases"], report["agree"], report["skipped"]) == (
        0,
        len(lines),
        len(lines),
        [],
    )
    assert not any(CALLER_KEY in p.read_text() for p in cassettes.glob("*.json"))


def test_send_suite_needs_a_key_and_a_target(suite: Path) -> None:
    no_target = cli("parity", "--send-suite", str(suite))
    assert no_target.returncode == 2 and "--to URL" in no_target.stderr
    no_key = cli("parity", "--send-suite", str(suite), "--to", "http://127.0.0.1:9/v1", env=cli_env())
    assert no_key.returncode == 2 and "OPENAI_API_KEY" in no_key.stderr


def test_serve_refuses_record_without_upstream(tmp_path: Path) -> None:
    done = cli("serve", "--record", str(tmp_path))
    assert done.returncode == 2
    assert "--record needs --upstream URL" in done.stderr
