"""The one extra-fields policy of every wire model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class WireModel(BaseModel):
    """Base of every wire object.

    Unknown keys are kept aside (`model_extra`) rather than refused, so that one setting decides at
    request time: ignored by default (OpenAI's own guide sends `pass_threshold`), a 400 in strict mode.
    They are never echoed back.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)
