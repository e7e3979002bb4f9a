"""`graders-emulator validate` and `graders-emulator run`: one grader, one sample, through app.service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from example_graders import EXACT as NAMED_EXACT
from example_graders import unnamed

from graders_emulator.cli import main

EXACT = unnamed(NAMED_EXACT)  # validate generates the name


@pytest.fixture
def grader_file(tmp_path: Path) -> Path:
    path = tmp_path / "grader.json"
    path.write_text(json.dumps({**EXACT, "name": "exact", "pass_threshold": 1}))
    return path


def test_validate_prints_the_normalised_grader(grader_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(grader_file)]) == 0
    grader = json.loads(capsys.readouterr().out)["grader"]
    assert list(grader) == ["type", "name", "input", "reference", "operation"]  # extras dropped, type first


def test_validate_accepts_a_request_body_and_generates_a_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "body.json"
    path.write_text(json.dumps({"grader": EXACT}))
    assert main(["validate", str(path), "--seed", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["grader"]["name"].startswith("grader-")


@pytest.mark.parametrize(
    ("change", "param"),
    [({"operation": "equals"}, "grader.operation"), ({"input": {"x": 1}}, "grader.input")],
    ids=["bad-enum", "bad-type"],
)
def test_validate_prints_the_400_envelope(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, object], param: str
) -> None:
    path = tmp_path / "grader.json"
    path.write_text(json.dumps({**EXACT, **change}))
    assert main(["validate", str(path)]) == 1
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"


def test_strict_rejects_unknown_keys(grader_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(grader_file), "--strict"]) == 1
    assert "pass_threshold" in json.loads(capsys.readouterr().out)["error"]["message"]


def test_run_prints_the_response(grader_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(grader_file), "--sample", "Paris", "--item", '{"answer": "Paris"}']) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["reward"] == 1.0 and body["metadata"]["name"] == "exact"
    assert list(body) == ["reward", "metadata", "sub_rewards", "model_grader_token_usage_per_model"]


def test_run_reads_the_item_from_a_file(
    grader_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "item.json").write_text('{"answer": "Rome"}')
    assert main(["run", str(grader_file), "--sample", "Paris", "--item", f"@{tmp_path / 'item.json'}"]) == 0
    assert json.loads(capsys.readouterr().out)["reward"] == 0.0


def test_run_reports_a_missing_variable_as_a_flag(
    grader_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(grader_file), "--sample", "Paris"]) == 0
    errors = json.loads(capsys.readouterr().out)["metadata"]["errors"]
    assert errors["invalid_variable_error"] is True


def test_run_a_python_grader(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "py.json"
    path.write_text(
        json.dumps(
            {"type": "python", "name": "py", "source": "def grade(s, i):\n    return len(s['output_text'])\n"}
        )
    )
    assert main(["run", str(path), "--sample", "four"]) == 0
    assert json.loads(capsys.readouterr().out)["reward"] == 4.0


def test_run_a_bad_template_namespace_is_a_400(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "grader.json"
    path.write_text(json.dumps({**EXACT, "input": "{{ other.x }}"}))
    assert main(["run", str(path), "--sample", "x"]) == 1
    assert json.loads(capsys.readouterr().out)["error"]["type"] == "invalid_request_error"


def test_usage_errors_exit_2(tmp_path: Path, grader_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "absent.json")]) == 2
    assert main(["run", str(grader_file), "--sample", "x", "--item", "{not json"]) == 2
    assert "--item is not JSON" in capsys.readouterr().err
