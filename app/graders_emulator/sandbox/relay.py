"""Moving a job's and a reply's bytes between fds with splice, so the zygote never holds them in memory."""

from __future__ import annotations

import contextlib
import os

CHUNK = 1 << 20


class Broken(Exception):
    """The receiving end went away; `remaining` bytes of the source were not moved."""

    def __init__(self, remaining: int, cause: OSError) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.remaining = remaining


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def forward(src: int, dst: int, count: int) -> None:
    """Move exactly `count` bytes from `src` (a pipe or socket) to pipe `dst` inside the kernel."""
    remaining = count
    while remaining:
        try:
            moved = os.splice(src, dst, min(remaining, CHUNK))
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise Broken(remaining, exc) from None
        if moved == 0:
            raise EOFError("the job's sender closed its pipe mid-frame")
        remaining -= moved


def discard(src: int, count: int) -> None:
    """Drop `count` bytes of `src` (the rest of a job nobody will run), without reading them in.

    splice needs a pipe on one side: the bytes go through a fresh pipe into /dev/null.
    """
    pipe_r, pipe_w = os.pipe()
    try:
        with open(os.devnull, "wb") as sink:
            remaining = count
            while remaining:
                moved = os.splice(src, pipe_w, min(remaining, 65536))
                if moved == 0:
                    return
                remaining -= moved
                while moved:
                    moved -= os.splice(pipe_r, sink.fileno(), moved)
    finally:
        os.close(pipe_r)
        os.close(pipe_w)


def send_file(src: int, dst: int, count: int) -> None:
    """Move the first `count` bytes of file `src` (a memfd) to `dst`, a pipe or a socket (uvloop's
    subprocess pipes are socket pairs), inside the kernel; zeros if the file came up short."""
    offset = 0
    while offset < count:
        moved = os.sendfile(dst, src, offset, count - offset)
        if moved == 0:
            break
        offset += moved
    if offset < count:  # the frame promised `count` bytes: keep the stream in step
        with contextlib.suppress(OSError):
            write_all(dst, bytes(count - offset))
