"""Bodies of the run and validate requests."""

from __future__ import annotations

from typing import Any

from graders_emulator.schemas.base import WireModel
from graders_emulator.schemas.graders import AnyGrader


class RunGraderRequest(WireModel):
    """Grade one model sample."""

    grader: AnyGrader
    """The grader to run."""
    model_sample: str
    """The model's output: fills `sample.output_text` (and `sample.output_json` when it is JSON)."""
    item: Any = None
    """The dataset item: fills the `item` namespace."""
    reference_answer: Any = None
    """Sent by SDK 1.78-1.82 instead of `item`; taken as `item = {"reference_answer": value}`."""


class ValidateGraderRequest(WireModel):
    """Check a grader without running it."""

    grader: AnyGrader
    """The grader to validate."""
