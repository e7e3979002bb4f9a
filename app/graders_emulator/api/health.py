"""Liveness and readiness, outside /v1, for Docker HEALTHCHECK and compose."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter

from graders_emulator import __version__
from graders_emulator.api.deps import SandboxDep, SettingsDep
from graders_emulator.metrics import wordnet
from graders_emulator.sandbox.packages import installed_versions

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up.")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Ready to grade; reports sandbox protections and WordNet state.")
async def readyz(settings: SettingsDep, sandbox: SandboxDep) -> dict[str, Any]:
    return {
        "status": "ready",
        "version": __version__,
        "response_profile": settings.response_profile,
        "sandbox": sandbox.protections(),
        "metrics": wordnet.status(),
        # Metadata reads scan site-packages (~0.5 s the first time): off the event loop, then cached.
        "python_packages": await asyncio.to_thread(installed_versions),
    }
