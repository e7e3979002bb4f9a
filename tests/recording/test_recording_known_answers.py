"""The known real answers (tests/parity/: reconstructed from published captures) hold, through the
pytest helper and through the `parity` command, and parity notices when they stop holding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from recording_helpers import cli

from graders_emulator.recording import ParityCase, pytest_cases

KNOWN = Path(__file__).resolve().parents[1] / "parity"


@pytest.mark.parametrize("case", pytest_cases(KNOWN))
def test_known_real_answer(case: ParityCase) -> None:
    case.check()


def test_known_answers_through_the_parity_command() -> None:
    done = cli("parity", str(KNOWN), "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout) == {"cases": 3, "agree": 3, "differences": [], "skipped": []}


def test_the_known_values_are_the_published_ones() -> None:
    """Independent of the code: the literal values the contract quotes from the captures."""
    files = {p.name: json.loads(p.read_text()) for p in KNOWN.glob("*.json")}
    assert files["fuzzy-match-guide-pair.json"]["response"]["body"]["reward"] == 0.7555555555555555
    errors = files["errors-object-24-keys.json"]["response"]["body"]["metadata"]["errors"]
    assert len(errors) == 24 and list(errors)[:3] == [
        "formula_parse_error",
        "sample_parse_error",
        "sample_parse_error_details",
    ]
    assert list(errors)[-1] == "endpoint_grader_safety_check_error"
    error = files["multi-graders-single-object-400.json"]["response"]["body"]["error"]
    assert (
        error["message"] == "Invalid type for 'graders.input': expected an object, but got a string instead."
    )
    assert all(f["provenance"]["kind"] == "reconstructed" for f in files.values())


@pytest.mark.parametrize(
    ("file", "edit", "field"),
    [
        ("fuzzy-match-guide-pair.json", lambda b: b.update(reward=0.75), "reward"),
        (
            "errors-object-24-keys.json",
            lambda b: b["metadata"].update(errors=dict(reversed(list(b["metadata"]["errors"].items())))),
            "metadata.errors (key order)",
        ),
        (
            "multi-graders-single-object-400.json",
            lambda b: b["error"].update(message="something else"),
            "error.message",
        ),
    ],
    ids=["fuzzy-value", "errors-order", "multi-400-message"],
)
def test_parity_notices_a_changed_known_answer(tmp_path: Path, file: str, edit: object, field: str) -> None:
    data = json.loads((KNOWN / file).read_text())
    edit(data["response"]["body"])  # type: ignore[operator]
    data["response"]["body_encoding"] = "compact"
    (tmp_path / file).write_text(json.dumps(data))
    ((case,),) = (param.values for param in pytest_cases(tmp_path))
    assert [d.field for d in case.differences()] == [field]
