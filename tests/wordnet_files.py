"""WordNet's files for tests, found by the emulator's own lookup (never a hard-coded system path).

`WordNetLoader` searches NLTK's data paths ($NLTK_DATA included), then its data dir, then copies
Debian's files (`wordnet-base` and `wordnet-sense-index`, which `make test` installs). Tests that need
a particular set of files (e.g. Debian's minimal install, without index.sense) copy them from the
corpus found that way into a tmp dir.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nltk.data
import pytest

from graders_emulator.metrics import MetricUnavailable
from graders_emulator.metrics.wordnet import WordNetLoader


def located_corpus(data_dir: Path) -> Any:
    """The root (an nltk path pointer: a directory or a zip entry) of the WordNet the emulator finds."""
    saved = list(nltk.data.path)
    try:
        reader = WordNetLoader(data_dir=data_dir).load()
    except MetricUnavailable as exc:
        pytest.fail(f"WordNet is required by this test (`make test` installs it): {exc}")
    finally:
        nltk.data.path[:] = saved  # the loader appends its data dir; keep that from leaking
    return reader.root


def copy_corpus_files(root: Any, names: tuple[str, ...], dest: Path) -> Path:
    """Copy `names` from the corpus at `root` into `dest` (created); a missing file fails the test."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        try:
            (dest / name).write_bytes(_read(root, name))
        except (OSError, KeyError) as exc:
            pytest.fail(f"WordNet file {name} is missing from {root} (`make test` installs it): {exc!r}")
    return dest


def _read(root: Any, name: str) -> bytes:
    # Plain file and zip reads: nltk's own pointers refuse paths outside nltk.data.path (pathsec).
    archive = getattr(root, "zipfile", None)
    if archive is not None:  # corpora/wordnet.zip from NLTK's downloader
        data: bytes = archive.read(f"{root.entry.rstrip('/')}/{name}")
        return data
    return (Path(root.path) / name).read_bytes()
