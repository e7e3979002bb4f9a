"""Offline WordNet 3.0 for METEOR: found in NLTK's data paths or copied once from Debian's."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from graders_emulator.metrics.errors import MetricUnavailable
from graders_emulator.metrics.nltk_import import ensure_nltk

if TYPE_CHECKING:
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

logger = logging.getLogger(__name__)

DEBIAN_DIR = Path("/usr/share/wordnet")
DATA_DIR_ENV = "GRADERS_EMULATOR_NLTK_DATA"
RESOURCE = "corpora/wordnet"

INSTALL_HINT = (
    "METEOR needs WordNet 3.0, which the emulator never downloads at run time. Install it with one of: "
    "`apt-get install --no-install-recommends wordnet-base` (Debian/Ubuntu; it is copied once into "
    f"${DATA_DIR_ENV} or ~/.cache/graders-emulator/nltk_data); "
    "`python -m nltk.downloader -d /usr/share/nltk_data wordnet` "
    "(or into any standard NLTK data path, or $NLTK_DATA); "
    "or run the graders-emulator Docker image, which includes it."
)

# The lexicographer files in the order of `man 5 lexnames`; Debian's wordnet-base lacks this index file.
_LEXNAMES = (  # noqa: SIM905 - one string reads like the man page
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body "
    "noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location "
    "noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process "
    "noun.quantity noun.relation noun.shape noun.state noun.substance noun.time verb.body verb.change "
    "verb.cognition verb.communication verb.competition verb.consumption verb.contact verb.creation "
    "verb.emotion verb.motion verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()
_POS_NUMBER = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}
_POS = ("noun", "verb", "adj", "adv")
REQUIRED_FILES = (
    *(f"data.{pos}" for pos in _POS),
    *(f"index.{pos}" for pos in _POS),
    *(f"{pos}.exc" for pos in _POS),
)
# Not read by METEOR (sense counts and sense keys), copied when present for a complete corpus.
OPTIONAL_FILES = ("cntlist.rev", "index.sense")

State = Literal["not_loaded", "loading", "loaded", "missing"]


def lexnames_text() -> str:
    """The `lexnames` file WordNetCorpusReader requires: `NN<TAB>name<TAB>pos-number` per line."""
    lines = (f"{i:02d}\t{name}\t{_POS_NUMBER[name.split('.')[0]]}\n" for i, name in enumerate(_LEXNAMES))
    return "".join(lines)


def default_data_dir() -> Path:
    """Where WordNet is copied to: $GRADERS_EMULATOR_NLTK_DATA, else ~/.cache/graders-emulator/nltk_data."""
    configured = os.environ.get(DATA_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "graders-emulator" / "nltk_data"


def materialise(debian_dir: Path, data_dir: Path) -> Path:
    """Copy Debian's WordNet files into `<data_dir>/corpora/wordnet` once, with a generated lexnames.

    Copies, not symlinks: nltk 3.10 refuses corpus files that resolve outside its data paths. The copy
    is built in a temporary sibling directory and renamed into place, so a concurrent process sees
    either nothing or the whole corpus; when two race, the loser's copy is discarded.
    """
    final = data_dir / RESOURCE
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".wordnet-", dir=final.parent))
    try:
        _fill(staging, debian_dir)
        try:
            staging.rename(final)
        except OSError:
            if not final.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def _fill(staging: Path, debian_dir: Path) -> None:
    for name in REQUIRED_FILES:
        shutil.copyfile(debian_dir / name, staging / name)
    for name in OPTIONAL_FILES:
        if (debian_dir / name).is_file():
            shutil.copyfile(debian_dir / name, staging / name)
    (staging / "lexnames").write_text(lexnames_text(), encoding="utf-8")
    staging.chmod(0o755)  # mkdtemp makes it private; the corpus is public data, readable by all


class _NoMultilingualData:
    """Stands in for the Open Multilingual Wordnet reader: English only.

    Passing None instead makes nltk warn on every load; METEOR never uses other languages.
    """

    def fileids(self) -> list[str]:
        return []


@cache
def _offline_reader_class() -> type[WordNetCorpusReader]:
    # Defined on first use so that importing this module does not import nltk (over a second).
    ensure_nltk()
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class OfflineWordNet(WordNetCorpusReader):  # type: ignore[misc]
        """WordNetCorpusReader without the WordNet-version mapping made for multilingual (OMW) data."""

        def map_wn(self, version: str = "wordnet") -> None:
            # The stock method re-reads index.sense twice (about 2 s) to map OMW synsets to this WordNet;
            # there is no OMW data here, and Debian's minimal install has no index.sense at all.
            return None

    return OfflineWordNet


def _find_corpus(path: str) -> Any | None:
    ensure_nltk()
    import nltk.data

    try:
        # Also finds `corpora/wordnet.zip`.
        return nltk.data.find(RESOURCE, paths=[path])
    except LookupError:
        return None


def _allow_data_path(path: str) -> None:
    ensure_nltk()
    import nltk.data

    # nltk 3.10 opens corpus files only under its data paths (PermissionError otherwise).
    if path not in nltk.data.path:
        nltk.data.path.append(path)


def _describe(root: Any) -> str:
    zipfile = getattr(root, "zipfile", None)
    if zipfile is not None:
        return f"{zipfile.filename}/{root.entry}"
    return str(getattr(root, "path", root))


class WordNetLoader:
    """Finds and loads WordNet once (thread-safe); `load` raises MetricUnavailable when it is absent.

    Search order: each NLTK data path (`search_paths`, default `nltk.data.path`, which includes
    $NLTK_DATA), then `data_dir`; else materialise Debian's `debian_dir` into `data_dir`.
    """

    def __init__(
        self,
        *,
        data_dir: Path | None = None,
        search_paths: Sequence[str | Path] | None = None,
        debian_dir: Path = DEBIAN_DIR,
    ) -> None:
        self._data_dir = data_dir
        self._search_paths = search_paths
        self._debian_dir = debian_dir
        self._lock = threading.Lock()
        self._reader: WordNetCorpusReader | None = None
        self._state: State = "not_loaded"
        self._source = ""
        self._detail = ""

    @property
    def data_dir(self) -> Path:
        return self._data_dir if self._data_dir is not None else default_data_dir()

    def load(self) -> WordNetCorpusReader:
        reader = self._reader
        if reader is not None:
            return reader
        with self._lock:
            if self._reader is None:
                self._reader = self._load_locked()
            return self._reader

    def warm_up(self) -> None:
        try:
            self.load()
        except Exception:
            logger.warning("WordNet is not available; meteor will answer other_error", exc_info=True)

    def status(self) -> dict[str, str]:
        status = {"wordnet": self._state, "source": self._source}
        if self._detail:
            status["detail"] = self._detail
        return status

    def _load_locked(self) -> WordNetCorpusReader:
        self._state, self._detail = "loading", ""
        try:
            root = self._locate()
            reader: WordNetCorpusReader = _offline_reader_class()(root, _NoMultilingualData())
        except MetricUnavailable as exc:
            self._state, self._detail = "missing", str(exc)
            raise
        except Exception as exc:  # a corrupt or partial corpus: report it like a missing one
            self._state = "missing"
            self._detail = f"WordNet at {self._source} could not be loaded ({type(exc).__name__}: {exc}). "
            raise MetricUnavailable(self._detail + INSTALL_HINT) from exc
        self._state = "loaded"
        return reader

    def _locate(self) -> Any:
        ensure_nltk()
        import nltk.data

        data_dir = str(self.data_dir)
        paths = [str(p) for p in (self._search_paths if self._search_paths is not None else nltk.data.path)]
        for path in [*paths, data_dir]:
            root = _find_corpus(path)
            if root is not None:
                return self._use(path, root)
        if all((self._debian_dir / name).is_file() for name in REQUIRED_FILES):
            try:
                materialise(self._debian_dir, self.data_dir)
            except OSError as exc:
                raise MetricUnavailable(
                    f"WordNet could not be copied from {self._debian_dir} into {data_dir} ({exc}); "
                    f"set ${DATA_DIR_ENV} to a writable directory. " + INSTALL_HINT
                ) from exc
            root = _find_corpus(data_dir)
            if root is not None:
                return self._use(data_dir, root)
        searched = ", ".join([*paths, data_dir])
        raise MetricUnavailable(
            f"WordNet was not found (searched {RESOURCE} in: {searched}; "
            f"Debian files in {self._debian_dir}). " + INSTALL_HINT
        )

    def _use(self, path: str, root: Any) -> Any:
        _allow_data_path(path)
        self._source = _describe(root)
        return root


_default = WordNetLoader()


def configure(
    *,
    data_dir: Path | None = None,
    search_paths: Sequence[str | Path] | None = None,
    debian_dir: Path = DEBIAN_DIR,
) -> None:
    """Replace the process-wide loader (e.g. with Settings.nltk_data); the next load searches again."""
    global _default  # noqa: PLW0603 - one loader per process, replaced only by configuration
    _default = WordNetLoader(data_dir=data_dir, search_paths=search_paths, debian_dir=debian_dir)


def load_wordnet() -> WordNetCorpusReader:
    """The process-wide WordNet reader, loaded on first call (1-3 s); raises MetricUnavailable."""
    return _default.load()


def warm_up() -> None:
    """Load WordNet now (call it in a background thread at start-up); logs instead of raising."""
    _default.warm_up()


def status() -> dict[str, str]:
    """For readiness: {"wordnet": not_loaded|loading|loaded|missing, "source": path[, "detail": why]}."""
    return _default.status()
