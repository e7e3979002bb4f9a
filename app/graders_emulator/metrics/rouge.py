"""rouge_1..rouge_5 and rouge_l: rouge-score's F-measures on its tokens, rouge_l with a fast LCS."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from rapidfuzz.distance import LCSseq

from graders_emulator.metrics.tokens import rouge_tokens


def _fmeasure(overlap: int, prediction_count: int, target_count: int) -> float:
    # The same float operations as rouge_score.scoring.fmeasure, so values are bit-identical.
    precision = overlap / max(prediction_count, 1)
    recall = overlap / max(target_count, 1)
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


def _ngrams(tokens: list[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(zip(*(tokens[i:] for i in range(n)), strict=False))


def rouge_n(input: str, reference: str, n: int) -> float:
    """rouge-score's `rouge{n}` F-measure with the reference as target (no stemming)."""
    target = _ngrams(rouge_tokens(reference), n)
    prediction = _ngrams(rouge_tokens(input), n)
    overlap = sum((target & prediction).values())
    return _fmeasure(overlap, prediction.total(), target.total())


def _lcs_length(a: list[str], b: list[str]) -> int:
    # rouge-score's LCS table is quadratic pure Python (seconds on 30 KB); rapidfuzz's bit-parallel LCS
    # gives the same length. Tokens become small ints first, so equal ints mean equal tokens exactly
    # (rapidfuzz would otherwise compare strings through their hashes).
    ids: dict[str, int] = {}
    a_ids = [ids.setdefault(token, len(ids)) for token in a]
    b_ids = [ids.setdefault(token, len(ids)) for token in b]
    return int(LCSseq.similarity(a_ids, b_ids))


def rouge_l(input: str, reference: str) -> float:
    """rouge-score's `rougeL` F-measure (longest common token subsequence), reference as target."""
    target, prediction = rouge_tokens(reference), rouge_tokens(input)
    # rouge-score returns int 0 here; a float keeps the return type honest.
    if not target or not prediction:
        return 0.0
    return _fmeasure(_lcs_length(target, prediction), len(prediction), len(target))


def rouge_n_metric(n: int) -> Callable[[str, str], float]:
    """The `(input, reference) -> float` metric for rouge_{n}."""

    def metric(input: str, reference: str) -> float:
        return rouge_n(input, reference, n)

    metric.__name__ = f"rouge_{n}"
    metric.__qualname__ = f"rouge_{n}"
    return metric
