"""The TRL adapter called exactly as TRL 1.16.0 calls reward functions.

TRL 1.16.0, trl/trainer/grpo_trainer.py, `GRPOTrainer._calculate_rewards` (lines 1579-1660): every
dataset column but prompt/completion/completion_ids becomes `reward_kwargs[key] = [example[key] ...]`
(1584-1585), plus `trainer_state`, `log_extra`, `log_metric` (1588-1594) and `environments` when set
(1597-1598); a sync function is called as `reward_func(prompts=prompts, completions=completions,
completion_ids=completion_ids_list, **reward_kwargs)` (1626-1628), None becomes NaN (1630); an async one
is awaited the same way in `asyncio.gather` (1642-1657, detected by trl/trainer/utils.py
`is_async_callable`, 247-258); the function is named by `get_callable_name` (utils.py 236-244).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import reward_graders as rg
from trl.trainer.utils import get_callable_name, is_async_callable

from graders_emulator.rewards import trl, trl_async

ANSWERS = ["Paris", "Rome", "Berlin", "Madrid"]
COMPLETIONS = ["Paris", "It is Rome", "berlin", "Lisbon"]


class Trainer:
    """The pieces of GRPOTrainer that `_calculate_rewards` hands to reward functions."""

    def __init__(self) -> None:
        self.state = object()
        self.metrics: dict[str, list[float]] = defaultdict(list)
        self.extra: dict[str, list[Any]] = defaultdict(list)

    def _log_metric(self, name: str, value: float) -> None:
        self.metrics[name].append(value)

    def _log_completion_extra(self, column: str, values: list[Any]) -> None:
        self.extra[column].extend(values)

    def calculate(
        self, reward_func: Any, inputs: list[dict[str, Any]], completions: list[Any]
    ) -> list[float]:
        prompts = [example["prompt"] for example in inputs]
        keys = [key for key in inputs[0] if key not in ["prompt", "completion", "completion_ids"]]
        reward_kwargs: dict[str, Any] = {key: [example[key] for example in inputs] for key in keys}
        reward_kwargs["trainer_state"] = self.state
        reward_kwargs["log_extra"] = self._log_completion_extra
        reward_kwargs["log_metric"] = self._log_metric
        completion_ids = [[1, 2, 3] for _ in completions]
        if is_async_callable(reward_func):
            output = asyncio.run(
                reward_func(
                    prompts=prompts, completions=completions, completion_ids=completion_ids, **reward_kwargs
                )
            )
        else:
            output = reward_func(
                prompts=prompts, completions=completions, completion_ids=completion_ids, **reward_kwargs
            )
        return [reward if reward is not None else math.nan for reward in output]


def _inputs(answers: list[str]) -> list[dict[str, Any]]:
    return [{"prompt": f"Capital number {i}?", "answer": answer} for i, answer in enumerate(answers)]


def test_standard_format_multi_grader_values_and_sub_reward_metrics() -> None:
    trainer = Trainer()
    reward = trl(rg.MULTI)
    got = trainer.calculate(reward, _inputs(ANSWERS), COMPLETIONS)
    expected = [rg.multi(c, a) for c, a in zip(COMPLETIONS, ANSWERS, strict=True)]
    assert got == pytest.approx(expected)
    assert got[0] == 1.0  # exact match: 0.5 * 1 + 0.5 * 1
    assert get_callable_name(reward) == "answer_quality"
    fuzzy_mean = sum(rg.fuzzy(c, a) for c, a in zip(COMPLETIONS, ANSWERS, strict=True)) / 4
    assert trainer.metrics["answer_quality/exact"] == [pytest.approx(0.25)]  # only "Paris" is exact
    assert trainer.metrics["answer_quality/fuzzy"] == [pytest.approx(fuzzy_mean)]
    assert reward.flag_counts == {"samples": 4}


def test_conversational_format_grades_the_last_assistant_message() -> None:
    conversations = [
        [{"role": "assistant", "content": "thinking..."}, {"role": "assistant", "content": text}]
        for text in COMPLETIONS
    ]
    conversations[1] = [
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "It is "}, {"type": "text", "text": "Rome"}],
        }
    ]
    got = Trainer().calculate(trl(rg.FUZZY), _inputs(ANSWERS), conversations)
    assert got == pytest.approx([rg.fuzzy(c, a) for c, a in zip(COMPLETIONS, ANSWERS, strict=True)])


def test_the_item_is_the_dataset_row_and_the_grader_loads_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "length.json"
    path.write_text(json.dumps(rg.PYTHON_LENGTH))
    inputs = [{"prompt": "p", "target_length": n, "answer": "x"} for n in (4, 10, 2)]
    completions = ["abcd", "abc", "abcdef"]
    got = Trainer().calculate(trl(str(path)), inputs, completions)
    assert got == pytest.approx([rg.length(c, row) for c, row in zip(completions, inputs, strict=True)])


def test_errors_give_rfts_zero_or_none_and_are_counted() -> None:
    inputs = [{"prompt": "p", "target_length": 4}] * 3
    completions = ["abcd", "boom", "ab"]
    trainer = Trainer()
    default = trl(rg.PYTHON_LENGTH)
    assert trainer.calculate(default, inputs, completions) == [1.0, 0.0, 0.5]
    assert default.flag_counts == {"samples": 3, "python_grader_runtime_error": 1}
    assert trainer.metrics["length/errors/python_grader_runtime_error"] == [pytest.approx(1 / 3)]
    as_none = trl(rg.PYTHON_LENGTH, on_error=None, name="length_or_none")
    got = Trainer().calculate(as_none, inputs, completions)
    assert got[0] == 1.0 and math.isnan(got[1]) and got[2] == 0.5
    assert get_callable_name(as_none) == "length_or_none"


def test_async_variant_is_awaited_by_trls_async_path() -> None:
    reward = trl_async(rg.MULTI, name="multi_async")
    assert is_async_callable(reward)
    got = Trainer().calculate(reward, _inputs(ANSWERS), COMPLETIONS)
    assert got == pytest.approx([rg.multi(c, a) for c, a in zip(COMPLETIONS, ANSWERS, strict=True)])
