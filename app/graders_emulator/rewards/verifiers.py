"""verifiers / prime-rl: a grader as a rubric reward function.

verifiers' Rubric (0.3.1, verifiers/legacy/rubrics/rubric.py, `_call_individual_reward_func`) reads the
function's signature, passes the objects it names among `prompt, completion, answer, state, info, task`
(all of them to a `**kwargs` function), awaits the result if it is awaitable and takes `float()` of it.
Calls made concurrently (one per rollout) are graded together as one batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from graders_emulator.library import Result
from graders_emulator.rewards.policy import RFT_ERROR_REWARD, RewardPolicy, completion_text, default_name


def item_of(answer: Any, info: Any) -> dict[str, Any]:
    """The grader's item: `info` (a dict) with the dataset's `answer` added under that name."""
    item = dict(info) if isinstance(info, Mapping) else {}
    item["answer"] = answer
    return item


class RubricReward:
    """An async rubric function; concurrent calls from one event loop are graded as one batch."""

    def __init__(self, grader: Any, *, name: str | None, on_error: float, **options: Any) -> None:
        self.policy = RewardPolicy(grader, on_error=on_error, **options)
        self.__name__ = name or default_name(self.policy.grader)
        self.__qualname__ = self.__name__
        self._pending: list[tuple[tuple[str, Any], asyncio.Future[Result]]] = []
        self._sending: set[asyncio.Task[None]] = set()

    @property
    def flag_counts(self) -> dict[str, int]:
        return self.policy.flag_counts

    async def __call__(
        self,
        prompt: Any = None,
        completion: Any = None,
        answer: Any = None,
        info: Any = None,
        state: Any = None,
    ) -> float:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        if not self._pending:
            loop.call_soon(loop.call_soon, self._flush)  # the other rollouts' calls join this batch
        self._pending.append(((completion_text(completion), item_of(answer, info)), future))
        result = await future
        reward = self.policy.reward(result)
        return float(reward if reward is not None else RFT_ERROR_REWARD)

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        task = asyncio.ensure_future(self._grade(pending))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _grade(self, pending: list[tuple[tuple[str, Any], asyncio.Future[Result]]]) -> None:
        try:
            results = await self.policy.agrade([row for row, _ in pending])
        except Exception as exc:
            for _, future in pending:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(pending, results, strict=True):
            if not future.done():
                future.set_result(result)


def rubric_function(
    grader: Any, *, name: str | None = None, on_error: float = RFT_ERROR_REWARD, **options: Any
) -> RubricReward:
    """A verifiers reward function: `vf.Rubric(funcs=[rubric_function("g.json")], weights=[1.0])`."""
    return RubricReward(grader, name=name, on_error=on_error, **options)
