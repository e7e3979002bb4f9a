"""Ray 2.60 on a local cluster (`ray.init(num_cpus=2)`): Ray Data's map_batches, the actor pool, and
`graders-emulator grade --engine ray`; every result equals the in-process path and independent values.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
import reward_graders as rg

import graders_emulator as ge
from graders_emulator.ray import GraderBatch, RewardActorPool

# Ray Data 2.60's DataContext warns about its own deprecated fields (ray/data/context.py 1260-1330)
# whenever it is copied, which every Dataset does; nothing of ours is deprecated.
pytestmark = pytest.mark.filterwarnings(r"ignore:`\w+`.*deprecat:DeprecationWarning")

SAMPLES = ["Paris", "paris", "It is Rome", "Berlin", "Lisbon", "Madrid!", "", "Rome"] * 5
ANSWERS = ["Paris", "Paris", "Rome", "Berlin", "Madrid", "Madrid", "Rome", "Rome"] * 5


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def test_map_batches_adds_rewards_equal_to_the_in_process_path(cluster: str) -> None:
    rows = [{"model_sample": s, "item": {"answer": a}} for s, a in zip(SAMPLES, ANSWERS, strict=True)]
    ds = ray.data.from_items(rows).map_batches(
        GraderBatch, fn_constructor_kwargs={"grader": rg.MULTI}, concurrency=2, batch_size=8
    )
    out = sorted(
        ds.take_all(),
        key=lambda row: rows.index({"model_sample": row["model_sample"], "item": dict(row["item"])}),
    )
    in_process = ge.Grader(rg.MULTI).grade_many([(r["model_sample"], r["item"]) for r in rows])
    by_sample = {(r["model_sample"], r["item"]["answer"]): r["reward"] for r in out}
    for row, local in zip(rows, in_process, strict=True):
        key = (row["model_sample"], row["item"]["answer"])
        assert by_sample[key] == local.reward == pytest.approx(rg.multi(*key))
    assert {r["flags"] for r in out} == {""}


def test_named_columns_and_json_text_items(cluster: str) -> None:
    rows = [
        {"text": s, "row": json.dumps({"answer": a})} for s, a in zip(SAMPLES[:8], ANSWERS[:8], strict=True)
    ]
    ds = ray.data.from_items(rows).map_batches(
        GraderBatch,
        fn_constructor_kwargs={"grader": rg.FUZZY, "sample_column": "text", "item_column": "row"},
        concurrency=1,
        batch_size=4,
    )
    got = {(r["text"], json.loads(r["row"])["answer"]): r["reward"] for r in ds.take_all()}
    assert got == {key: pytest.approx(rg.fuzzy(*key)) for key in got}
    assert len(got) == 8


def test_actor_pool_grades_a_trainer_batch_with_a_python_grader(cluster: str) -> None:
    pool = RewardActorPool(rg.PYTHON_LENGTH, num_actors=1)
    try:
        rows = [("abcd", {"target_length": 8}), ("boom", {"target_length": 8}), ("ab", {"target_length": 2})]
        assert pool.grade(rows) == [0.5, 0.0, 1.0]
        assert pool.flag_counts == {"samples": 3, "python_grader_runtime_error": 1}
    finally:
        pool.shutdown()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "graders_emulator.cli", "grade", *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=300, env=os.environ.copy(), check=False
    )


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("grader", [rg.MULTI, rg.PYTHON_LENGTH], ids=["multi", "python"])
def test_cli_engine_ray_equals_the_local_engine(cluster: str, tmp_path: Path, grader: dict[str, Any]) -> None:
    grader_file = tmp_path / "grader.json"
    grader_file.write_text(json.dumps(grader))
    data = tmp_path / "data.jsonl"
    with data.open("w") as out:
        for sample, answer in zip(SAMPLES, ANSWERS, strict=True):
            out.write(
                json.dumps({"model_sample": sample, "item": {"answer": answer, "target_length": 5}}) + "\n"
            )
    common = ["--grader", str(grader_file), "--data", str(data), "--quiet", "--format", "json"]
    on_ray = _cli(
        *common, "--out", str(tmp_path / "ray.jsonl"), "--engine", "ray", "--address", cluster, "--jobs", "2"
    )
    assert on_ray.returncode == 0, on_ray.stderr[-3000:]
    local = _cli(*common, "--out", str(tmp_path / "local.jsonl"), "--jobs", "1")
    assert local.returncode == 0, local.stderr[-3000:]
    ray_lines, local_lines = _lines(tmp_path / "ray.jsonl"), _lines(tmp_path / "local.jsonl")
    assert len(ray_lines) == len(SAMPLES)
    for remote, here in zip(ray_lines, local_lines, strict=True):
        assert (remote["line"], remote["reward"], remote["flags"]) == (
            here["line"],
            here["reward"],
            here["flags"],
        )
        for body in (remote["response"], here["response"]):
            body["metadata"].pop("execution_time")
        assert remote["response"] == here["response"]
    assert not json.loads(on_ray.stdout)["bad_lines"]
