"""`graders-emulator grade` on a generated 1,200-line dataset of mixed graders, errors included.

The expected summary is computed here from the inputs (rewards by the CONTRACT's definitions,
rapidfuzz for fuzzy_match), never read back from the command's own output.
"""

from __future__ import annotations

import json
import math
import random
import statistics
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from example_graders import EXACT, FUZZY, JUDGE, JUDGE_RULES
from rapidfuzz import fuzz, utils

MISSING_VARIABLE = {**EXACT, "name": "missing", "reference": "{{item.nope}}"}
PYTHON = {
    "type": "python",
    "name": "length",
    "source": (
        "import time\n"
        "def grade(sample, item):\n"
        "    if item.get('raise'):\n"
        "        raise ValueError('asked to fail')\n"
        "    time.sleep(item.get('sleep', 0))\n"
        "    return len(sample['output_text']) / 10\n"
    ),
}
MULTI = {
    "type": "multi",
    "name": "combined",
    "graders": {"exact": EXACT, "fuzzy": FUZZY},
    "calculate_output": "0.25 * exact + 0.75 * fuzzy",
}
WORDS = ["Paris", "paris", "Rome", "Lyon", "Paris, France", "the city of Paris", "Pariss", ""]
SLOW_LINES = (300, 900)  # python lines that sleep: they must lead the slowest list
FLAG_RUNTIME = "python_grader_runtime_error"
FLAG_VARIABLE = "invalid_variable_error"


def fuzzy(a: str, b: str) -> float:
    return fuzz.WRatio(a, b, processor=utils.default_process) / 100


@dataclass
class Expected:
    """What the summary must say, accumulated while the dataset is written."""

    lines: int = 0
    rewards: list[float] = field(default_factory=list)
    flags: Counter[str] = field(default_factory=Counter)
    bad: Counter[str] = field(default_factory=Counter)
    bad_lines: list[int] = field(default_factory=list)
    by_line: dict[int, float | None] = field(default_factory=dict)

    def graded(self, line: int, reward: float, flag: str | None = None) -> None:
        self.lines += 1
        self.rewards.append(reward)
        self.by_line[line] = reward
        if flag:
            self.flags[flag] += 1

    def refused(self, line: int, kind: str) -> None:
        self.lines += 1
        self.bad[kind] += 1
        self.bad_lines.append(line)
        self.by_line[line] = None


def _row(rng: random.Random, line: int, expected: Expected) -> str:  # noqa: PLR0911
    """One dataset line (JSON text, or garbage) and its expected outcome."""
    sample, answer = rng.choice(WORDS), rng.choice(WORDS[:4])
    if line in SLOW_LINES:
        expected.graded(line, len(sample) / 10)
        return json.dumps({"grader": PYTHON, "model_sample": sample, "item": {"sleep": 1.5}})
    kind = rng.random()
    if kind < 0.02:
        expected.refused(line, "invalid_json")
        return '{"model_sample": "Paris", "item": '  # cut short
    if kind < 0.04:
        expected.refused(line, "missing_required_parameter")
        return json.dumps({"item": {"answer": answer}})
    if kind < 0.05:
        expected.refused(line, "invalid_type")
        return json.dumps([sample, answer])
    if kind < 0.09:
        expected.graded(line, 0.0, FLAG_VARIABLE)
        return json.dumps({"grader": MISSING_VARIABLE, "model_sample": sample, "item": {"answer": answer}})
    if kind < 0.12:
        fails = rng.random() < 0.4
        expected.graded(line, 0.0 if fails else len(sample) / 10, FLAG_RUNTIME if fails else None)
        return json.dumps({"grader": PYTHON, "model_sample": sample, "item": {"raise": fails}})
    if kind < 0.16:
        sample = rng.choice(["a good answer", sample])
        expected.graded(line, 0.8 if "good" in sample else 0.2)
        return json.dumps({"grader": JUDGE, "model_sample": sample})
    if kind < 0.40:
        expected.graded(line, fuzzy(sample, answer))
        return json.dumps({"grader": FUZZY, "model_sample": sample, "item": {"answer": answer}})
    if kind < 0.55:
        expected.graded(line, 0.25 * (sample == answer) + 0.75 * fuzzy(sample, answer))
        return json.dumps({"grader": MULTI, "model_sample": sample, "item": {"answer": answer}})
    expected.graded(line, float(sample == answer))  # the default grader of --grader
    return json.dumps({"model_sample": sample, "item": {"answer": answer}, "id": line})


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Expected]:
    folder = tmp_path_factory.mktemp("grade")
    (folder / "grader.json").write_text(json.dumps(EXACT))
    (folder / "rules.yaml").write_text(JUDGE_RULES)
    rng = random.Random(20250508)
    expected = Expected()
    rows = []
    for line in range(1, 1201):
        if line % 97 == 0:
            rows.append("")  # blank lines are skipped, not counted
            continue
        rows.append(_row(rng, line, expected))
    (folder / "data.jsonl").write_text("\n".join(rows) + "\n")
    return folder, expected


