"""What one journal entry may keep: texts (rendered prompts, traces) and headers, capped in bytes.

A rendered template can be megabytes and a model grader can render a thousand messages; without a
cap every entry would pin all of it until 1000 newer requests pushed it out (issue 10, finding 9).
Sizes are counted in characters of strings (and bytes of bytes): the journal's memory is dominated
by them, and counting them is one walk that allocates nothing for entries under the cap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

TEXT_BUDGET = 256 * 1024  # characters of texts (trace and model calls) kept per entry
STRING_CAP = 64 * 1024  # characters kept of any one text once an entry is over its budget
HEADER_CAP = 16 * 1024  # bytes of request headers kept per entry
ENTRY_OVERHEAD = 512  # bytes counted per entry for the objects themselves
_TRUNCATED = " ...[truncated by the journal: {} more characters]"


_TEXTS = (str, bytes)  # tuples, not `str | bytes`: isinstance is faster with a tuple
_MAPPINGS = (dict, Mapping)  # dict first: a plain dict is told apart without the ABC's check
_SEQUENCES = (list, tuple)


def text_size(value: Any, budget: int = 1 << 62) -> int:
    """Characters of every string inside `value` (iterative); stops counting once over `budget`.

    It runs for every journal entry (a few hundred nanoseconds saved here are per request).
    """
    total = 0
    stack = [value]
    pop, extend = stack.pop, stack.extend
    while stack:
        node = pop()
        if isinstance(node, _TEXTS):
            total += len(node)
            if total > budget:
                return total
        elif isinstance(node, _MAPPINGS):
            extend(node.values())
        elif isinstance(node, _SEQUENCES):
            extend(node)
    return total


def capped(value: Any, budget: int = TEXT_BUDGET) -> Any:
    """`value` itself when its texts fit `budget`, else a copy whose texts are cut to fit it."""
    return capped_and_sized(value, budget)[0]


def capped_and_sized(value: Any, budget: int = TEXT_BUDGET) -> tuple[Any, int]:
    """`capped(value)` and the characters of its texts, in one walk for entries under the budget."""
    size = text_size(value, budget)
    if size <= budget:
        return value, size
    cut = _cut(value, [budget])
    return cut, text_size(cut)


def _cut(value: Any, left: list[int]) -> Any:
    # Recursion is bounded: traces are built by the emulator with a fixed, shallow shape, and the
    # request's own values inside them are bounded by max_json_depth.
    if isinstance(value, str):
        keep = max(0, min(len(value), STRING_CAP, left[0]))
        left[0] -= keep
        return value if keep == len(value) else value[:keep] + _TRUNCATED.format(len(value) - keep)
    if isinstance(value, Mapping):
        return {key: _cut(item, left) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_cut(item, left) for item in value]
    return value


def capped_headers(raw: Sequence[tuple[bytes, bytes]]) -> tuple[Sequence[tuple[bytes, bytes]], int]:
    """The headers an entry keeps (the first HEADER_CAP bytes' worth) and their size."""
    size = 0
    for index, (name, value) in enumerate(raw):
        size += len(name) + len(value)
        if size > HEADER_CAP:
            kept = list(raw[:index])
            return kept, sum(len(n) + len(v) for n, v in kept)
    return raw, size
