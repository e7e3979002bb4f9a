"""Grading on Ray (the `ray` extra): `GraderBatch` for Ray Data, and an actor pool for trainers.

- `ds.map_batches(GraderBatch, fn_constructor_kwargs={"grader": g}, concurrency=N)`: each actor
  compiles the grader once and grades whole batches (python graders in sandbox batches); it reads the
  columns `model_sample` and `item` (or the ones named) and adds `reward` and `flags`.
- `RewardActorPool(grader, num_actors=N).grade(rows)`: rewards for a trainer's batch, split over actors.
`graders-emulator grade --engine ray` runs on `graders_emulator.batch.ray_engine`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import ray

from graders_emulator.rewards.policy import RFT_ERROR_REWARD, load_grader

Row = tuple[str, Any]


def _item(value: Any) -> Any:
    """A column value as an item: JSON text of an object or array is parsed, anything else kept."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


class GraderBatch:
    """A callable class for `Dataset.map_batches`: adds `reward` and `flags` (comma-separated) columns."""

    def __init__(
        self,
        grader: Any,
        *,
        sample_column: str = "model_sample",
        item_column: str | None = "item",
        reward_column: str = "reward",
        flags_column: str = "flags",
        on_error: float = RFT_ERROR_REWARD,
        **options: Any,
    ) -> None:
        self.grader = load_grader(grader, **options)
        self.sample_column = sample_column
        self.item_column = item_column
        self.reward_column = reward_column
        self.flags_column = flags_column
        self.on_error = on_error

    def __call__(self, batch: Any) -> Any:
        """A batch in numpy form (dict of arrays) or pandas form (DataFrame); the same form comes back."""
        samples = [str(sample) for sample in list(batch[self.sample_column])]
        has_items = self.item_column is not None and self.item_column in batch
        items = (
            [_item(value) for value in list(batch[self.item_column])] if has_items else [None] * len(samples)
        )
        results = self.grader.grade_many(list(zip(samples, items, strict=True)))
        batch[self.reward_column] = np.array(
            [self.on_error if result.flags else result.reward for result in results], dtype=np.float64
        )
        batch[self.flags_column] = np.array([",".join(result.flags) for result in results], dtype=object)
        return batch


class _GraderActor:
    """One Ray actor: a Grader compiled once, grading the chunks sent to it."""

    def __init__(self, grader: Any, options: dict[str, Any]) -> None:
        self.grader = load_grader(grader, **options)

    def grade(self, rows: list[Row]) -> list[tuple[float, tuple[str, ...], dict[str, float]]]:
        return [
            (result.reward, result.flags, dict(result.sub_rewards)) for result in self.grader.grade_many(rows)
        ]


class RewardActorPool:
    """`num_actors` Ray actors, each holding the grader; `grade(rows)` splits a batch over them."""

    def __init__(
        self,
        grader: Any,
        num_actors: int = 2,
        *,
        on_error: float | None = RFT_ERROR_REWARD,
        num_cpus: float = 1,
        **options: Any,
    ) -> None:
        wire = load_grader(grader, **options).wire  # validated here: a bad grader fails in the driver
        actor: Any = ray.remote(num_cpus=num_cpus)(_GraderActor)  # ray's stubs do not type handles
        self.actors: list[Any] = [actor.remote(wire, options) for _ in range(max(1, num_actors))]
        self.on_error = on_error
        self.flag_counts: dict[str, int] = {"samples": 0}

    def _refs(self, rows: Sequence[Row]) -> list[Any]:
        size = max(1, -(-len(rows) // len(self.actors)))
        chunks = [list(rows[start : start + size]) for start in range(0, len(rows), size)]
        return [a.grade.remote(chunk) for a, chunk in zip(self.actors, chunks, strict=False)]

    def _rewards(
        self, graded: list[list[tuple[float, tuple[str, ...], dict[str, float]]]]
    ) -> list[float | None]:
        rewards: list[float | None] = []
        for reward, flags, _ in itertools.chain.from_iterable(graded):
            self.flag_counts["samples"] += 1
            for flag in flags:
                self.flag_counts[flag] = self.flag_counts.get(flag, 0) + 1
            rewards.append(self.on_error if flags else reward)
        return rewards

    def grade(self, rows: Iterable[Row]) -> list[float | None]:
        """The rewards of `(model_sample, item)` rows, in order."""
        return self._rewards(ray.get(self._refs(list(rows))))

    async def agrade(self, rows: Iterable[Row]) -> list[float | None]:
        return self._rewards(list(await asyncio.gather(*self._refs(list(rows)))))

    def shutdown(self) -> None:
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []
