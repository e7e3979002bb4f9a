"""Offline WordNet: found, materialised once from Debian's files (atomically), or reported missing."""

from __future__ import annotations

import hashlib
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nltk.data
import pytest

from graders_emulator.metrics import MetricUnavailable
from graders_emulator.metrics.wordnet import (
    DEBIAN_DIR,
    OPTIONAL_FILES,
    REQUIRED_FILES,
    WordNetLoader,
    default_data_dir,
    lexnames_text,
    materialise,
)

needs_debian_wordnet = pytest.mark.skipif(
    not all((DEBIAN_DIR / name).is_file() for name in REQUIRED_FILES),
    # These tests copy Debian's own files; with WordNet from NLTK's downloader instead (no apt on the
    # machine) there is nothing to copy, and the other WordNet tests still run.
    reason="Debian's wordnet-base is not installed (WordNet may come from an NLTK data dir instead)",
)


@pytest.fixture(autouse=True)
def private_nltk_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # Loaders append their data dir to nltk.data.path; keep that from leaking into other tests.
    monkeypatch.setattr(nltk.data, "path", list(nltk.data.path))


def _fake_debian(tmp_path: Path, names: tuple[str, ...]) -> Path:
    debian = tmp_path / "usr-share-wordnet"
    debian.mkdir()
    for name in names:
        shutil.copyfile(DEBIAN_DIR / name, debian / name)
    return debian


def _missing_loader(tmp_path: Path) -> WordNetLoader:
    return WordNetLoader(data_dir=tmp_path / "data", search_paths=[], debian_dir=tmp_path / "no-debian")


def test_lexnames_is_the_documented_file() -> None:
    # md5 and line count measured on the file that loads (reference/metrics.md §4)
    assert hashlib.md5(lexnames_text().encode()).hexdigest() == "d38d0a0ac8b6fa74c62ddde441f16cd9"
    assert lexnames_text().splitlines()[3] == "03\tnoun.Tops\t1"
    assert len(lexnames_text().splitlines()) == 45


def test_default_data_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GRADERS_EMULATOR_NLTK_DATA", str(tmp_path))
    assert default_data_dir() == tmp_path

    monkeypatch.delenv("GRADERS_EMULATOR_NLTK_DATA")
    assert default_data_dir() == Path.home() / ".cache" / "graders-emulator" / "nltk_data"


def test_missing_wordnet_raises_with_install_instructions(tmp_path: Path) -> None:
    loader = _missing_loader(tmp_path)
    assert loader.status() == {"wordnet": "not_loaded", "source": ""}

    with pytest.raises(MetricUnavailable) as raised:
        loader.load()

    message = str(raised.value)
    assert "apt-get install --no-install-recommends wordnet-base" in message
    assert "python -m nltk.downloader" in message
    assert "Docker image" in message
    assert str(tmp_path / "no-debian") in message
    assert loader.status()["wordnet"] == "missing"
    assert loader.status()["detail"] == message


def test_warm_up_never_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loader = _missing_loader(tmp_path)
    loader.warm_up()
    assert loader.status()["wordnet"] == "missing"

    def explode() -> None:
        raise RuntimeError("unexpected")

    monkeypatch.setattr(loader, "load", explode)
    loader.warm_up()


def test_unwritable_data_dir_is_reported_as_unavailable(tmp_path: Path) -> None:
    debian = tmp_path / "debian"
    debian.mkdir()
    for name in REQUIRED_FILES:
        (debian / name).write_text("")
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("")
    loader = WordNetLoader(data_dir=blocker / "data", search_paths=[], debian_dir=debian)

    with pytest.raises(MetricUnavailable, match="could not be copied"):
        loader.load()


@needs_debian_wordnet
def test_materialise_copies_once_and_is_idempotent(tmp_path: Path) -> None:
    debian = _fake_debian(tmp_path, REQUIRED_FILES + OPTIONAL_FILES)
    data = tmp_path / "data"

    corpus = materialise(debian, data)
    inodes = {p.name: p.stat().st_ino for p in corpus.iterdir()}
    again = materialise(debian, data)

    assert corpus == again == data / "corpora" / "wordnet"
    assert set(inodes) == {*REQUIRED_FILES, *OPTIONAL_FILES, "lexnames"}
    assert {p.name: p.stat().st_ino for p in again.iterdir()} == inodes  # nothing rewritten
    assert not any(p.is_symlink() for p in corpus.iterdir())  # nltk 3.10 refuses symlinks
    assert (corpus / "lexnames").read_text() == lexnames_text()
    assert [p.name for p in (data / "corpora").iterdir()] == ["wordnet"]  # no staging dir left


@needs_debian_wordnet
def test_concurrent_materialisations_leave_one_complete_copy(tmp_path: Path) -> None:
    debian = _fake_debian(tmp_path, REQUIRED_FILES)
    data = tmp_path / "data"

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: materialise(debian, data), range(4)))

    assert len(set(results)) == 1
    assert [p.name for p in (data / "corpora").iterdir()] == ["wordnet"]
    assert {p.name for p in results[0].iterdir()} == {*REQUIRED_FILES, "lexnames"}


@needs_debian_wordnet
def test_loads_from_minimal_debian_files_once_across_threads(tmp_path: Path) -> None:
    # Only wordnet-base's files: no index.sense, no cntlist.rev (the OfflineWordNet case).
    debian = _fake_debian(tmp_path, REQUIRED_FILES)
    loader = WordNetLoader(data_dir=tmp_path / "data", search_paths=[], debian_dir=debian)
    barrier = threading.Barrier(4)

    def load() -> object:
        barrier.wait()
        return loader.load()

    with ThreadPoolExecutor(4) as pool:
        readers = list(pool.map(lambda _: load(), range(4)))

    reader = readers[0]
    assert all(r is reader for r in readers)
    assert reader.get_version() == "3.0"
    assert reader.synset("dog.n.01").offset() == 2084071
    assert "car" in reader.synset("car.n.01").lemma_names()
    assert loader.status() == {"wordnet": "loaded", "source": str(tmp_path / "data" / "corpora" / "wordnet")}

    # A second process (here: loader) finds the copy in its data dir and needs no Debian files.
    reused = WordNetLoader(data_dir=tmp_path / "data", search_paths=[], debian_dir=tmp_path / "gone")
    assert reused.load().synset("dog.n.01").offset() == 2084071
