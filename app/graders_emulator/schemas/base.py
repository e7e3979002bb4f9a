"""The one extra-fields policy of every wire model."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


class WireModel(BaseModel):
    """Base of every wire object.

    Unknown keys are kept aside (`model_extra`) rather than refused, so that one setting decides at
    request time: ignored by default (OpenAI's own guide sends `pass_threshold`), a 400 in strict mode.
    They are never echoed back. Types are strict, as on the live API: `true` is not a number and
    `"42"` is not an integer (an integer is still a valid number).
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True, strict=True)


def _integral_float_as_int(value: object) -> object:
    # JSON Schema counts 5.0 as an integer and some JSON encoders write one; strict mode would refuse it.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WireInt = Annotated[int, BeforeValidator(_integral_float_as_int)]
"""An integer on the wire: 5 or 5.0, never "5" or true."""
PositiveWireInt = Annotated[int, Field(ge=1), BeforeValidator(_integral_float_as_int)]
"""A WireInt >= 1 (the constraint before the validator, or the JSON schema shows `ge` for `minimum`)."""
