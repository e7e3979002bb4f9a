"""Import nltk once, under a lock: two threads importing it at once see half-initialised modules."""

from __future__ import annotations

import threading

_lock = threading.Lock()
_done = False


def ensure_nltk() -> None:
    """Import the whole nltk package before any of its submodules is used (seen: the WordNet warm-up
    thread and a request's bleu importing concurrently failed with "partially initialized module")."""
    global _done  # noqa: PLW0603 - a process-wide once-flag
    if _done:
        return
    with _lock:
        if not _done:
            import nltk  # noqa: F401  # over a second: hence lazily, off the start-up path

            _done = True
