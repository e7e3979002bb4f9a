"""The head deadline on keep-alive connections (http/bounded_http.py), over real HTTP.

The deadline is armed only for data that leaves a head incomplete, so that a whole request read at
once costs no timer: these check that every other kind of data is still held to it, and that no
deadline is left running after a whole request. Keep-alive is long here, so only the head deadline
(1 s) can close a connection within the test's limits.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from hostile_helpers import Served, connect, read_until_closed, served

SETTINGS = {
    "port": 0,
    "python_graders": False,
    "head_timeout_s": 1.0,
    "keep_alive_timeout_s": 30.0,
}
REQUEST = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    with served(**SETTINGS) as running:
        yield running


def read_answer(sock: socket.socket) -> bytes:
    """One whole /healthz answer (head and JSON body)."""
    sock.settimeout(5)
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
        chunk = sock.recv(65536)
        assert chunk, "closed before the answer"
        answer += chunk
    return answer


def test_bytes_before_a_head_are_held_to_the_deadline(server: Served) -> None:
    """After an answer, line ends dribbled every 0.3 s begin no request: closed at the head deadline."""
    sock = connect(server.port)
    try:
        sock.sendall(REQUEST)
        assert read_answer(sock).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        closed_after = None
        while closed_after is None and time.monotonic() - started < 6:
            try:
                sock.sendall(b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                closed_after = time.monotonic() - started
                break
            sock.settimeout(0.3)
            try:
                if sock.recv(1) == b"":
                    closed_after = time.monotonic() - started
            except TimeoutError:
                pass
    finally:
        sock.close()
    assert closed_after is not None and closed_after < 3.0


def test_a_head_begun_behind_a_whole_request_is_held_to_the_deadline(server: Served) -> None:
    """A request and the start of the next one in one write: the first is answered, then closed."""
    sock = connect(server.port)
    try:
        started = time.monotonic()
        sock.sendall(REQUEST + b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        assert read_answer(sock).startswith(b"HTTP/1.1 200")
        assert read_until_closed(sock, timeout_s=5) == b""
        waited = time.monotonic() - started
    finally:
        sock.close()
    assert 0.9 <= waited < 3.0


def test_no_deadline_is_left_running_after_whole_requests(server: Served) -> None:
    """Whole requests on one connection, one past the head deadline after the other: all answered."""
    sock = connect(server.port)
    try:
        for _ in range(3):
            sock.sendall(REQUEST)
            assert read_answer(sock).startswith(b"HTTP/1.1 200")
        time.sleep(1.5)  # past head_timeout_s: a timer left armed would have closed the connection
        sock.sendall(REQUEST)
        assert read_answer(sock).startswith(b"HTTP/1.1 200")
    finally:
        sock.close()