def grade(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "graders_emulator.cli", "grade", "--data", str(folder / "data.jsonl")]
    command += ["--grader", str(folder / "grader.json"), "--config", str(folder / "rules.yaml"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=folder, check=False)


@pytest.fixture(scope="module")
def json_run(dataset: tuple[Path, Expected]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    folder, _ = dataset
    done = grade(folder, "--format", "json", "--jobs", "2", "--out", str(folder / "out.jsonl"))
    assert done.returncode == 1, done.stderr  # 1: the dataset has bad lines
    results = [json.loads(line) for line in (folder / "out.jsonl").read_text().splitlines()]
    return json.loads(done.stdout), results


def expected_histogram(rewards: list[float]) -> list[int]:
    """The documented definition: [min(0, r), max(1, r)] in 10 bins, the last one closed."""
    low, high = min([0.0, *rewards]), max([1.0, *rewards])
    counts = [0] * 10
    for reward in rewards:
        counts[min(9, math.floor((reward - low) / (high - low) * 10))] += 1
    return counts


def test_counts(dataset: tuple[Path, Expected], json_run: tuple[dict[str, Any], Any]) -> None:
    _, expected = dataset
    summary, _ = json_run
    assert expected.lines > 1000
    assert summary["lines"] == expected.lines
    assert summary["graded"] == len(expected.rewards)
    assert summary["bad_lines"] == sum(expected.bad.values())
    assert summary["bad_line_kinds"] == dict(expected.bad)
    assert [b["line"] for b in summary["bad_line_list"]] == expected.bad_lines


def test_reward_statistics(dataset: tuple[Path, Expected], json_run: tuple[dict[str, Any], Any]) -> None:
    _, expected = dataset
    reward = json_run[0]["reward"]
    assert reward["mean"] == pytest.approx(statistics.fmean(expected.rewards), abs=1e-9)
    assert reward["median"] == pytest.approx(statistics.median(expected.rewards), abs=1e-9)
    assert reward["min"] == pytest.approx(min(expected.rewards))
    assert reward["max"] == pytest.approx(max(expected.rewards))
    assert [b["count"] for b in reward["histogram"]] == expected_histogram(expected.rewards)


def test_flag_counts(dataset: tuple[Path, Expected], json_run: tuple[dict[str, Any], Any]) -> None:
    _, expected = dataset
    summary, _ = json_run
    assert summary["flags"] == dict(expected.flags)
    assert summary["flagged"] == sum(expected.flags.values())
    assert expected.flags[FLAG_RUNTIME] > 0 and expected.flags[FLAG_VARIABLE] > 0


def test_slowest_are_the_sleeping_lines(json_run: tuple[dict[str, Any], Any]) -> None:
    slowest = json_run[0]["slowest"]
    assert len(slowest) == 5
    # Leading, give or take one line that met a sandbox worker still forking its spare on a busy machine.
    assert set(SLOW_LINES) <= {s["line"] for s in slowest[:3]}
    # A python line's seconds is its sample's time in the sandbox, which the zygote measures between the
    # child's answers: the sleep of 1.5 s, give or take the few ms it takes to read an answer.
    assert all(
        s["seconds"] >= 1.45 and s["grader_type"] == "python" for s in slowest if s["line"] in SLOW_LINES
    )
    assert [s["seconds"] for s in slowest] == sorted((s["seconds"] for s in slowest), reverse=True)


def test_results_file(dataset: tuple[Path, Expected], json_run: tuple[dict[str, Any], Any]) -> None:
    _, expected = dataset
    _, results = json_run
    assert [r["line"] for r in results] == list(expected.by_line)  # input order, blank lines skipped
    for result in results:
        want = expected.by_line[result["line"]]
        if want is None:
            assert result["reward"] is None and result["error"]
            assert set(result["response"]["error"]) == {"message", "type", "param", "code"}
        else:
            assert result["reward"] == pytest.approx(want, abs=1e-12)
            assert result["response"]["reward"] == result["reward"]
            raised = [
                flag for flag, value in result["response"]["metadata"]["errors"].items() if value is True
            ]
            assert result["flags"] == raised


def test_one_job_gives_the_same_results(
    dataset: tuple[Path, Expected], json_run: tuple[dict[str, Any], Any]
) -> None:
    folder, _ = dataset
    done = grade(folder, "--format", "json", "--jobs", "1")
    summary = json.loads(done.stdout)
    parallel = json_run[0]
    for key in ("lines", "graded", "bad_lines", "flags", "bad_line_kinds"):
        assert summary[key] == parallel[key]
    assert summary["reward"]["mean"] == pytest.approx(parallel["reward"]["mean"], abs=1e-12)


def test_text_summary(tmp_path: Path) -> None:
    (tmp_path / "grader.json").write_text(json.dumps(EXACT))
    (tmp_path / "rules.yaml").write_text(JUDGE_RULES)
    rows = [{"model_sample": "Paris", "item": {"answer": "Paris"}}] * 3 + [{"item": {}}]
    (tmp_path / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    done = grade(tmp_path, "--jobs", "1")
    assert done.returncode == 1
    out = done.stdout
    assert out.startswith("graded 3 of 5 lines")
    assert "mean 1.0000   median 1.0000" in out
    assert "[ 0.900,  1.000]        3" in out
    assert "bad lines (2): invalid_json 1, missing_required_parameter 1" in out
    assert "line 4: missing_required_parameter" in out and "line 5: invalid_json" in out
    assert done.stderr == ""  # no progress bar without a terminal


def test_rft_dataset_rows(tmp_path: Path) -> None:
    """OpenAI RFT rows: the row is the item, the sample comes from --sample-field."""
    (tmp_path / "grader.json").write_text(json.dumps({**EXACT, "reference": "{{item.reference_answer}}"}))
    (tmp_path / "rules.yaml").write_text(JUDGE_RULES)
    rows = [
        {
            "messages": [{"role": "user", "content": "Capital?"}],
            "reference_answer": "Paris",
            "output": "Paris",
        },
        {"messages": [], "reference_answer": "Paris", "output": "Rome"},
        {"messages": [], "reference_answer": "Paris"},
    ]
    (tmp_path / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    done = grade(tmp_path, "--format", "json", "--sample-field", "output", "--out", "-")
    results = [json.loads(line) for line in done.stdout.splitlines()]
    summary = json.loads(done.stderr)  # with --out -, the summary goes to stderr
    assert [r["reward"] for r in results] == [1.0, 0.0, None]
    assert summary["bad_line_kinds"] == {"missing_required_parameter": 1}
    assert "'output'" in summary["bad_line_list"][0]["message"]


def test_invalid_grader_file_stops_before_grading(tmp_path: Path) -> None:
    (tmp_path / "grader.json").write_text(json.dumps({**EXACT, "operation": "equals"}))
    (tmp_path / "rules.yaml").write_text(JUDGE_RULES)
    (tmp_path / "data.jsonl").write_text('{"model_sample": "x"}\n')
    done = grade(tmp_path)
    assert done.returncode == 1
    assert json.loads(done.stdout)["error"]["param"] == "grader.operation"
