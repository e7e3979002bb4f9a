"""Shared fixtures: a real emulator server on a free loopback port, and official SDK clients for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import openai
import pytest

from graders_emulator.settings import Settings
from graders_emulator.testing import RunningServer, serve_in_thread

API_KEY = "sk-test-emulator-0000"
RUN_PATH = "/v1/fine_tuning/alpha/graders/run"
VALIDATE_PATH = "/v1/fine_tuning/alpha/graders/validate"

# Short sandbox limits keep hostile-grader tests fast; everything else is the shipped default.
TEST_SETTINGS: dict[str, Any] = {"port": 0, "python_timeout_s": 5.0, "python_workers": 2}


@pytest.fixture(scope="session")
def emulator() -> Iterator[RunningServer]:
    """One server for the whole session, with default settings."""
    with serve_in_thread(Settings(**TEST_SETTINGS)) as server:
        yield server


@pytest.fixture(scope="session")
def make_emulator() -> Iterator[Callable[..., RunningServer]]:
    """Start a server with other settings, e.g. `make_emulator(response_profile="spec")`; stopped at the end."""
    with ExitStack() as stack:

        def start(**overrides: Any) -> RunningServer:
            return stack.enter_context(serve_in_thread(Settings(**{**TEST_SETTINGS, **overrides})))

        yield start


@pytest.fixture
def client(emulator: RunningServer) -> Iterator[openai.OpenAI]:
    """The official SDK, validating every response strictly against its own types."""
    with openai.OpenAI(base_url=emulator.base_url, api_key=API_KEY, _strict_response_validation=True) as sdk:
        yield sdk


@pytest.fixture
def lenient_client(emulator: RunningServer) -> Iterator[openai.OpenAI]:
    """The official SDK in its default (non-validating) mode, as most users run it."""
    with openai.OpenAI(base_url=emulator.base_url, api_key=API_KEY) as sdk:
        yield sdk
