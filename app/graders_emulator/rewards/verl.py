"""verl: a grader as `custom_reward_function` (the file verl loads by `path`, the function by `name`).

verl 0.9.1 loads `compute_score` with `verl.trainer.ppo.reward.get_custom_reward_fn`, binding
`reward_kwargs` from the config (here `grader`: a path to the grader JSON, or the JSON itself), and calls
it per sample as `compute_score(data_source=, solution_str=, ground_truth=, extra_info=)`
(`NaiveRewardManager`) or, with `reward_manager=batch`, once per batch as
`compute_score(data_sources=, solution_strs=, ground_truths=, extra_infos=)` (`BatchRewardManager`).
A float is the reward; a dict's `"score"` is the reward and its other keys are logged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from graders_emulator.library import Result
from graders_emulator.rewards.policy import RFT_ERROR_REWARD, FlagCounts, cached_grader

# Flag counts of every grader this process graded through verl (per grader object), for logging.
COUNTS: dict[int, FlagCounts] = {}


def item_of(ground_truth: Any, extra_info: Any) -> dict[str, Any]:
    """The grader's `item`: `extra_info` with `ground_truth` added under that name."""
    item = dict(extra_info) if isinstance(extra_info, Mapping) else {}
    item["ground_truth"] = ground_truth
    return item


def compute_score(
    data_source: Any = None,
    solution_str: str = "",
    ground_truth: Any = None,
    extra_info: Any = None,
    *,
    grader: Any,
    on_error: float | None = RFT_ERROR_REWARD,
    **options: Any,
) -> float | dict[str, Any]:
    """One sample: the reward, or `{"score": reward, **sub_rewards}` for a multi grader."""
    loaded = cached_grader(grader, **options)
    result = loaded.grade(solution_str, item_of(ground_truth, extra_info))
    _counts(loaded).add([result])
    return _score(result, loaded.type, on_error)


def compute_score_batch(
    data_sources: Sequence[Any] | None = None,
    solution_strs: Sequence[str] = (),
    ground_truths: Sequence[Any] | None = None,
    extra_infos: Sequence[Any] | None = None,
    *,
    grader: Any,
    on_error: float | None = RFT_ERROR_REWARD,
    **options: Any,
) -> list[float | dict[str, Any]]:
    """The batch form (`reward_manager: batch`): every sample graded at once."""
    loaded = cached_grader(grader, **options)
    truths = list(ground_truths) if ground_truths is not None else [None] * len(solution_strs)
    extras = list(extra_infos) if extra_infos is not None else [None] * len(solution_strs)
    rows = [
        (str(text), item_of(truth, extra))
        for text, truth, extra in zip(solution_strs, truths, extras, strict=True)
    ]
    results = loaded.grade_many(rows)
    _counts(loaded).add(results)
    return [_score(result, loaded.type, on_error) for result in results]


def _score(result: Result, grader_type: str, on_error: float | None) -> float | dict[str, Any]:
    reward = on_error if result.flags else result.reward
    score = 0.0 if reward is None else reward  # verl writes the score into a tensor: it needs a number
    if grader_type != "multi":
        return score
    return {"score": score, **result.sub_rewards, "grading_errors": len(result.flags)}


def flag_counts(grader: Any, **options: Any) -> dict[str, int]:
    """`{"samples": n, flag: count, ...}` over every sample this process graded with that grader."""
    return _counts(cached_grader(grader, **options)).snapshot()


def _counts(grader: Any) -> FlagCounts:
    return COUNTS.setdefault(id(grader), FlagCounts())
