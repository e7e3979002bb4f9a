"""Fixtures of the emulation tests: a real server of their own, SDK clients, and a control-plane client."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
from emulation_helpers import KEY, settings

from graders_emulator.testing import RunningServer, serve_in_thread


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    """One emulator per test module; tests keep apart through sessions."""
    with serve_in_thread(settings()) as running:
        yield running


@pytest.fixture
def session() -> str:
    return "t-" + uuid.uuid4().hex[:12]


@pytest.fixture
def session_url(server: RunningServer, session: str) -> str:
    return f"{server.url}/_emulator/sessions/{session}/v1"


@pytest.fixture
def sdk(session_url: str) -> Iterator[openai.OpenAI]:
    """The official SDK on the session base URL, validating responses strictly."""
    with openai.OpenAI(base_url=session_url, api_key=KEY, _strict_response_validation=True) as client:
        yield client


@pytest.fixture
def lenient_sdk(session_url: str) -> Iterator[openai.OpenAI]:
    """The SDK in its default mode: needed where the real API's object `token_usage` is returned."""
    with openai.OpenAI(base_url=session_url, api_key=KEY) as client:
        yield client


@pytest.fixture
def control(server: RunningServer, session: str) -> Iterator[httpx.Client]:
    """An HTTP client on the session's control plane (`/_emulator/sessions/{id}/`)."""
    with httpx.Client(base_url=f"{server.url}/_emulator/sessions/{session}/", timeout=10) as client:
        yield client


@pytest.fixture
def journal(control: httpx.Client) -> Callable[..., list[dict[str, Any]]]:
    def read(**params: Any) -> list[dict[str, Any]]:
        response = control.get("journal", params=params)
        response.raise_for_status()
        data: list[dict[str, Any]] = response.json()["data"]
        return data

    return read


@pytest.fixture(scope="module")
def make_spec_server() -> Iterator[RunningServer]:
    """A server in the `spec` response profile (integer token_usage), which strict SDK validation accepts."""
    with serve_in_thread(settings(response_profile="spec")) as running:
        yield running


@pytest.fixture
def sdk_once(session_url: str) -> Iterator[openai.OpenAI]:
    """The SDK with retries off, so that the first failure is what the test sees."""
    with openai.OpenAI(base_url=session_url, api_key=KEY, max_retries=0) as client:
        yield client
