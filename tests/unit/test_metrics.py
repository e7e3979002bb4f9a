"""Each metric against the reference libraries' documented calls, on the cases of metrics.md §1."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, get_args

import nltk.data
import pytest
from nltk.corpus.reader.wordnet import WordNetCorpusReader
from nltk.tokenize import NLTKWordTokenizer
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from nltk.translate.gleu_score import sentence_gleu
from nltk.translate.meteor_score import meteor_score
from rapidfuzz import fuzz, utils
from rouge_score.rouge_scorer import RougeScorer

from graders_emulator.metrics import METRICS, EvaluationMetric, MetricUnavailable, clamp, score, wordnet

_SENTENCES = [
    "The committee met on Tuesday morning to review the annual budget and the plans for the new library.",
    "Several members argued that the city should invest more in public transport before building roads.",
    "Others pointed out that the old bridge over the river needs urgent repairs after last winter's floods.",
    "The mayor promised to publish a detailed report, including costs, timelines and expected benefits.",
    "Local shop owners asked for fewer parking restrictions during the holiday season in December.",
    "A teacher from the primary school described how children walk to class along a busy street.",
    "After a long discussion, the committee agreed to hold a public meeting next month at the town hall.",
]
LONG = " ".join(_SENTENCES * 3)  # about 2 KB of ordinary English prose
LONG_EDITED = LONG.replace("budget", "forecast", 1).replace("river", "canal", 1)

CASES = {
    "identical": ("The cat sat on the mat.", "The cat sat on the mat."),
    "partial": ("The cat is sitting on the mat", "The cat sat on the mat."),
    "reorder": ("Tokyo is the capital of Japan.", "The capital of Japan is Tokyo."),
    "one_word": ("Paris", "Paris"),
    "case": ("paris", "Paris"),
    "empty_input": ("", "The cat sat on the mat."),
    "empty_reference": ("The cat sat on the mat.", ""),
    "both_empty": ("", ""),
    "accents": ("Café crème brûlée à Paris", "Cafe creme brulee a Paris"),
    "cjk": ("我爱北京天安门", "我爱北京"),
    "long_2kb_two_words_replaced": (LONG_EDITED, LONG),
}

# ---------------------------------------------------------------------------------------------
# The reference libraries, called as their documentation shows (nothing from graders_emulator.metrics).

_TOKENIZER = NLTKWordTokenizer()
_ROUGE = RougeScorer(["rouge1", "rouge2", "rouge3", "rouge4", "rouge5", "rougeL"], use_stemmer=False)


def _tokens(text: str) -> list[str]:
    return _TOKENIZER.tokenize(text)


def _reference_fuzzy(input: str, reference: str, _: Any) -> float:
    return fuzz.WRatio(input, reference, processor=utils.default_process) / 100


def _reference_bleu(input: str, reference: str, _: Any) -> float:
    smoothing = SmoothingFunction().method1
    return sentence_bleu([_tokens(reference)], _tokens(input), smoothing_function=smoothing)


def _reference_gleu(input: str, reference: str, _: Any) -> float:
    return sentence_gleu([_tokens(reference)], _tokens(input))


def _reference_meteor(input: str, reference: str, reader: Any) -> float:
    return meteor_score([_tokens(reference)], _tokens(input), wordnet=reader)


def _reference_rouge(rouge_type: str) -> Callable[[str, str, Any], float]:
    def compute(input: str, reference: str, _: Any) -> float:
        return _ROUGE.score(target=reference, prediction=input)[rouge_type].fmeasure

    return compute


REFERENCE: dict[str, Callable[[str, str, Any], float]] = {
    "fuzzy_match": _reference_fuzzy,
    "bleu": _reference_bleu,
    "gleu": _reference_gleu,
    "meteor": _reference_meteor,
    **{f"rouge_{n}": _reference_rouge(f"rouge{n}") for n in range(1, 6)},
    "rouge_l": _reference_rouge("rougeL"),
}


@pytest.fixture(scope="module")
def stock_wordnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WordNetCorpusReader]:
    """Our loader set up on a temporary data dir, and nltk's stock reader on the same files."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(nltk.data, "path", list(nltk.data.path))
        loader = wordnet.WordNetLoader(data_dir=tmp_path_factory.mktemp("nltk_data"))
        patch.setattr(wordnet, "_default", loader)
        try:
            wordnet.load_wordnet()
        except MetricUnavailable as exc:
            pytest.fail(f"WordNet is required by the metric tests (`make test` installs it): {exc}")
        with warnings.catch_warnings():
            # The stock reader warns that no multilingual data is given; that is expected here.
            warnings.simplefilter("ignore", UserWarning)
            stock = WordNetCorpusReader(nltk.data.find("corpora/wordnet"), None)
        yield stock  # outside catch_warnings: the tests themselves must see every warning


# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "case"),
    [(metric, case) for metric in REFERENCE for case in CASES],
    ids=[f"{metric}-{case}" for metric in REFERENCE for case in CASES],
)
def test_metric_equals_reference_library(metric: str, case: str, stock_wordnet: WordNetCorpusReader) -> None:
    input, reference = CASES[case]
    expected = min(1.0, max(0.0, float(REFERENCE[metric](input, reference, stock_wordnet))))

    value = score(metric, input, reference)

    assert type(value) is float
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(
    ("metric", "input", "reference", "expected"),
    [
        ("fuzzy_match", "fuzzy wuzzy was a bear", "fuzzy wuzzy had no hair", 0.7555555555555555),
        ("gleu", *CASES["reorder"], 0.409091),
        ("gleu", *CASES["partial"], 0.409091),
        ("bleu", *CASES["partial"], 0.205567),
        ("bleu", *CASES["one_word"], 0.177828),
        ("meteor", *CASES["one_word"], 0.5),
        ("meteor", *CASES["identical"], 0.998542),
        ("meteor", *CASES["reorder"], 0.906706),
        ("meteor", *CASES["partial"], 0.691429),
        ("rouge_1", *CASES["reorder"], 1.0),
        ("rouge_2", *CASES["reorder"], 0.6),
        ("rouge_4", *CASES["reorder"], 0.333333),
        ("rouge_l", *CASES["reorder"], 0.666667),
        ("rouge_l", *CASES["accents"], 0.166667),
        ("rouge_l", "", "The cat sat on the mat.", 0.0),
    ],
    ids=[
        "fuzzy-captured-real-value",
        "gleu-reorder-azure-doc",
        "gleu-partial",
        "bleu-partial",
        "bleu-one-word",
        "meteor-one-word",
        "meteor-identical",
        "meteor-reorder",
        "meteor-partial",
        "rouge1-reorder",
        "rouge2-reorder",
        "rouge4-reorder",
        "rougeL-reorder",
        "rougeL-accents",
        "rougeL-empty-input",
    ],
)
def test_measured_values(
    metric: str, input: str, reference: str, expected: float, stock_wordnet: WordNetCorpusReader
) -> None:
    assert score(metric, input, reference) == pytest.approx(expected, abs=5e-7)


@pytest.mark.parametrize(
    ("input", "reference", "expected"),
    [
        ("The cat sat on the mat.", "The cat sat on the mat.", 1.0),
        ("The cat is sitting on the mat", "The cat sat on the mat.", 0.793),
        ("我爱北京天安门", "我爱北京", 0.283),
        ("Paris", "PARIS!", 1.0),
        ("Paris", "Tokyo", 0.0),
        ("", "The cat sat on the mat.", 0.0),
        ("", "", 0.0),
        ("...", "...", 0.0),
        # by hand: words (a,b)·(a,c) = 1/2; 3-grams {" a ","a b"," b "}·{" a ","a c"," c "} = 1/3
        ("a b", "a c", (1 / 2 + 1 / 3) / 2),
        # NFKC folds the ligature and the full-width letters: the same words
        ("ﬁne ＡＢＣ", "fine abc", 1.0),
    ],
    ids=[
        "identical",
        "partial",
        "cjk",
        "case-and-punctuation",
        "unrelated",
        "empty-input",
        "both-empty",
        "no-words",
        "hand-computed",
        "nfkc",
    ],
)
def test_cosine_lexical_values(input: str, reference: str, expected: float) -> None:
    value = score("cosine", input, reference)

    assert type(value) is float
    assert value == pytest.approx(expected, abs=5e-4)


def test_registry_covers_the_literal() -> None:
    assert set(METRICS) == set(get_args(EvaluationMetric))


def test_reference_table_covers_every_metric_but_cosine() -> None:
    assert set(REFERENCE) | {"cosine"} == set(METRICS)


def test_unknown_metric_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown metric 'rouge_6'"):
        score("rouge_6", "a", "b")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(1.1167470964180197, 1.0), (-0.011, 0.0), (math.nan, 0.0), (0, 0.0), (1, 1.0), (0.25, 0.25)],
    ids=["bleu-method7-above-one", "negative", "nan", "int-zero", "int-one", "inside"],
)
def test_clamp(raw: float, expected: float) -> None:
    value = clamp(raw)

    assert type(value) is float
    assert value == expected


def test_meteor_without_wordnet_raises_with_install_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = wordnet.WordNetLoader(data_dir=tmp_path / "data", search_paths=[], debian_dir=tmp_path / "none")
    monkeypatch.setattr(wordnet, "_default", missing)
    monkeypatch.setattr(nltk.data, "path", list(nltk.data.path))

    with pytest.raises(MetricUnavailable, match="wordnet-base") as raised:
        score("meteor", "The cat", "The cat")

    assert "nltk.downloader" in str(raised.value)
    assert "Docker image" in str(raised.value)
