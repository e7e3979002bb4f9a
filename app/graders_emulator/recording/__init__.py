"""Record OpenAI's graders answers, replay them offline, and measure the emulator against them (parity).

Import-light: the parts load on first use (`graders_emulator.recording.pytest_cases`, ...).
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "pytest_cases": "graders_emulator.recording.cases",
    "ParityCase": "graders_emulator.recording.cases",
    "run_parity": "graders_emulator.recording.parity",
    "ParityReport": "graders_emulator.recording.parity",
    "Difference": "graders_emulator.recording.compare",
    "compare": "graders_emulator.recording.compare",
    "Cassette": "graders_emulator.recording.cassette",
    "load_dir": "graders_emulator.recording.cassette",
    "write_suite": "graders_emulator.recording.suite",
}

__all__ = [
    "Cassette",
    "Difference",
    "ParityCase",
    "ParityReport",
    "compare",
    "load_dir",
    "pytest_cases",
    "run_parity",
    "write_suite",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
