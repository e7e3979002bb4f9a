"""Offline WordNet: found, materialised once from Debian's files (atomically), or reported missing;
Debian's index.sense is nltk's, and METEOR equals nltk's with or without it."""

from __future__ import annotations

import hashlib
import threading
import warnings
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import nltk.data
import pytest
from nltk.corpus.reader.wordnet import WordNetCorpusReader
from nltk.tokenize import NLTKWordTokenizer
from nltk.translate.meteor_score import meteor_score
from wordnet_files import copy_corpus_files, located_corpus

from graders_emulator.metrics import MetricUnavailable, score, wordnet
from graders_emulator.metrics.wordnet import (
    OPTIONAL_FILES,
    REQUIRED_FILES,
    WordNetLoader,
    default_data_dir,
    lexnames_text,
    materialise,
)

# What Debian's wordnet-base ships (no index.sense, no cntlist.rev), and that plus wordnet-sense-index.
MINIMAL = REQUIRED_FILES
COMPLETE = REQUIRED_FILES + OPTIONAL_FILES


@pytest.fixture(autouse=True)
def private_nltk_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # Loaders append their data dir to nltk.data.path; keep that from leaking into other tests.
    monkeypatch.setattr(nltk.data, "path", list(nltk.data.path))


@pytest.fixture(scope="module")
def wordnet_root(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The WordNet corpus the emulator's own lookup finds (NLTK data paths, else Debian's files)."""
    return located_corpus(tmp_path_factory.mktemp("located"))


def _fake_debian(wordnet_root: Any, tmp_path: Path, names: tuple[str, ...]) -> Path:
    """A stand-in for /usr/share/wordnet holding only `names`."""
    return copy_corpus_files(wordnet_root, names, tmp_path / "usr-share-wordnet")


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


def test_materialise_copies_once_and_is_idempotent(wordnet_root: Any, tmp_path: Path) -> None:
    debian = _fake_debian(wordnet_root, tmp_path, COMPLETE)
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


def test_concurrent_materialisations_leave_one_complete_copy(wordnet_root: Any, tmp_path: Path) -> None:
    debian = _fake_debian(wordnet_root, tmp_path, MINIMAL)
    data = tmp_path / "data"

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: materialise(debian, data), range(4)))

    assert len(set(results)) == 1
    assert [p.name for p in (data / "corpora").iterdir()] == ["wordnet"]
    assert {p.name for p in results[0].iterdir()} == {*REQUIRED_FILES, "lexnames"}


def test_loads_from_minimal_debian_files_once_across_threads(wordnet_root: Any, tmp_path: Path) -> None:
    # Only wordnet-base's files: no index.sense, no cntlist.rev (the OfflineWordNet case).
    debian = _fake_debian(wordnet_root, tmp_path, MINIMAL)
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


# --- Debian's index.sense against nltk's own reader; METEOR with and without it ---------------------


@pytest.fixture(scope="module")
def stock_reader(
    wordnet_root: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WordNetCorpusReader]:
    """nltk's stock WordNetCorpusReader (which needs index.sense) on a copy of the located corpus."""
    tmp = tmp_path_factory.mktemp("stock")
    corpus = materialise(_fake_debian(wordnet_root, tmp, COMPLETE), tmp / "data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(nltk.data, "path", [*nltk.data.path, str(tmp / "data")])
        with warnings.catch_warnings():
            # The stock reader warns that no multilingual data is given; that is expected here.
            warnings.simplefilter("ignore", UserWarning)
            reader = WordNetCorpusReader(nltk.data.find("corpora/wordnet", paths=[str(tmp / "data")]), None)
        assert Path(str(reader.root)) == corpus
        yield reader


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("dog%1:05:00::", "Lemma('dog.n.01.dog')"),
        ("driving%1:04:03::", "Lemma('drive.n.06.driving')"),
        ("eat%2:34:02::", "Lemma('feed.v.06.eat')"),
        ("feebleminded%5:00:00:retarded:00", "Lemma('backward.s.01.feebleminded')"),
        ("JEFFERSON%1:18:00::", "Lemma('jefferson.n.01.Jefferson')"),
    ],
    ids=["dog-noun", "driving-noun", "eat-verb", "adjective-satellite", "upper-case-key"],
)
def test_nltk_stock_reader_resolves_sense_keys(
    stock_reader: WordNetCorpusReader, key: str, expected: str
) -> None:
    """nltk's own answers on its own WordNet 3.0 (nltk 3.10.4, nltk/test/wordnet.doctest, sections
    "Synsets", "Lemmas" and "Bug 161"): Debian's index.sense gives the same."""
    assert repr(stock_reader.lemma_from_key(key)) == expected


