"""Servers with non-default settings for the contract tests (one each per session / xdist worker)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from graders_emulator.testing import RunningServer

GOOD_KEY = "sk-good-1234"


@pytest.fixture(scope="session")
def spec_emulator(make_emulator: Callable[..., RunningServer]) -> RunningServer:
    """`response_profile="spec"`: the 14 spec error keys and integer token_usage (what strict SDKs accept)."""
    return make_emulator(response_profile="spec")


@pytest.fixture(scope="session")
def keyed_emulator(make_emulator: Callable[..., RunningServer]) -> RunningServer:
    """Only `sk-good-1234` is accepted."""
    return make_emulator(api_keys=[GOOD_KEY])


@pytest.fixture(scope="session")
def small_body_emulator(make_emulator: Callable[..., RunningServer]) -> RunningServer:
    """Bodies over 1000 bytes get a 413."""
    return make_emulator(max_body_bytes=1000)


@pytest.fixture(scope="session")
def strict_graders_emulator(make_emulator: Callable[..., RunningServer]) -> RunningServer:
    """Unknown keys inside graders are a 400."""
    return make_emulator(strict_graders=True)
