"""A cassette directory as pytest cases: hold the emulator to your own recordings in CI.

    import pytest
    from graders_emulator.recording import pytest_cases

    @pytest.mark.parametrize("case", pytest_cases("tests/parity"))
    def test_emulator_matches_recording(case):
        case.check()  # AssertionError listing every difference

One in-process emulator (started on first use, in a background thread with its own event loop, closed
at exit) grades the cases of a session; settings come from the environment, or `settings=`.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from graders_emulator.recording.cassette import Cassette, load_dir
from graders_emulator.recording.compare import Difference, compare, skip_reason
from graders_emulator.recording.local import LocalEmulator
from graders_emulator.settings import Settings

T = TypeVar("T")


class _Background:
    """A LocalEmulator living in a daemon thread's event loop, callable from synchronous tests."""

    def __init__(self, settings: Settings | None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="parity-emulator", daemon=True)
        self.thread.start()
        self.local = LocalEmulator(settings)
        self.call(self.local.__aenter__())

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result()

    def close(self) -> None:
        try:
            self.call(self.local.__aexit__(None, None, None))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)


_emulators: dict[str, _Background] = {}
_lock = threading.Lock()


def _emulator(settings: Settings | None) -> _Background:
    key = settings.model_dump_json() if settings is not None else ""
    with _lock:
        if key not in _emulators:
            _emulators[key] = _Background(settings)
        return _emulators[key]


@atexit.register
def _close_all() -> None:
    for emulator in _emulators.values():
        emulator.close()
    _emulators.clear()


@dataclass(frozen=True)
class ParityCase:
    """One cassette as a test case."""

    cassette: Cassette
    tolerance: float = 1e-9
    settings: Settings | None = None

    @property
    def skip_reason(self) -> str | None:
        return skip_reason(self.cassette)

    def differences(self) -> list[Difference]:
        """What the emulator answers differently from the recording (empty: they agree)."""
        status, body = _emulator(self.settings).call(_answer(self.cassette, self.settings))
        return compare(self.cassette, status, body, self.tolerance)

    def check(self) -> None:
        """Skip a recording of an upstream failure (it says nothing about grading); else assert parity."""
        if self.skip_reason is not None:
            import pytest

            pytest.skip(self.skip_reason)
        found = self.differences()
        if found:
            lines = [f"{d.field}: recorded {d.recorded!r}, emulated {d.emulated!r}" for d in found]
            raise AssertionError(f"{self.cassette.name} ({len(found)} differences):\n" + "\n".join(lines))


async def _answer(cassette: Cassette, settings: Settings | None) -> tuple[int, bytes]:
    return await _emulators[settings.model_dump_json() if settings is not None else ""].local.answer(cassette)


def pytest_cases(
    directory: str | Path, *, tolerance: float = 1e-9, settings: Settings | None = None
) -> list[Any]:
    """`pytest.param(ParityCase, id=<cassette file name>)` for every cassette of `directory`."""
    import pytest

    return [
        pytest.param(ParityCase(cassette, tolerance, settings), id=cassette.name)
        for cassette in load_dir(Path(directory))
    ]
