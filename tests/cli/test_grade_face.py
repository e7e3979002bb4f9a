"""`graders-emulator grade` graded through the library face: per line, what `graders_emulator.run` answers.

Every result line of the CLI (grouped, batched python lines included) must carry the body that
`graders_emulator.run(...)` answers for that line on its own (execution_time aside), in input order;
rewards are also checked against values computed here by hand, and crashes, timeouts and per-line
graders against the python graders' own logic.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from example_graders import EXACT, FUZZY, JUDGE, JUDGE_AND_LABEL_RULES, LABEL
from rapidfuzz import fuzz, utils

import graders_emulator as ge
from graders_emulator.errors import ApiError

TIMEOUT_S = 2  # the python wall-clock limit of these runs: the hanging line must not wait 30 s
LENGTH = {
    "type": "python",
    "name": "length",
    "source": (
        "import os, time\n"
        "def grade(sample, item):\n"
        "    text = sample['output_text']\n"
        "    if text == 'crash':\n"
        "        os._exit(3)\n"
        "    if text == 'hang':\n"
        "        time.sleep(60)\n"
        "    if text == 'raise':\n"
        "        raise ValueError('asked to fail')\n"
        "    return len(text) / 10\n"
    ),
}
MULTI = {  # a python sub-grader next to a model one and a deterministic one
    "type": "multi",
    "name": "combo",
    "graders": {"exact": EXACT, "length": LENGTH, "label": LABEL},
    "calculate_output": "0.5 * exact + 0.25 * length + 0.25 * label",
}
WORDS = ["Paris", "paris", "Rome", "a good one", "Lyon"]
DEEP_SAMPLE = "[" * 300 + "]" * 300  # JSON nested deeper than max_json_depth: the server's 400


def fuzzy(a: str, b: str) -> float:
    return fuzz.WRatio(a, b, processor=utils.default_process) / 100


def cli(folder: Path, data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "graders_emulator.cli", "grade", "--data", str(data), "--quiet"]
    command += [
        "--config",
        str(folder / "rules.yaml"),
        "--format",
        "json",
        "--out",
        str(folder / "out.jsonl"),
    ]
    env = {**os.environ, "GRADERS_EMULATOR_PYTHON_TIMEOUT_S": str(TIMEOUT_S)}
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=300, cwd=folder, env=env, check=False
    )


def results(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "out.jsonl").read_text().splitlines()]


def without_time(body: dict[str, Any]) -> dict[str, Any]:
    body = json.loads(json.dumps(body))
    if "metadata" in body:
        body["metadata"].pop("execution_time")
    return body


def run_alone(folder: Path, row: dict[str, Any]) -> dict[str, Any]:
    """What `graders_emulator.run` answers for this row on its own: the body, or the 400 envelope."""
    item = row.get("item")
    try:
        return ge.run(
            row["grader"],
            row["model_sample"],
            item,
            config=str(folder / "rules.yaml"),
            python_timeout_s=TIMEOUT_S,
        )
    except ge.GraderError as exc:
        return exc.envelope()
    except ApiError as exc:  # run() lets the per-sample bounds' 400 out unconverted (reported to the face)
        return exc.envelope()


def mixed_rows() -> list[tuple[dict[str, Any] | str, float | None]]:
    """(row, hand-computed reward or None when only run() is the expectation) for every grader type."""
    rows: list[tuple[dict[str, Any] | str, float | None]] = []
    for index in range(240):
        sample, answer = WORDS[index % 5], WORDS[(index // 5) % 3]
        item = {"answer": answer}
        kind = index % 8
        if kind == 0:
            rows.append(({"grader": EXACT, "model_sample": sample, "item": item}, float(sample == answer)))
        elif kind == 1:
            rows.append(({"grader": FUZZY, "model_sample": sample, "item": item}, fuzzy(sample, answer)))
        elif kind in (2, 3):  # python lines of one grader, interleaved with the others
            rows.append(({"grader": LENGTH, "model_sample": sample, "item": item}, len(sample) / 10))
        elif kind == 4:
            rows.append(({"grader": JUDGE, "model_sample": sample}, 0.8 if "good" in sample else 0.2))
        elif kind == 5:
            want = 0.5 * (sample == answer) + 0.25 * len(sample) / 10 + 0.25 * 1.0
            rows.append(({"grader": MULTI, "model_sample": sample, "item": item}, want))
        elif kind == 6:
            rows.append(({"grader": {**EXACT, "operation": "equals"}, "model_sample": sample}, None))
        else:
            rows.append(({"grader": EXACT, "model_sample": DEEP_SAMPLE, "item": item}, None))
    rows[10] = ('{"grader": {"type": "string_check"', None)  # not JSON
    rows[20] = ('["Paris"]', None)  # not an object
    rows[30] = ({"model_sample": "Paris"}, None)  # no grader
    return rows


@pytest.fixture(scope="module")
def mixed(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, list[Any], subprocess.CompletedProcess[str]]:
    folder = tmp_path_factory.mktemp("face")
    (folder / "rules.yaml").write_text(JUDGE_AND_LABEL_RULES)
    rows = mixed_rows()
    text = [row if isinstance(row, str) else json.dumps(row) for row, _ in rows]
    (folder / "data.jsonl").write_text("\n".join(text) + "\n")
    return folder, rows, cli(folder, folder / "data.jsonl", "--jobs", "2")


def test_every_line_is_what_run_answers_alone(mixed: tuple[Path, list[Any], Any]) -> None:
    folder, rows, done = mixed
    assert done.returncode == 1, done.stderr[-2000:]  # 1: there are bad lines
    out = results(folder)
    assert [r["line"] for r in out] == list(range(1, len(rows) + 1))  # input order
    for result, (row, want) in zip(out, rows, strict=True):
        if isinstance(row, str) or "grader" not in row:
            assert result["reward"] is None
            continue
        alone = run_alone(folder, row)
        assert without_time(result["response"]) == without_time(alone), result["line"]
        if want is not None:
            assert result["reward"] == pytest.approx(want, abs=1e-12)
        else:
            assert result["reward"] is None and "error" in alone


def test_bad_lines_keep_their_400s(mixed: tuple[Path, list[Any], Any]) -> None:
    folder, _, done = mixed
    out = {r["line"]: r for r in results(folder)}
    assert out[11]["error"] == "invalid_json"
    assert out[21]["error"] == "invalid_type"
    assert out[31]["error"] == "missing_required_parameter"
    assert out[31]["response"]["error"]["param"] == "grader"
    assert out[7]["error"] == "invalid_value" and out[7]["response"]["error"]["param"] == "grader.operation"
    assert out[8]["error"] == "invalid_value" and out[8]["response"]["error"]["param"] == "model_sample"
    summary = json.loads(done.stdout)
    # kinds 6 and 7 are bad (30 lines each); lines 11 and 21 replace good lines, line 31 a bad one
    bad = {n for n, r in out.items() if r["reward"] is None}
    assert summary["bad_lines"] == len(bad) == 30 + 30 + 2
    assert summary["graded"] == summary["lines"] - summary["bad_lines"] == 240 - 62


def test_crash_and_timeout_flag_only_their_line(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(JUDGE_AND_LABEL_RULES)
    samples = ["abc"] * 40
    samples[5], samples[17], samples[30] = "crash", "hang", "raise"
    (tmp_path / "grader.json").write_text(json.dumps(LENGTH))
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"model_sample": s}) + "\n" for s in samples))
    done = cli(tmp_path, data, "--grader", str(tmp_path / "grader.json"), "--jobs", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    out = results(tmp_path)
    flagged = {r["line"]: r for r in out if r["flags"]}
    assert set(flagged) == {6, 18, 31}
    for line, result in flagged.items():
        assert result["reward"] == 0.0 and result["flags"] == ["python_grader_runtime_error"]
        alone = run_alone(tmp_path, {"grader": LENGTH, "model_sample": samples[line - 1]})
        assert without_time(result["response"]) == without_time(alone)
    assert all(r["reward"] == 0.3 for r in out if r["line"] not in flagged)
    summary = json.loads(done.stdout)
    assert summary["flags"] == {"python_grader_runtime_error": 3}
    assert summary["slowest"][0]["line"] == 18 and summary["slowest"][0]["seconds"] >= TIMEOUT_S * 0.95


def test_a_distinct_python_grader_per_line(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(JUDGE_AND_LABEL_RULES)
    data = tmp_path / "data.jsonl"
    with data.open("w") as handle:
        for index in range(300):
            grader = {
                "type": "python",
                "name": f"g{index}",
                "source": f"def grade(s, i):\n    return {index} / 1000\n",
            }
            handle.write(json.dumps({"grader": grader, "model_sample": "x"}) + "\n")
    done = cli(tmp_path, data, "--jobs", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    out = results(tmp_path)
    assert [(r["line"], r["reward"], r["response"]["metadata"]["name"]) for r in out] == [
        (index + 1, index / 1000, f"g{index}") for index in range(300)
    ]
    summary = json.loads(done.stdout)
    assert (summary["graded"], summary["bad_lines"], summary["flagged"]) == (300, 0, 0)


def test_python_lines_of_one_grader_share_sandbox_children(tmp_path: Path) -> None:
    """A module-level counter survives between the samples of one child (allowed within one caller,
    CONTRACT §6): one child per line would give every line 1; batches give each child 1, 2, 3, ..."""
    (tmp_path / "rules.yaml").write_text(JUDGE_AND_LABEL_RULES)
    counter = {
        "type": "python",
        "name": "counter",
        "source": "CALLS = [0]\ndef grade(sample, item):\n    CALLS[0] += 1\n    return CALLS[0] / 1000\n",
    }
    (tmp_path / "grader.json").write_text(json.dumps(counter))
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"model_sample": "x"}) + "\n" for _ in range(600)))
    done = cli(tmp_path, data, "--grader", str(tmp_path / "grader.json"), "--jobs", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    counts = [round(r["reward"] * 1000) for r in results(tmp_path)]
    # Each child grades a consecutive run of lines, in order: the counts read 1, 2, ..., k, 1, 2, ...
    assert all(
        count == 1 or count == previous + 1 for previous, count in zip([0, *counts[:-1]], counts, strict=True)
    )
    children = counts.count(1)  # each child's first sample
    assert 1 <= children <= 8, children  # 600 lines: a few batches, not 600 children
