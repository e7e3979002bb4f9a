"""Liveness and readiness, outside /v1, for Docker HEALTHCHECK and compose."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from graders_emulator import __version__
from graders_emulator.metrics import wordnet

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up.")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Ready to grade; reports sandbox protections and WordNet state.")
async def readyz(request: Request) -> dict[str, Any]:
    protections = request.app.state.sandbox.protections()
    return {
        "status": "ready",
        "version": __version__,
        "response_profile": request.app.state.settings.response_profile,
        "sandbox": protections,
        "metrics": wordnet.status(),
    }
