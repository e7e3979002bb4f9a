"""The uvicorn configuration every emulator server uses (`serve`, tests, the pytest plugin)."""

from __future__ import annotations

from typing import Any

import uvicorn
from fastapi import FastAPI

from graders_emulator.settings import Settings


def http_options(settings: Settings) -> dict[str, Any]:
    """uvicorn options that bound request heads, head and keep-alive time, and connections."""
    options: dict[str, Any] = {"timeout_keep_alive": settings.keep_alive_timeout_s}
    try:
        import httptools  # noqa: F401
    except ImportError:  # uvicorn without [standard]: h11 bounds the head itself (no count limit)
        options |= {"http": "h11", "h11_max_incomplete_event_size": settings.max_header_bytes}
        return options
    from graders_emulator.bounded_http import BoundedHttpToolsProtocol, HeadLimits

    limits = HeadLimits(
        max_header_bytes=settings.max_header_bytes,
        max_header_count=settings.max_header_count,
        head_timeout_s=settings.head_timeout_s,
        max_connections=settings.max_connections,
    )
    return options | {"http": BoundedHttpToolsProtocol.with_limits(limits)}


def uvicorn_config(app: FastAPI, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """A uvicorn Config for `app` with the bounds of `settings`; `overrides` win."""
    options: dict[str, Any] = {"log_config": None, "access_log": False, "lifespan": "on"}
    return uvicorn.Config(app, **(options | http_options(settings) | overrides))
