"""TRL (GRPOTrainer, RLOOTrainer, and Unsloth, which wraps them): a grader as a reward function.

TRL 1.16 calls each reward function once per generation batch as
`f(prompts=..., completions=..., completion_ids=..., **columns)` (trl/trainer/grpo_trainer.py,
`_calculate_rewards`), where `columns` holds every other dataset column as a list plus
`trainer_state`, `log_extra`, `log_metric` and (with environments) `environments`; it expects one
`float | None` per completion and names the function by its `__name__` in its logs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from graders_emulator.library import Result
from graders_emulator.rewards.policy import RFT_ERROR_REWARD, RewardPolicy, completion_text, default_name

TRL_ARGUMENTS = frozenset({"trainer_state", "log_extra", "log_metric", "environments"})


class _TRLReward:
    """Shared by the sync and async forms: rows from TRL's arguments, sub-rewards and flags to log_metric."""

    def __init__(self, grader: Any, *, name: str | None, on_error: float | None, **options: Any) -> None:
        self.policy = RewardPolicy(grader, on_error=on_error, **options)
        self.__name__ = name or default_name(self.policy.grader)
        self.__qualname__ = self.__name__

    @property
    def flag_counts(self) -> dict[str, int]:
        return self.policy.flag_counts

    def rows(self, completions: Sequence[Any], columns: Mapping[str, Any]) -> list[tuple[str, Any]]:
        """(model_sample, item) per completion; the item is that completion's dataset row."""
        data = {key: value for key, value in columns.items() if key not in TRL_ARGUMENTS}
        rows = []
        for index, completion in enumerate(completions):
            item = {key: _at(value, index) for key, value in data.items()}
            rows.append((completion_text(completion), item))
        return rows

    def finish(self, results: list[Result], columns: Mapping[str, Any]) -> list[float | None]:
        log_metric = columns.get("log_metric")
        if callable(log_metric) and results:
            _log(log_metric, self.__name__, results)
        return [self.policy.reward(result) for result in results]


class TRLReward(_TRLReward):
    """A synchronous TRL reward function."""

    def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] | None = None,
        completion_ids: Sequence[Any] | None = None,
        **columns: Any,
    ) -> list[float | None]:
        results = self.policy.grade(self.rows(completions or [], columns))
        return self.finish(results, columns)


class TRLAsyncReward(_TRLReward):
    """An async TRL reward function: TRL runs async reward functions concurrently on its own loop."""

    async def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] | None = None,
        completion_ids: Sequence[Any] | None = None,
        **columns: Any,
    ) -> list[float | None]:
        results = await self.policy.agrade(self.rows(completions or [], columns))
        return self.finish(results, columns)


def trl(
    grader: Any, *, name: str | None = None, on_error: float | None = RFT_ERROR_REWARD, **options: Any
) -> TRLReward:
    """A TRL reward function grading each completion with `grader` (dict, JSON text or a JSON file path).

    `on_error`: the reward of a sample whose grading raised an error flag: 0.0 as in OpenAI's RFT, or
    None (TRL then ignores that sample for this function). `options` are the library's (Settings fields,
    `sandbox=`). The function's `flag_counts` says how many samples hit each error flag.
    """
    return TRLReward(grader, name=name, on_error=on_error, **options)


def trl_async(
    grader: Any, *, name: str | None = None, on_error: float | None = RFT_ERROR_REWARD, **options: Any
) -> TRLAsyncReward:
    """The async form of `trl` (for model graders on a real endpoint, graded concurrently)."""
    return TRLAsyncReward(grader, name=name, on_error=on_error, **options)


def _at(value: Any, index: int) -> Any:
    if isinstance(value, list | tuple) and index < len(value):
        return value[index]
    return value


def _log(log_metric: Callable[[str, float], Any], name: str, results: list[Result]) -> None:
    """The batch mean of each sub-reward of a multi grader, and the share of samples per error flag."""
    sums: dict[str, float] = {}
    for result in results:
        for key, value in result.sub_rewards.items():
            sums[key] = sums.get(key, 0.0) + value
    for key, total in sums.items():
        log_metric(f"{name}/{key}", total / len(results))
    flagged: dict[str, int] = {}
    for result in results:
        for flag in result.flags:
            flagged[flag] = flagged.get(flag, 0) + 1
    for flag, count in flagged.items():
        log_metric(f"{name}/errors/{flag}", count / len(results))
