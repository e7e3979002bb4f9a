"""What every reward adapter shares: loading the grader, completion -> model_sample, the error policy, flag counts."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from graders_emulator.library import Grader, Result

RFT_ERROR_REWARD = 0.0  # OpenAI's RFT: a sample whose grading raised an error flag is rewarded 0.0
_GRADERS: dict[str, Grader] = {}
_GRADERS_LOCK = threading.Lock()


def load_grader(grader: Any, **options: Any) -> Grader:
    """A Grader from a Grader, a dict (OpenAI's grader JSON), its JSON text or a path to a JSON file."""
    if isinstance(grader, Grader):
        return grader
    if isinstance(grader, str | Path) and not str(grader).lstrip().startswith("{"):
        path = Path(grader)
        if not path.is_file():
            raise FileNotFoundError(f"grader file not found: {path}")
    return Grader(grader, **options)


def cached_grader(grader: Any, **options: Any) -> Grader:
    """`load_grader`, once per distinct grader and options in this process (verl calls once per sample)."""
    if isinstance(grader, Grader):
        return grader
    key = json.dumps(
        [str(grader) if isinstance(grader, Path) else grader, options], sort_keys=True, default=str
    )
    with _GRADERS_LOCK:
        found = _GRADERS.get(key)
        if found is None:
            found = _GRADERS[key] = load_grader(grader, **options)
        return found


def completion_text(completion: Any) -> str:
    """The model_sample of a completion: the text itself, or the last assistant message's text."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        return content_text(completion.get("content"))
    if isinstance(completion, Sequence):
        messages = [m for m in completion if isinstance(m, Mapping)]
        assistant = [m for m in messages if m.get("role") == "assistant"]
        chosen = assistant[-1] if assistant else (messages[-1] if messages else None)
        return content_text(chosen.get("content")) if chosen is not None else ""
    return "" if completion is None else str(completion)


def content_text(content: Any) -> str:
    """A message's content as text: a string, or the text parts of a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        parts = [p.get("text", "") for p in content if isinstance(p, Mapping) and p.get("type") == "text"]
        return "".join(str(part) for part in parts)
    return "" if content is None else str(content)


class FlagCounts:
    """How many samples were graded and how many raised each error flag (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.samples = 0
        self.flags: Counter[str] = Counter()

    def add(self, results: Iterable[Result]) -> Counter[str]:
        """Count a graded batch; returns this batch's own flag counts."""
        batch: Counter[str] = Counter()
        graded = 0
        for result in results:
            graded += 1
            batch.update(result.flags)
        with self._lock:
            self.samples += graded
            self.flags.update(batch)
        return batch

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"samples": self.samples, **dict(self.flags)}


class RewardPolicy:
    """A grader plus the error policy and the counters one adapter keeps."""

    def __init__(self, grader: Any, on_error: float | None = RFT_ERROR_REWARD, **options: Any) -> None:
        self.grader = load_grader(grader, **options)
        self.on_error = on_error
        self.counts = FlagCounts()

    @property
    def flag_counts(self) -> dict[str, int]:
        """`{"samples": n, flag: count, ...}` over every sample this adapter graded."""
        return self.counts.snapshot()

    def reward(self, result: Result) -> float | None:
        """The reward, or `on_error` when grading raised an error flag."""
        return self.on_error if result.flags else result.reward

    def grade(self, rows: Sequence[tuple[str, Any]]) -> list[Result]:
        results = self.grader.grade_many(rows)
        self.counts.add(results)
        return results

    async def agrade(self, rows: Sequence[tuple[str, Any]]) -> list[Result]:
        results = await self.grader.agrade_many(rows)
        self.counts.add(results)
        return results


def default_name(grader: Grader, fallback: str = "grader") -> str:
    """A name fit for a metric key: the grader's name, else its type."""
    raw = grader.name or grader.type or fallback
    cleaned = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in raw).strip("_")
    return cleaned or fallback
