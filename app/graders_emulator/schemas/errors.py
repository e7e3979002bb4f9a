"""The error envelope, for the OpenAPI document."""

from __future__ import annotations

from pydantic import BaseModel


class Error(BaseModel):
    """One error, as every OpenAI endpoint reports it."""

    message: str
    """Human-readable explanation."""
    type: str
    """Error class, e.g. `invalid_request_error`, `server_error`."""
    param: str | None
    """Dotted path of the offending body field, when one is at fault."""
    code: str | None
    """Machine-readable code, e.g. `missing_required_parameter`, `invalid_api_key`."""


class ErrorResponse(BaseModel):
    """The envelope of every non-2xx answer."""

    error: Error
