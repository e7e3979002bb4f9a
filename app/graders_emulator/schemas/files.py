"""Files API wire objects (openai-python `types/file_object.py`, `file_deleted.py`): declarations only."""

from __future__ import annotations

from typing import Literal

from graders_emulator.schemas.base import WireModel

UploadPurpose = Literal["assistants", "batch", "fine-tune", "vision", "user_data", "evals"]


class FileObject(WireModel):
    """An uploaded file."""

    id: str
    """`file-` + 22 characters."""
    object: Literal["file"]
    """Always `file`."""
    bytes: int
    """Size in bytes."""
    created_at: int
    """Unix seconds."""
    expires_at: int | None = None
    """Never set by the emulator."""
    filename: str
    """The uploaded file's name."""
    purpose: str
    """As uploaded (`evals` is reported as `user_data` in the `spec` profile, whose enum lacks it)."""
    status: Literal["uploaded", "processed", "error"]
    """Always `processed`."""
    status_details: str | None = None
    """Never set."""


class FileList(WireModel):
    """A page of files."""

    object: Literal["list"]
    """Always `list`."""
    data: list[FileObject]
    """The files."""
    first_id: str | None
    """The first id of `data`."""
    last_id: str | None
    """The last id of `data`."""
    has_more: bool
    """Whether a next page exists."""


class FileDeleted(WireModel):
    """A file was deleted."""

    id: str
    """The file."""
    object: Literal["file"]
    """Always `file`."""
    deleted: bool
    """Always true."""
