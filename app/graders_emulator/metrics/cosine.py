"""cosine: similarity of two texts from a dependency-free lexical embedding, and cosine of given vectors.

OpenAI computes `cosine` with text-embedding-3-large, which is not available offline. By default the
emulator embeds a text lexically, after NFKC normalisation and casefolding:

- word unigrams: counts of `re.findall(r"\\w+", text)`;
- character 3-grams: counts of the 3-grams of those words joined by single spaces, with one space of
  padding at each end (so punctuation and spacing do not matter, one- and two-letter words still count,
  and scripts without spaces, such as CJK, still overlap);

and the score is the mean of the two cosines. A text without words has zero vectors: its cosine with
anything, itself included, is 0.0. Values: identical texts 1.0; "The cat is sitting on the mat" vs
"The cat sat on the mat." 0.793; texts sharing no 3-gram 0.0. The grading layer uses
`cosine_of_vectors` instead when an embeddings endpoint is configured.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

_WORD = re.compile(r"\w+")


def _words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def _char_trigrams(words: list[str]) -> Counter[str]:
    padded = " " + " ".join(words) + " "
    return Counter(padded[i : i + 3] for i in range(len(padded) - 2))


def _counter_cosine(a: Counter[str], b: Counter[str]) -> float:
    # Counts are ints, so the dot product and the product of squared norms are exact; one sqrt of their
    # product makes identical texts exactly 1.0.
    norms = sum(v * v for v in a.values()) * sum(v * v for v in b.values())
    if not norms:
        return 0.0
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    dot = sum(count * large[key] for key, count in small.items() if key in large)
    return dot / math.sqrt(norms)


def lexical_cosine(input: str, reference: str) -> float:
    """Mean of the word-unigram cosine and the character-3-gram cosine (see the module docstring)."""
    input_words, reference_words = _words(input), _words(reference)
    if not input_words or not reference_words:
        return 0.0
    unigram = _counter_cosine(Counter(input_words), Counter(reference_words))
    trigram = _counter_cosine(_char_trigrams(input_words), _char_trigrams(reference_words))
    return (unigram + trigram) / 2


def cosine_of_vectors(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors, clamped to [0, 1]; 0.0 when either is zero or not finite."""
    if len(a) != len(b):
        raise ValueError(f"vectors differ in length: {len(a)} and {len(b)}")
    dot = math.fsum(x * y for x, y in zip(a, b, strict=True))
    norms = math.sqrt(math.fsum(x * x for x in a)) * math.sqrt(math.fsum(y * y for y in b))
    if not norms or not math.isfinite(dot / norms):
        return 0.0
    return min(1.0, max(0.0, dot / norms))
