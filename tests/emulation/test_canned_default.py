"""The canned default answer follows its documented formula (README "Model graders", the docstring of
emulation/canned.py), recomputed here with hashlib: score = low + u * (high - low) rounded to 4
decimals, u = first 8 bytes (big-endian) of sha256("{seed}\\0{grader name}\\0{rendered prompt}\\0{model_sample}")
over 2**64; label = labels[the same 8 bytes mod len(labels)]."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

import graders_emulator as ge


def _hash(seed: int, name: str, prompt: str, sample: str) -> int:
    text = f"{seed}\x00{name}\x00{prompt}\x00{sample}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _score(seed: int, name: str, prompt: str, sample: str, *, low: float = 0.0, high: float = 1.0) -> float:
    return round(low + _hash(seed, name, prompt, sample) / 2**64 * (high - low), 4)


def _judge(name: str, content: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "score_model",
        "name": name,
        "model": "gpt-4o",
        "input": [{"role": "user", "content": content}],
        **extra,
    }


@pytest.mark.parametrize(
    ("sample", "seed", "options"),
    [("Paris", 0, {}), ("Lyon", 0, {}), ("Paris", 7, {"seed": 7})],
    ids=["seed-0-paris", "seed-0-lyon", "settings-seed-7"],
)
def test_default_score_is_the_documented_hash(sample: str, seed: int, options: dict[str, Any]) -> None:
    body = ge.run(_judge("judge", "Grade: {{sample.output_text}}"), sample, **options)
    # The rendered prompt is the message's text with the template filled in.
    assert body["reward"] == _score(seed, "judge", f"Grade: {sample}", sample)


def test_sampling_params_seed_wins_and_the_range_scales() -> None:
    grader = _judge("ranged", "Rate it", range=[1, 5], sampling_params={"seed": 42})
    body = ge.run(grader, "an answer", seed=7)
    # The sample counts although the prompt does not quote it.
    assert body["reward"] == _score(42, "ranged", "Rate it", "an answer", low=1.0, high=5.0)
    assert 1.0 <= body["reward"] <= 5.0


def test_default_label_is_the_documented_hash() -> None:
    labels = ["a", "b", "c", "d", "e"]
    tone = {
        "type": "label_model",
        "name": "tone",
        "model": "gpt-4o",
        "input": [{"role": "user", "content": "Label: {{sample.output_text}}"}],
        "labels": labels,
        "passing_labels": ["c"],
    }
    multi = {"type": "multi", "name": "m", "graders": {"tone": tone}, "calculate_output": "tone"}
    samples = [f"sample {n}" for n in range(12)]
    expected = {s: labels[_hash(0, "tone", f"Label: {s}", s) % len(labels)] for s in samples}
    assert "c" in expected.values() and set(expected.values()) != {"c"}  # both outcomes are checked
    for sample in samples:
        assert ge.run(multi, sample)["reward"] == (1.0 if expected[sample] == "c" else 0.0), sample
