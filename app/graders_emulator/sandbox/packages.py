"""The python grader's package set: installed versions (from metadata) against OpenAI's image."""

from __future__ import annotations

from functools import cache
from importlib import metadata

# The distributions of OpenAI's python-grader image (tag 2025-05-08) that graders import, with the
# versions OpenAI published; None where the image's version is not published. OpenAI's graders guide
# names the packages; only nltk 3.9.1, rouge-score 0.1.2 and rapidfuzz 3.10.1 are pinned in public.
OPENAI_IMAGE: dict[str, str | None] = {
    "numpy": None,
    "scipy": None,
    "sympy": None,
    "pandas": None,
    "scikit-learn": None,
    "rapidfuzz": "3.10.1",
    "rouge-score": "0.1.2",
    "deepdiff": None,
    "jsonschema": None,
    "pydantic": None,
    "PyYAML": None,
    "nltk": "3.9.1",
    "sqlparse": None,
}


@cache
def installed_versions() -> dict[str, str | None]:
    """`{distribution: installed version or None}`, read from package metadata (nothing is imported)."""
    found: dict[str, str | None] = {}
    for name in OPENAI_IMAGE:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def differences() -> dict[str, dict[str, str | None]]:
    """The packages whose installed version is not the one OpenAI's image pins (published pins only)."""
    installed = installed_versions()
    return {
        name: {"openai_image": pinned, "installed": installed[name]}
        for name, pinned in OPENAI_IMAGE.items()
        if pinned is not None and installed[name] != pinned
    }
