"""Rule regexes with bounded matching time: the `regex` module, with a time budget per model call.

Python's `re` backtracks without limit (`^(a+)+$` against 25 `a`s and `!` took 2.3 s, doubling per
character, on the event loop). `regex` accepts the same syntax and takes a `timeout`; every model
request gets one budget (setting `rule_regex_timeout_s`) shared by all the regexes that the rules of
all its model calls try, so neither a thousand rules nor a multi of many model graders multiply it.
`regex` counts the timeout in CPU time of the whole process (measured: a 50 ms budget stops after
50 ms of CPU, which on a loaded machine is 200-600 ms of wall clock) and checks it coarsely.
A regex that runs out of time does not match, and says so in the journal's `nearest_rule`.

Matching never runs on the event loop (issue 10, the soak): a backtracking pattern spends its whole
budget in C, and one such request every 0.3 s kept the loop stalled most of the time (normal p99
0.5 s). Rule picking that tries a regex goes to `off_loop`'s threads, and the match releases the GIL
(`concurrent=True`), so that the loop serves other requests meanwhile.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import regex

DEFAULT_BUDGET_S = 0.05
# Threads that match rule regexes. Two: a request that waits here waits for CPU-bound matching,
# never for more than the budgets queued ahead of it; more threads would only share the same cores.
MATCH_THREADS = 2
_T = TypeVar("_T")
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def compile_error(pattern: str) -> str | None:
    """Why `pattern` is not a valid rule regex, or None."""
    try:
        regex.compile(pattern)
    except (regex.error, ValueError, RecursionError) as exc:
        return str(exc)
    return None


def any_pattern(patterns: Iterable[str | None]) -> bool:
    """Whether any of the (optional) patterns is set: then matching goes off the loop."""
    return any(pattern is not None for pattern in patterns)


async def off_loop(match: Callable[[], _T]) -> _T:
    """`match()` (rule picking that tries regexes) in a matching thread, awaited from the loop."""
    global _executor  # noqa: PLW0603  (one pool per process, started on first use)
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(MATCH_THREADS, thread_name_prefix="rule-regex")
    return await asyncio.get_running_loop().run_in_executor(_executor, match)


class RegexBudget:
    """Matching time left for the regexes of one model call (safe to share between threads).

    Answers are remembered per pattern and text: a pick that is looked at again (its rule was used
    up by another request meanwhile) does not spend the budget twice on the same regex.
    """

    def __init__(self, seconds: float = DEFAULT_BUDGET_S) -> None:
        self.left = seconds
        self._found: dict[tuple[str, str], bool | None] = {}
        self._lock = threading.Lock()  # the calls of one request may match in two threads at once

    def search(self, pattern: str, text: str) -> bool | None:
        """Whether `pattern` matches somewhere in `text`; None when the budget ran out first."""
        with self._lock:
            key = (pattern, text)
            if key not in self._found:
                self._found[key] = self._search(pattern, text)
            return self._found[key]

    def _search(self, pattern: str, text: str) -> bool | None:
        if self.left <= 0:
            return None
        started = time.perf_counter()
        try:
            return regex.search(pattern, text, timeout=self.left, concurrent=True) is not None
        except TimeoutError:
            self.left = 0.0
            return None
        finally:
            self.left -= time.perf_counter() - started
