"""graders-emulator: OpenAI's graders, kept working: a library, a local server and reward adapters.

The library face is `run`, `validate`, `Grader`, `Result`, `GraderError` and `Sandbox`; importing the
package stays light (the grading engine loads on first use).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Grader", "GraderError", "Result", "Sandbox", "__version__", "run", "validate"]

if TYPE_CHECKING:
    from graders_emulator.library import Grader, GraderError, Result, Sandbox, run, validate


def __getattr__(name: str) -> Any:
    if name in __all__:
        from graders_emulator import library

        return getattr(library, name)
    raise AttributeError(f"module 'graders_emulator' has no attribute {name!r}")
