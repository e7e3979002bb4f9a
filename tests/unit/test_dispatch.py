"""The dispatch tables cover every member of their Literals."""

from __future__ import annotations

from typing import get_args

from graders_emulator.grading.dispatch import GRADERS
from graders_emulator.grading.result import DETAIL_KEY, ERROR_KEYS, SPEC_ERROR_KEYS
from graders_emulator.metrics import METRICS, EvaluationMetric
from graders_emulator.schemas.graders import GraderType


def test_grader_dispatch_covers_every_type() -> None:
    assert set(GRADERS) == set(get_args(GraderType))


def test_metric_registry_covers_every_metric() -> None:
    assert set(METRICS) == set(get_args(EvaluationMetric))


def test_error_keys_are_consistent() -> None:
    assert len(ERROR_KEYS) == 24 and len(SPEC_ERROR_KEYS) == 14
    assert set(SPEC_ERROR_KEYS) <= set(ERROR_KEYS)
    detail_keys = {key for key in DETAIL_KEY.values() if key}
    assert set(DETAIL_KEY) | detail_keys == set(ERROR_KEYS)
