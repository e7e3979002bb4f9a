"""Rule regexes with bounded matching time: the `regex` module, with a time budget per model call.

Python's `re` backtracks without limit (`^(a+)+$` against 25 `a`s and `!` took 2.3 s, doubling per
character, on the event loop). `regex` accepts the same syntax and takes a `timeout`; every model
request gets one budget (setting `rule_regex_timeout_s`) shared by all the regexes that the rules of
all its model calls try, so neither a thousand rules nor a multi of many model graders multiply it.
`regex` checks its clock coarsely: a match overruns the budget by up to ~0.25 s, once per request.
A regex that runs out of time does not match, and says so in the journal's `nearest_rule`.
"""

from __future__ import annotations

import time

import regex

DEFAULT_BUDGET_S = 0.05


def compile_error(pattern: str) -> str | None:
    """Why `pattern` is not a valid rule regex, or None."""
    try:
        regex.compile(pattern)
    except (regex.error, ValueError, RecursionError) as exc:
        return str(exc)
    return None


class RegexBudget:
    """Matching time left for the regexes of one model call."""

    def __init__(self, seconds: float = DEFAULT_BUDGET_S) -> None:
        self.left = seconds

    def search(self, pattern: str, text: str) -> bool | None:
        """Whether `pattern` matches somewhere in `text`; None when the budget ran out first."""
        if self.left <= 0:
            return None
        started = time.perf_counter()
        try:
            return regex.search(pattern, text, timeout=self.left) is not None
        except TimeoutError:
            self.left = 0.0
            return None
        finally:
            self.left -= time.perf_counter() - started