def test_debian_index_sense_is_wordnet_3_0s(stock_reader: WordNetCorpusReader) -> None:
    """Princeton's wnstats(7WN) for WordNet 3.0 counts 146312 noun, 25047 verb, 30002 adjective
    (heads and satellites) and 5580 adverb word-sense pairs: one index.sense line each. A sample of
    the keys (every 101st) resolves through the stock reader to a lemma carrying that very key."""
    with stock_reader.open("index.sense") as index:
        keys = [line.split()[0] for line in index.read().splitlines()]
    by_pos = Counter(key.split("%")[1][0] for key in keys)
    assert by_pos["1"] == 146312
    assert by_pos["2"] == 25047
    assert by_pos["3"] + by_pos["5"] == 30002
    assert by_pos["4"] == 5580
    assert len(keys) == 206941
    for key in keys[::101]:
        assert stock_reader.lemma_from_key(key).key() == key


# Pairs where WordNet's synonyms change the score (car/automobile, quick/fast, sofa/couch, ...).
METEOR_PAIRS = [
    ("The automobile is fast", "The car is quick"),
    ("He was sitting on the couch", "He sat on the sofa"),
    ("The cat is sitting on the mat", "The cat sat on the mat."),
    ("A big dog barked loudly", "A large hound barked noisily"),
]
_TOKENS = NLTKWordTokenizer()


class _NoSynonyms:
    """A WordNet with no synsets at all: METEOR falls back to exact and stem matches."""

    def synsets(self, *_: Any, **__: Any) -> list[Any]:
        return []


def _nltk_meteor(input: str, reference: str, reader: Any) -> float:
    return float(meteor_score([_TOKENS.tokenize(reference)], _TOKENS.tokenize(input), wordnet=reader))


@pytest.mark.parametrize("files", [MINIMAL, COMPLETE], ids=["without-index-sense", "with-index-sense"])
def test_meteor_equals_nltk_with_or_without_index_sense(
    files: tuple[str, ...],
    wordnet_root: Any,
    stock_reader: WordNetCorpusReader,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    debian = _fake_debian(wordnet_root, tmp_path, files)
    loader = WordNetLoader(data_dir=tmp_path / "data", search_paths=[], debian_dir=debian)
    monkeypatch.setattr(wordnet, "_default", loader)

    for input, reference in METEOR_PAIRS:
        assert score("meteor", input, reference) == pytest.approx(
            _nltk_meteor(input, reference, stock_reader), rel=1e-12, abs=1e-12
        ), (input, reference)
    assert loader.status() == {"wordnet": "loaded", "source": str(tmp_path / "data" / "corpora" / "wordnet")}
    assert ("index.sense" in files) == (tmp_path / "data" / "corpora" / "wordnet" / "index.sense").is_file()


def test_meteor_pairs_depend_on_wordnet(stock_reader: WordNetCorpusReader) -> None:
    """The pairs above exercise WordNet: without synonyms nltk's METEOR is lower on each."""
    for input, reference in METEOR_PAIRS[:2] + METEOR_PAIRS[3:]:
        assert _nltk_meteor(input, reference, _NoSynonyms()) < _nltk_meteor(input, reference, stock_reader)


def test_emulator_reader_resolves_sense_keys_when_index_sense_is_there(
    wordnet_root: Any, tmp_path: Path
) -> None:
    reader = WordNetLoader(
        data_dir=tmp_path / "data", search_paths=[], debian_dir=_fake_debian(wordnet_root, tmp_path, COMPLETE)
    ).load()
    assert repr(reader.lemma_from_key("dog%1:05:00::")) == "Lemma('dog.n.01.dog')"
