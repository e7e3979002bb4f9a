"""Liveness and readiness, outside /v1, for Docker HEALTHCHECK and compose."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request

from graders_emulator import __version__
from graders_emulator.metrics import wordnet
from graders_emulator.sandbox.packages import installed_versions

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up.")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Ready to grade; reports sandbox protections and WordNet state.")
async def readyz(request: Request) -> dict[str, Any]:
    sandbox = request.app.state.sandbox
    protections = sandbox.protections() if hasattr(sandbox, "protections") else {"mode": "disabled"}
    return {
        "status": "ready",
        "version": __version__,
        "response_profile": request.app.state.settings.response_profile,
        "sandbox": protections,
        "metrics": wordnet.status(),
        # Metadata reads scan site-packages (~0.5 s the first time): off the event loop, then cached.
        "python_packages": await asyncio.to_thread(installed_versions),
    }
