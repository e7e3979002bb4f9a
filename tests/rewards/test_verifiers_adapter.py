"""The verifiers rubric function, called as verifiers 0.3.1's legacy Rubric calls reward functions.

verifiers 0.3.1 (downloaded wheel, read; its dependencies would downgrade openai here, so it is not
installed): verifiers/legacy/rubrics/rubric.py `score_objects` (125-141) offers prompt, completion,
answer, state, info and task; `_call_individual_reward_func` (184-218) passes the names in the
function's signature (everything to a `**kwargs` function), awaits via `maybe_await`
(legacy/utils/async_utils.py 36-40) and takes `float()`, 0.0 on an exception; `score_group` (363-396)
gathers one call per rollout concurrently.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest
import reward_graders as rg

from graders_emulator.rewards import rubric_function


async def _maybe_await(func: Any, **kwargs: Any) -> Any:
    result = func(**kwargs)
    return await result if inspect.isawaitable(result) else result


async def _call_individual_reward_func(func: Any, state: dict[str, Any]) -> float:
    sig = inspect.signature(func)
    merged = {
        "prompt": state["prompt"],
        "completion": state["completion"],
        "answer": state.get("answer", ""),
        "state": state,
        "info": state.get("info", {}),
        "task": "default",
    }
    if any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
        allowed = merged
    else:
        allowed = {k: v for k, v in merged.items() if k in sig.parameters}
    try:
        return float(await _maybe_await(func, **allowed))
    except Exception:
        return 0.0


async def _score_group(func: Any, states: list[dict[str, Any]]) -> list[float]:
    return list(await asyncio.gather(*(_call_individual_reward_func(func, state) for state in states)))


def _state(completion: str, answer: str, info: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "prompt": [{"role": "user", "content": "capital?"}],
        "completion": [{"role": "assistant", "content": completion}],
        "answer": answer,
        "info": info or {},
    }


def test_rollouts_scored_concurrently_are_one_batch_with_independent_values() -> None:
    reward = rubric_function(rg.MULTI)
    calls: list[int] = []
    original = reward.policy.agrade

    async def counting(rows: Any) -> Any:
        calls.append(len(rows))
        return await original(rows)

    reward.policy.agrade = counting  # type: ignore[method-assign]
    completions, answers = ["Paris", "it is Rome", "Lisbon"], ["Paris", "Rome", "Madrid"]
    got = asyncio.run(_score_group(reward, [_state(c, a) for c, a in zip(completions, answers, strict=True)]))
    assert got == pytest.approx([rg.multi(c, a) for c, a in zip(completions, answers, strict=True)])
    assert calls == [3]  # the three concurrent calls were graded as one batch
    assert reward.__name__ == "answer_quality"


def test_info_is_the_item_and_errors_give_zero() -> None:
    reward = rubric_function(rg.PYTHON_LENGTH, name="length")
    states = [_state("abcd", "", {"target_length": 8}), _state("boom", "", {"target_length": 8})]
    assert asyncio.run(_score_group(reward, states)) == [0.5, 0.0]
    assert reward.flag_counts == {"samples": 2, "python_grader_runtime_error": 1}
