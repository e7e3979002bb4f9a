"""Replay mode: answer recorded requests from their cassettes, offline, for any API key."""

from __future__ import annotations

import logging
from pathlib import Path

from starlette.types import Scope

from graders_emulator.http.answer import Answer
from graders_emulator.http.answer_source import AnswerSource, LocalGrading, graded_locally, mark
from graders_emulator.recording.answers import answer_of, error_body
from graders_emulator.recording.cassette import MISSING_FILE_SUFFIX, Cassette, file_name, load, request_key

log = logging.getLogger("graders_emulator.recording")


class CassetteIndex:
    """The cassettes of a directory by request key: files as recorded, renamed or in subfolders."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._files: dict[str, Path] = {}
        self._loaded: dict[str, Cassette] = {}
        self.rescan()

    def rescan(self) -> None:
        self._files.clear()
        if not self.directory.is_dir():
            return
        for file in sorted(self.directory.rglob(f"*{MISSING_FILE_SUFFIX}")):
            try:
                cassette = load(file)
            except (ValueError, KeyError, OSError) as exc:
                log.warning("skipping %s: %s", file, exc)
                continue
            self._files.setdefault(cassette.key, file)
            self._loaded[cassette.key] = cassette

    def find(self, path: str, key: str) -> Cassette | None:
        """The cassette of a request; a file recorded after start-up is found by its name."""
        found = self._loaded.get(key)
        if found is not None:
            return found
        file = self.directory / file_name(path, key)
        if not file.is_file():
            return None
        cassette = load(file)
        self._loaded[key] = cassette
        return cassette


class ReplaySource:
    """Recorded requests answer from their cassette; the others are graded, forwarded or refused.

    `fallback` (record mode at the same time) answers what is not recorded yet; `only` refuses it with
    a 404 envelope naming the missing cassette; otherwise the emulator grades it as usual.
    """

    def __init__(self, directory: Path, *, only: bool = False, fallback: AnswerSource | None = None) -> None:
        self.index = CassetteIndex(directory)
        self.only = only
        self.fallback = fallback

    async def answer(self, scope: Scope, body: bytes, grade: LocalGrading) -> Answer:
        path = scope["path"]
        key = request_key(scope["method"], path, body)
        cassette = self.index.find(path, key)
        if cassette is not None:
            return answer_of(
                scope, "recorded", cassette.status, cassette.response_headers, cassette.response_bytes
            )
        if self.fallback is not None:
            answer = await self.fallback.answer(scope, body, grade)
            return answer
        if self.only:
            return self._missing(scope, path, key)
        return await graded_locally(scope, grade)

    def _missing(self, scope: Scope, path: str, key: str) -> Answer:
        expected = self.index.directory / file_name(path, key)
        message = (
            f"No cassette for this request (replay-only mode): expected {expected} "
            f"({scope['method']} {path}, request key {key}). Record it with "
            f"`graders-emulator serve --upstream URL --record {self.index.directory}`."
        )
        body = error_body(message, "invalid_request_error", "cassette_not_found")
        return Answer(body, (mark(scope, "missing"),), 404)

    async def aclose(self) -> None:
        if self.fallback is not None:
            await self.fallback.aclose()
