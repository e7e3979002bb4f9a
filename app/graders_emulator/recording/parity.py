"""Parity over a cassette directory: grade each recorded request locally, compare, report."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graders_emulator.recording.cassette import Cassette, load_dir
from graders_emulator.recording.compare import Difference, compare, grader_label, skip_reason
from graders_emulator.recording.local import LocalEmulator
from graders_emulator.settings import Settings

DEFAULT_TOLERANCE = 1e-9


@dataclass
class CaseResult:
    """One cassette's verdict."""

    cassette: Cassette
    differences: list[Difference] = field(default_factory=list)
    skipped: str | None = None

    @property
    def verdict(self) -> str:
        return "skip" if self.skipped else ("DIFFER" if self.differences else "agree")


@dataclass
class ParityReport:
    """All verdicts of one parity run."""

    results: list[CaseResult]

    @property
    def differences(self) -> list[Difference]:
        return [d for result in self.results for d in result.differences]

    @property
    def agree(self) -> int:
        return sum(1 for r in self.results if r.verdict == "agree")

    @property
    def ok(self) -> bool:
        return not self.differences

    def to_json(self) -> dict[str, Any]:
        return {
            "cases": len(self.results),
            "agree": self.agree,
            "differences": [d.to_json() for d in self.differences],
            "skipped": [
                {"cassette": r.cassette.name, "reason": r.skipped} for r in self.results if r.skipped
            ],
        }

    def json_text(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False)

    def table(self) -> str:
        """One line per case (and one indented line per difference), then the summary."""
        lines = []
        for result in self.results:
            cassette = result.cassette
            line = f"{result.verdict:6}  {cassette.name}  {cassette.endpoint}  {grader_label(cassette)}"
            lines.append(line + (f"  ({result.skipped})" if result.skipped else ""))
            for d in result.differences:
                lines.append(
                    f"        {d.field}: recorded {_shown(d.recorded)}, emulated {_shown(d.emulated)}"
                )
        differing = sum(1 for r in self.results if r.differences)
        skipped = sum(1 for r in self.results if r.skipped)
        lines.append(
            f"{len(self.results)} cases: {self.agree} agree, {differing} differ "
            f"({len(self.differences)} differences), {skipped} skipped"
        )
        return "\n".join(lines)


def _shown(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


async def check_all(
    cassettes: Iterable[Cassette], local: LocalEmulator, tolerance: float = DEFAULT_TOLERANCE
) -> list[CaseResult]:
    results = []
    for cassette in cassettes:
        reason = skip_reason(cassette)
        if reason is not None:
            results.append(CaseResult(cassette, skipped=reason))
            continue
        status, body = await local.answer(cassette)
        results.append(CaseResult(cassette, compare(cassette, status, body, tolerance)))
    return results


async def run_parity(
    directory: Path, settings: Settings | None = None, tolerance: float = DEFAULT_TOLERANCE
) -> ParityReport:
    """Grade every cassette of `directory` with the emulator (built from `settings`) and compare."""
    cassettes = list(load_dir(Path(directory)))
    async with LocalEmulator(settings) as local:
        return ParityReport(await check_all(cassettes, local, tolerance))
