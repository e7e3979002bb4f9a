"""Servers for the Evals API tests: the `spec` profile (what strict SDKs accept) and the default one."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from graders_emulator.testing import RunningServer

# No preloaded modules: the workers of these servers fork fast; the graders below import nothing.
EVALS_SETTINGS = {"python_preload": [], "python_workers": 2}


@pytest.fixture(scope="session")
def evals_spec(make_emulator: Callable[..., RunningServer]) -> RunningServer:
    """`response_profile="spec"`: strict SDK validation passes (integer-free shapes, empty ids as "")."""
    return make_emulator(response_profile="spec", **EVALS_SETTINGS)


@pytest.fixture(scope="session")
def evals_real(make_emulator: Callable[..., RunningServer]) -> RunningServer:
    """The default `real` profile, as most users run it."""
    return make_emulator(**EVALS_SETTINGS)
