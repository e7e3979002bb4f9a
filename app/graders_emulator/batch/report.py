"""The human form of a batch summary, rendered from the same dict that `--format json` prints."""

from __future__ import annotations

from typing import Any

BAR_WIDTH = 40
BAD_LINES_SHOWN = 10


def render_text(summary: dict[str, Any]) -> str:
    lines = [_headline(summary)]
    reward = summary["reward"]
    if summary["graded"]:
        lines.append(
            f"reward   mean {reward['mean']:.4f}   median {reward['median']:.4f}   "
            f"min {reward['min']:.4f}   max {reward['max']:.4f}"
        )
        lines += _histogram(reward["histogram"])
    lines += _flags(summary)
    lines += _bad_lines(summary)
    lines += _slowest(summary["slowest"])
    return "\n".join(lines)


def _headline(summary: dict[str, Any]) -> str:
    rate = summary["samples_per_second"]
    speed = f" ({rate:,.0f} samples/s)" if rate else ""
    return (
        f"graded {summary['graded']:,} of {summary['lines']:,} lines in {summary['seconds']:.2f} s{speed}; "
        f"{summary['flagged']:,} flagged, {summary['bad_lines']:,} bad"
    )


def _histogram(bins: list[dict[str, Any]]) -> list[str]:
    peak = max(b["count"] for b in bins) or 1
    rows = ["histogram"]
    for index, b in enumerate(bins):
        close = "]" if index == len(bins) - 1 else ")"
        bar = "#" * round(b["count"] / peak * BAR_WIDTH)
        rows.append(f"  [{b['low']:6.3f}, {b['high']:6.3f}{close} {b['count']:8,}  {bar}")
    return rows


def _flags(summary: dict[str, Any]) -> list[str]:
    if not summary["flags"]:
        return ["flags    none"]
    width = max(len(flag) for flag in summary["flags"])
    rows = [f"flags ({summary['flagged']:,} flagged samples)"]
    rows += [f"  {flag:<{width}}  {count:8,}" for flag, count in summary["flags"].items()]
    return rows


def _bad_lines(summary: dict[str, Any]) -> list[str]:
    if not summary["bad_lines"]:
        return []
    kinds = ", ".join(f"{kind} {count:,}" for kind, count in summary["bad_line_kinds"].items())
    rows = [f"bad lines ({summary['bad_lines']:,}): {kinds}"]
    shown = summary["bad_line_list"][:BAD_LINES_SHOWN]
    rows += [f"  line {b['line']}: {b['kind']}: {_short(b['message'])}" for b in shown]
    if summary["bad_lines"] > len(shown):
        rows.append(f"  ... and {summary['bad_lines'] - len(shown):,} more (see --out or --format json)")
    return rows


def _slowest(slowest: list[dict[str, Any]]) -> list[str]:
    if not slowest:
        return []
    rows = [f"slowest {len(slowest)}"]
    rows += [f"  line {s['line']:<8} {s['seconds'] * 1000:10.2f} ms  {s['grader_type']}" for s in slowest]
    return rows


def _short(message: str, limit: int = 100) -> str:
    return message if len(message) <= limit else message[: limit - 3] + "..."
