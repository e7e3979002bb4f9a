"""Fixtures for the sandbox tests: pools in both protection modes, run from a background event loop."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sandbox_helpers import CANARY_ENV, CANARY_SECRET, MODES, PoolHandle, close_pool, open_pool


@pytest.fixture(scope="module", params=MODES)
def pool(request: pytest.FixtureRequest) -> Iterator[PoolHandle]:
    """A 2-worker pool with the realistic preload, as root (namespaces) and forced unprivileged."""
    os.environ[CANARY_ENV] = CANARY_SECRET  # set before the zygotes start: they must not inherit it
    handle = open_pool(force_unprivileged=request.param == "unprivileged")
    try:
        yield handle
    finally:
        close_pool(handle)
        os.environ.pop(CANARY_ENV, None)


@pytest.fixture
def mode(pool: PoolHandle) -> str:
    return "unprivileged" if pool.pool.force_unprivileged or os.geteuid() != 0 else "root-namespaces"
