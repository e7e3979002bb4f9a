"""Length-prefixed JSON frames between the server and a zygote, and between a zygote and its child."""

from __future__ import annotations

import asyncio
import json
import os
import struct
from typing import Any

FRAME_HEADER = _HEADER = struct.Struct(">I")  # 4-byte big-endian body length
MAX_FRAME = 64 * 1024 * 1024  # jobs carry request bodies (10 MiB by default) and replies carry stdout
RESULT_MAX = 64 * 1024  # a child's result line: read no more than this


class ProtocolError(Exception):
    """The peer sent something that is not a frame."""


def encode(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode()
    return _HEADER.pack(len(body)) + body


def _decode(body: bytes) -> dict[str, Any]:
    try:
        message = json.loads(body)
    except ValueError as exc:
        raise ProtocolError(f"bad frame: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError("frame is not an object")
    return message


def write_frame(fd: int, message: dict[str, Any]) -> None:
    """Blocking write of one frame (zygote side)."""
    data = memoryview(encode(message))
    while data:
        data = data[os.write(fd, data) :]


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> dict[str, Any] | None:
    """Blocking read of one frame; None at end of file (the peer is gone)."""
    header = _read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME:
        raise ProtocolError(f"frame of {size} bytes is too large")
    body = _read_exactly(fd, size)
    if body is None:
        return None
    return _decode(body)


async def read_frame_async(reader: asyncio.StreamReader) -> dict[str, Any]:
    """Read one frame from a stream; IncompleteReadError when the peer is gone."""
    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    if size > MAX_FRAME:
        raise ProtocolError(f"frame of {size} bytes is too large")
    return _decode(await reader.readexactly(size))
