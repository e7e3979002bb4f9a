"""bleu, gleu and meteor: nltk's sentence-level scores on NLTK word tokens, one reference."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from graders_emulator.metrics import wordnet
from graders_emulator.metrics.nltk_import import ensure_nltk
from graders_emulator.metrics.tokens import word_tokens


@cache
def _bleu_scorer() -> Callable[[list[str], list[str]], float]:
    # nltk is imported on first use (over a second of import time).
    ensure_nltk()
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    # method1 adds epsilon to zero n-gram counts: without smoothing, every answer of 1-3 tokens scores 0
    # and nltk warns; method1 keeps one-word answers comparable and emits no warning.
    smoothing = SmoothingFunction().method1

    def bleu_of(ref: list[str], hyp: list[str]) -> float:
        return float(sentence_bleu([ref], hyp, smoothing_function=smoothing))

    return bleu_of


@cache
def _gleu_scorer() -> Callable[[list[str], list[str]], float]:
    ensure_nltk()
    from nltk.translate.gleu_score import sentence_gleu

    def gleu_of(ref: list[str], hyp: list[str]) -> float:
        return float(sentence_gleu([ref], hyp))

    return gleu_of


@cache
def _meteor_scorer() -> Callable[[list[str], list[str], Any], float]:
    ensure_nltk()
    from nltk.translate.meteor_score import meteor_score

    def meteor_of(ref: list[str], hyp: list[str], reader: Any) -> float:
        return float(meteor_score([ref], hyp, wordnet=reader))

    return meteor_of


def bleu(input: str, reference: str) -> float:
    """nltk `sentence_bleu([ref], hyp, smoothing_function=SmoothingFunction().method1)`."""
    hyp, ref = word_tokens(input), word_tokens(reference)
    # nltk answers int 0 when either side has no tokens; say it as a float without asking it.
    if not hyp or not ref:
        return 0.0
    return _bleu_scorer()(ref, hyp)


def gleu(input: str, reference: str) -> float:
    """nltk `sentence_gleu([ref], hyp)` (Google-BLEU, n-grams 1 to 4)."""
    hyp, ref = word_tokens(input), word_tokens(reference)
    if not hyp or not ref:
        return 0.0
    return _gleu_scorer()(ref, hyp)


def meteor(input: str, reference: str) -> float:
    """nltk `meteor_score([ref], hyp, wordnet=...)` with WordNet 3.0 loaded offline.

    Raises MetricUnavailable when WordNet is not installed, even for empty texts, so that a grader's
    outcome does not depend on its input.
    """
    reader = wordnet.load_wordnet()
    hyp, ref = word_tokens(input), word_tokens(reference)
    if not hyp or not ref:
        return 0.0
    return _meteor_scorer()(ref, hyp, reader)
