"""Properties on generated texts: every metric is a float in [0, 1]; rouge equals rouge-score exactly."""

from __future__ import annotations

import random
from collections.abc import Iterator

import nltk.data
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rouge_score.rouge_scorer import RougeScorer

from graders_emulator.metrics import METRICS, MetricUnavailable, score, wordnet

_WORDS = (  # noqa: SIM905 - a sentence-like list is easier to read and extend
    "the a cat dog sat sits sitting on mat Mat THE of Japan capital is Tokyo Paris café naïve "
    "run running ran 42 3.50 U.S.A. don't can't - , . ! ? ( ) 我 爱 北京 été ß straße"
).split()

word_texts = st.lists(st.sampled_from(_WORDS), max_size=60).map(" ".join)
any_texts = st.text(max_size=300)


def _random_words(seed: int, count: int) -> str:
    return " ".join(random.Random(seed).choices(_WORDS, k=count))


# From a seeded Random: having hypothesis draw 1,000 list elements costs seconds per test.
long_texts = st.builds(_random_words, st.integers(0, 2**32), st.integers(300, 1500))
texts = st.one_of(word_texts, any_texts, st.just(""), long_texts)

_ROUGE_TYPES = {f"rouge_{n}": f"rouge{n}" for n in range(1, 6)} | {"rouge_l": "rougeL"}
# One scorer per type: a scorer of all types would run rouge-score's quadratic LCS for rouge_1 too.
_SCORERS = {
    metric: RougeScorer([rouge_type], use_stemmer=False) for metric, rouge_type in _ROUGE_TYPES.items()
}


def _rouge_score(metric: str, input: str, reference: str) -> float:
    return float(_SCORERS[metric].score(target=reference, prediction=input)[_ROUGE_TYPES[metric]].fmeasure)


_SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module", autouse=True)
def wordnet_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(nltk.data, "path", list(nltk.data.path))
        patch.setattr(wordnet, "_default", wordnet.WordNetLoader(data_dir=tmp_path_factory.mktemp("nltk")))
        try:
            wordnet.load_wordnet()
        except MetricUnavailable as exc:
            pytest.fail(f"WordNet is required by the metric tests (`make test` installs it): {exc}")
        yield


@pytest.mark.parametrize("metric", sorted(METRICS), ids=sorted(METRICS))
@_SETTINGS
@given(input=texts, reference=texts)
def test_every_metric_is_a_float_in_unit_interval(metric: str, input: str, reference: str) -> None:
    value = score(metric, input, reference)

    assert type(value) is float
    assert 0.0 <= value <= 1.0


@pytest.mark.parametrize("metric", sorted(METRICS), ids=sorted(METRICS))
@_SETTINGS
@given(text=texts)
def test_a_text_against_itself_is_never_below_a_text_against_nothing(metric: str, text: str) -> None:
    assert score(metric, text, text) >= score(metric, "", text)


@pytest.mark.parametrize("metric", sorted(_ROUGE_TYPES), ids=sorted(_ROUGE_TYPES))
@settings(max_examples=300, deadline=None)
@given(input=st.one_of(word_texts, any_texts), reference=st.one_of(word_texts, any_texts))
def test_rouge_equals_rouge_score_exactly(metric: str, input: str, reference: str) -> None:
    assert score(metric, input, reference) == _rouge_score(metric, input, reference)


@pytest.mark.parametrize("metric", sorted(_ROUGE_TYPES), ids=sorted(_ROUGE_TYPES))
@settings(max_examples=10, deadline=None)
@given(input=long_texts, reference=long_texts)
def test_rouge_equals_rouge_score_on_long_texts(metric: str, input: str, reference: str) -> None:
    assert score(metric, input, reference) == _rouge_score(metric, input, reference)


def test_rouge_l_on_many_distinct_tokens_equals_rouge_score() -> None:
    # More distinct tokens than one byte or a BMP plane holds: the token -> int mapping must not wrap.
    reference = " ".join(f"w{i}" for i in range(70_000)[::97])
    input = " ".join(f"w{i}" for i in range(70_000)[::89])
    assert score("rouge_l", input, reference) == _rouge_score("rouge_l", input, reference)
