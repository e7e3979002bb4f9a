"""Run a real emulator server in a background thread: for tests, benchmarks and the pytest plugin."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from graders_emulator.main import create_app
from graders_emulator.serving import uvicorn_config
from graders_emulator.settings import Settings


@dataclass(frozen=True)
class RunningServer:
    """A server listening on loopback."""

    app: FastAPI
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What an OpenAI client takes as `base_url`."""
        return f"{self.url}/v1"


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """Bind before starting so that port 0 resolves to a real, already reserved port."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


@contextmanager
def serve_in_thread(
    settings: Settings | None = None, *, startup_timeout: float = 30.0
) -> Iterator[RunningServer]:
    """Start uvicorn on a free loopback port in a daemon thread; stop it on exit."""
    settings = settings or Settings(port=0)
    app = create_app(settings)
    sock = bind_socket(settings.host, settings.port)
    # A pending injected hang must not hold shutdown for minutes.
    config = uvicorn_config(
        app,
        settings,
        log_config=uvicorn.config.LOGGING_CONFIG,
        log_level="warning",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="graders-emulator", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the emulator did not start")
        time.sleep(0.01)
    try:
        yield RunningServer(app, settings.host, sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
