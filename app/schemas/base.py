"""The one extra-fields policy of every wire model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class WireModel(BaseModel):
    """Base of every wire object.

    Unknown keys are kept aside (`model_extra`) rather than refused, so that one setting decides at
    request time: ignored by default (OpenAI's own guide sends `pass_threshold`), a 400 in strict mode.
    They are never echoed back. Types are strict, as on the live API: `true` is not a number and
    `"42"` is not an integer (an integer is still a valid number).
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True, strict=True)
