"""Typed FastAPI dependencies: what a route needs from the app, as `Annotated[..., Depends()]` aliases.

All are `async def`: FastAPI runs a plain `def` dependency in a worker thread, a hop per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from graders_emulator.emulation.state import EmulationState
from graders_emulator.errors import BadRequest
from graders_emulator.grading.context import SandboxRunner
from graders_emulator.http.sessions import SESSION_ID
from graders_emulator.service import Runtime
from graders_emulator.settings import Settings


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _sandbox(request: Request) -> SandboxRunner:
    sandbox: SandboxRunner = request.app.state.sandbox
    return sandbox


async def _emulation(request: Request) -> EmulationState:
    state: EmulationState = request.app.state.emulation
    return state


async def _session(request: Request) -> str | None:
    """The `{session}` of a control-plane route under `/sessions/{session}`; None for the global scope."""
    session = request.path_params.get("session")
    if session is not None and not SESSION_ID.match(session):
        raise BadRequest("Session ids are 1-128 characters of [A-Za-z0-9._-].", param="session")
    return session


async def _rule_id(request: Request) -> str:
    """The `{rule_id}` of a control-plane route (read here so that the OpenAPI document keeps ours)."""
    rule_id: str = request.path_params["rule_id"]
    return rule_id


SettingsDep = Annotated[Settings, Depends(_settings)]
RuntimeDep = Annotated[Runtime, Depends(_runtime)]
SandboxDep = Annotated[SandboxRunner, Depends(_sandbox)]
EmulationDep = Annotated[EmulationState, Depends(_emulation)]
SessionDep = Annotated[str | None, Depends(_session)]
RuleIdDep = Annotated[str, Depends(_rule_id)]
