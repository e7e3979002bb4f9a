"""Fixtures for the sandbox tests: pools in both protection modes, run from a background event loop."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sandbox_helpers import CANARY_ENV, CANARY_SECRET, MODES, PoolHandle, close_pool, open_mode_pool


@pytest.fixture(scope="module", params=MODES)
def pool(request: pytest.FixtureRequest) -> Iterator[PoolHandle]:
    """A 2-worker pool with the realistic preload, as root (namespaces) and as uid 10001 (no capabilities)."""
    os.environ[CANARY_ENV] = CANARY_SECRET  # set before the zygotes start: they must not inherit it
    handle = open_mode_pool(request.param)
    try:
        yield handle
    finally:
        close_pool(handle)
        os.environ.pop(CANARY_ENV, None)


@pytest.fixture
def mode(pool: PoolHandle) -> str:
    unprivileged = pool.uid_switch is not None or pool.pool.force_unprivileged or os.geteuid() != 0
    return "unprivileged" if unprivileged else "root-namespaces"
