"""`parity` over the planted recording: exactly the planted differences, in table and JSON form."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import Recording
from recording_helpers import PLANTED, cli

from graders_emulator.recording import pytest_cases
from graders_emulator.recording.parity import ParityReport

UPSTREAM_FAILURES = {"rate-limited", "server-fails", "times-out", "after-upstream-stopped"}


@pytest.fixture(scope="module")
def parity_json(recording: Recording) -> tuple[int, dict[str, object]]:
    done = cli("parity", str(recording.directory), "--format", "json")
    return done.returncode, json.loads(done.stdout)


def test_parity_finds_exactly_the_planted_differences(parity_json: tuple[int, dict[str, object]]) -> None:
    code, report = parity_json
    assert code == 1
    differences = report["differences"]
    assert isinstance(differences, list)
    assert {(d["grader"], d["field"]) for d in differences} == PLANTED
    assert len(differences) == len(PLANTED)
    by_field = {(d["grader"], d["field"]): d for d in differences}
    assert by_field[("planted-score", "reward")]["recorded"] == 0.125
    flag = by_field[("planted-flag", "metadata.errors.model_grader_refusal_error_details")]
    assert (flag["recorded"], flag["emulated"]) == ("planted refusal", None)
    assert (
        by_field[("planted-400", "status")]["recorded"],
        by_field[("planted-400", "status")]["emulated"],
    ) == (
        400,
        200,
    )
    assert all(d["cassette"].startswith("run-") and d["cassette"].endswith(".json") for d in differences)


def test_parity_json_counts_and_skips(parity_json: tuple[int, dict[str, object]]) -> None:
    _, report = parity_json
    assert report["cases"] == 14
    skipped = report["skipped"]
    assert isinstance(skipped, list) and len(skipped) == len(UPSTREAM_FAILURES)
    assert report["agree"] == 14 - len(UPSTREAM_FAILURES) - 3  # three graders carry the planted differences


def test_parity_table(recording: Recording) -> None:
    done = cli("parity", str(recording.directory))
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[-1] == "14 cases: 7 agree, 3 differ (5 differences), 4 skipped"
    differ = [line for line in lines if line.startswith("DIFFER")]
    assert sorted(line.split()[-1] for line in differ) == ["planted-400", "planted-flag", "planted-score"]
    assert "        reward: recorded 0.125, emulated " in done.stdout
    assert "        status: recorded 400, emulated 200" in done.stdout
    assert sum(1 for line in lines if line.startswith("skip")) == 4
    assert sum(1 for line in lines if line.startswith("agree")) == 7


def test_tolerance_absorbs_a_small_float_difference(recording: Recording, tmp_path: Path) -> None:
    """A recorded reward 1e-7 off: a difference at the default 1e-9, none at --tolerance 1e-6."""
    source = next(
        p for p in recording.directory.glob("run-*.json") if '"name": "fuzzy-guide"' in p.read_text()
    )
    data = json.loads(source.read_text())
    data["response"]["body"]["reward"] += 1e-7
    data["response"]["body_encoding"] = "compact"
    (tmp_path / source.name).write_text(json.dumps(data))
    ((strict,),) = (param.values for param in pytest_cases(tmp_path))
    assert [d.field for d in strict.differences()] == ["reward"]
    ((loose,),) = (param.values for param in pytest_cases(tmp_path, tolerance=1e-6))
    assert loose.differences() == []
    assert cli("parity", str(tmp_path), "--tolerance", "1e-6").returncode == 0


def test_pytest_helper_turns_the_recording_into_cases(recording: Recording) -> None:
    cases = pytest_cases(recording.directory)
    assert len(cases) == 14
    assert all(case.id.endswith(".json") for case in cases)
    failing, skipped, passing = [], [], []
    for param in cases:
        (case,) = param.values
        if case.skip_reason:
            skipped.append(case)
        elif case.differences():
            failing.append(case)
        else:
            passing.append(case)
    assert (len(failing), len(skipped), len(passing)) == (3, 4, 7)
    with pytest.raises(AssertionError, match=r"reward: recorded 0\.125"):
        next(c for c in failing if "planted-score" in json.dumps(c.cassette.request_json)).check()


def test_report_object_matches_the_cli(
    recording: Recording, parity_json: tuple[int, dict[str, object]]
) -> None:
    import asyncio

    from graders_emulator.recording.parity import run_parity
    from graders_emulator.settings import Settings

    report: ParityReport = asyncio.run(run_parity(recording.directory, Settings(python_workers=1)))
    assert report.to_json()["differences"] == parity_json[1]["differences"]


def test_parity_usage_errors(tmp_path: Path) -> None:
    assert cli("parity").returncode == 2
    missing = cli("parity", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "is not a directory" in missing.stderr
    shutil.rmtree(tmp_path)
