"""Text-similarity metrics: the registry of pure `(input, reference) -> float` functions and `score`."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

from graders_emulator.metrics.bleu import bleu, gleu, meteor
from graders_emulator.metrics.cosine import cosine_of_vectors, lexical_cosine
from graders_emulator.metrics.errors import MetricUnavailable
from graders_emulator.metrics.fuzzy import fuzzy_match
from graders_emulator.metrics.rouge import rouge_l, rouge_n_metric

EvaluationMetric = Literal[
    "cosine",
    "fuzzy_match",
    "bleu",
    "gleu",
    "meteor",
    "rouge_1",
    "rouge_2",
    "rouge_3",
    "rouge_4",
    "rouge_5",
    "rouge_l",
]

Metric = Callable[[str, str], float]
"""`(input, reference) -> float`: the input is the graded text, the reference what it is compared with."""

METRICS: dict[str, Metric] = {
    "cosine": lexical_cosine,
    "fuzzy_match": fuzzy_match,
    "bleu": bleu,
    "gleu": gleu,
    "meteor": meteor,
    **{f"rouge_{n}": rouge_n_metric(n) for n in range(1, 6)},
    "rouge_l": rouge_l,
}


def score(metric: str, input: str, reference: str) -> float:
    """The metric's value as a Python float in [0, 1] (NaN becomes 0.0).

    Raises ValueError for an unknown metric and MetricUnavailable when meteor has no WordNet.
    """
    try:
        compute = METRICS[metric]
    except KeyError:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}") from None
    return clamp(compute(input, reference))


def clamp(value: float) -> float:
    """`value` as a float in [0, 1]; NaN (never expected) becomes 0.0 rather than leaking into a reward."""
    if type(value) is float and 0.0 <= value <= 1.0:  # the usual case, kept cheap for short texts
        return value
    value = float(value)
    if math.isnan(value):
        return 0.0
    return min(1.0, max(0.0, value))


__all__ = [
    "METRICS",
    "EvaluationMetric",
    "Metric",
    "MetricUnavailable",
    "clamp",
    "cosine_of_vectors",
    "score",
]
