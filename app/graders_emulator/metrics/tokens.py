"""Tokenisers shared by the metrics: NLTK's word tokenizer (bleu, gleu, meteor) and rouge-score's."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

# rouge-score's tokenizer module, the one its DefaultTokenizer calls; it imports only `re` and `six`.
from rouge_score.tokenize import tokenize as _rouge_tokenize

from graders_emulator.metrics.nltk_import import ensure_nltk

if TYPE_CHECKING:
    from nltk.tokenize.destructive import NLTKWordTokenizer


@cache
def _word_tokenizer() -> NLTKWordTokenizer:
    # Imported on first use: `import nltk` costs over a second, which server start-up should not pay.
    ensure_nltk()
    from nltk.tokenize.destructive import NLTKWordTokenizer

    # One instance for the process: it holds only compiled regexes, so sharing it across threads is safe.
    return NLTKWordTokenizer()


def word_tokens(text: str) -> list[str]:
    """NLTK's Treebank-style word tokens, as `word_tokenize(text, preserve_line=True)` (needs no data)."""
    tokens: list[str] = _word_tokenizer().tokenize(text)
    return tokens


def rouge_tokens(text: str) -> list[str]:
    """rouge-score's default tokens (lowercased, runs of [a-z0-9]), no stemming."""
    tokens: list[str] = _rouge_tokenize(text, None)
    return tokens
