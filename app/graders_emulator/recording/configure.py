"""Which answer source a server's settings ask for (record, replay, both, or none)."""

from __future__ import annotations

from graders_emulator.http.answer_source import AnswerSource
from graders_emulator.recording.proxy import UpstreamProxy
from graders_emulator.recording.recorder import Recorder
from graders_emulator.recording.redaction import settings_secrets
from graders_emulator.recording.replay import ReplaySource
from graders_emulator.settings import Settings


def settings_problem(settings: Settings) -> str | None:
    """Why these record/replay settings cannot work together, or None."""
    if settings.record_dir is not None and not settings.upstream_url:
        return "--record needs --upstream URL (the API whose answers are recorded)"
    if settings.replay_only and settings.replay_dir is None:
        return "--replay-only needs --replay DIR"
    if settings.replay_only and settings.upstream_url:
        return "--replay-only refuses unrecorded requests: it cannot be combined with --upstream"
    return None


def answer_source(settings: Settings) -> AnswerSource | None:
    """The app's answer source; None (the usual case) grades every request."""
    problem = settings_problem(settings)
    if problem is not None:
        raise ValueError(problem)
    proxy = None
    if settings.upstream_url:
        recorder = (
            Recorder(settings.record_dir, settings.upstream_url, settings_secrets(settings))
            if settings.record_dir is not None
            else None
        )
        proxy = UpstreamProxy(
            settings.upstream_url,
            recorder=recorder,
            api_key=settings.upstream_api_key,
            timeout_s=settings.upstream_timeout_s,
            connect_timeout_s=settings.upstream_connect_timeout_s,
        )
    if settings.replay_dir is not None:
        return ReplaySource(settings.replay_dir, only=settings.replay_only, fallback=proxy)
    return proxy
