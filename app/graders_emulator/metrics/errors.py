"""The one exception a metric may raise: a resource it needs is not installed."""

from __future__ import annotations


class MetricUnavailable(Exception):
    """A metric cannot run on this machine (today: METEOR without WordNet); the message says how to fix it."""
