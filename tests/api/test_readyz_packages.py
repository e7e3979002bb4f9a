"""`/readyz` reports the python grader's package versions (issue 11, point 5), read from metadata."""

from __future__ import annotations

from importlib import metadata

import httpx

from graders_emulator.testing import RunningServer

# The packages of OpenAI's python-grader image that graders import (OpenAI's graders guide); written
# out here rather than taken from the code under test.
OPENAI_IMAGE_PACKAGES = (
    "numpy", "scipy", "sympy", "pandas", "scikit-learn", "rapidfuzz", "rouge-score", "deepdiff",
    "jsonschema", "pydantic", "PyYAML", "nltk", "sqlparse",
)  # fmt: skip


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def test_readyz_reports_installed_versions(emulator: RunningServer) -> None:
    packages = httpx.get(f"{emulator.url}/readyz", timeout=30).json()["python_packages"]
    assert packages == {name: _version(name) for name in OPENAI_IMAGE_PACKAGES}
    assert packages["rouge-score"] == "0.1.2"  # the version OpenAI's image pins
