"""The summary of a batch run: counts, reward statistics, a 10-bin histogram, flags, slowest lines.

Histogram (documented so that anyone can recompute it): the range is [low, high] with
low = min(0, smallest reward) and high = max(1, largest reward); bin i of 10 holds the rewards r
with min(9, floor((r - low) / (high - low) * 10)) == i, so the last bin also holds `high`.
"""

from __future__ import annotations

import heapq
import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from graders_emulator.batch.grading import LineResult

BINS = 10
BAD_LINES_KEPT = 1000  # line numbers listed in the summary; every bad line is still counted


def histogram(rewards: list[float]) -> tuple[float, float, list[int]]:
    """(low, high, counts of the 10 bins) as the module docstring defines them."""
    low = min(0.0, *rewards) if rewards else 0.0
    high = max(1.0, *rewards) if rewards else 1.0
    counts = [0] * BINS
    for reward in rewards:
        counts[min(BINS - 1, math.floor((reward - low) / (high - low) * BINS))] += 1
    return low, high, counts


@dataclass
class Summary:
    """Accumulates results as they arrive (in any order)."""

    slowest_kept: int = 5
    lines: int = 0
    rewards: list[float] = field(default_factory=list)
    flagged: int = 0
    flags: Counter[str] = field(default_factory=Counter)
    bad_kinds: Counter[str] = field(default_factory=Counter)
    bad_lines: list[tuple[int, str, str]] = field(default_factory=list)
    _slowest: list[tuple[float, int, str]] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, result: LineResult) -> None:
        self.lines += 1
        if result.reward is None:
            self.bad_kinds[result.error_kind or "invalid_request"] += 1
            if len(self.bad_lines) < BAD_LINES_KEPT:
                self.bad_lines.append((result.line, result.error_kind or "", result.message or ""))
            return
        self.rewards.append(result.reward)
        if result.flags:
            self.flagged += 1
            self.flags.update(result.flags)
        entry = (result.seconds, -result.line, result.grader_type or "")  # ties: the earlier line
        if len(self._slowest) < self.slowest_kept:
            heapq.heappush(self._slowest, entry)
        elif self.slowest_kept:
            heapq.heappushpop(self._slowest, entry)

    @property
    def graded(self) -> int:
        return len(self.rewards)

    @property
    def bad(self) -> int:
        return self.lines - self.graded

    def slowest(self) -> list[dict[str, Any]]:
        ordered = sorted(self._slowest, reverse=True)
        return [{"line": -line, "seconds": seconds, "grader_type": kind} for seconds, line, kind in ordered]

    def as_json(self) -> dict[str, Any]:
        """The machine summary (`--format json`)."""
        low, high, counts = histogram(self.rewards)
        width = (high - low) / BINS
        bins = [
            {"low": low + i * width, "high": low + (i + 1) * width, "count": n} for i, n in enumerate(counts)
        ]
        rewards = self.rewards
        return {
            "lines": self.lines,
            "graded": self.graded,
            "bad_lines": self.bad,
            "reward": {
                "mean": statistics.fmean(rewards) if rewards else None,
                "median": statistics.median(rewards) if rewards else None,
                "min": min(rewards) if rewards else None,
                "max": max(rewards) if rewards else None,
                "histogram": bins,
            },
            "flagged": self.flagged,
            "flags": dict(sorted(self.flags.items())),
            "bad_line_kinds": dict(sorted(self.bad_kinds.items())),
            "bad_line_list": [{"line": n, "kind": k, "message": m} for n, k, m in sorted(self.bad_lines)],
            "slowest": self.slowest(),
            "seconds": self.seconds,
            "samples_per_second": self.lines / self.seconds if self.seconds > 0 else None,
        }
