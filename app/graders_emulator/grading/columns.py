"""A deterministic grader's rewards over whole columns of texts: one C-level pass per step, for batches.

A row of a string_check costs ~40 ns of `==`, and a fuzzy_match ~3 us of WRatio; the per-row work
around them (a call, a tuple, a loop iteration) cost as much again as the metric or more. Over
columns (`map` over lists of str), the metric is all that runs per row. A column is the values of one
lone `{{ namespace.key }}` template over the batch's rows. The caller (the library's `grade_many`) has
made sure that every value is a str (what the template renders) and within the bounds; these
scorers only compute the metric, with the values of `string_check.scorer`,
`text_similarity.inline_scorer` and `multi.inline_scorer`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from itertools import repeat

from graders_emulator import metrics, templating
from graders_emulator.grading import formula, string_check, text_similarity
from graders_emulator.grading.context import Embedder
from graders_emulator.metrics import fuzzy
from graders_emulator.schemas.graders import Grader, MultiGrader, StringCheckGrader, TextSimilarityGrader

Source = tuple[str, str]  # (namespace, key) of a lone `{{ namespace.key }}`
Columns = Mapping[Source, Sequence[str]]
# The rewards of the rows, and a multi's sub-rewards of each row (None for other graders); None: a
# row's metric or formula failed, and the rows go one by one, where the failure becomes its flag.
Scored = tuple[list[float], list[dict[str, float]] | None]
ColumnScorer = Callable[[Columns], Scored | None]
_PairScorer = Callable[[Sequence[str], Sequence[str]], list[float] | None]

_REWARD_OF_PASSED = {True: 1.0, False: 0.0}.__getitem__


def scorer(grader: Grader, embedder: Embedder | None, *, off_loop: bool) -> ColumnScorer | None:
    """The column form of a string_check or text_similarity grader whose input and reference are lone
    keys, or of a multi grader made only of them. None for any other grader, and where
    `text_similarity.scores_inline` says no (cosine on an embeddings endpoint, meteor on a loop).

    On an event loop (`off_loop` False) a batch with a text_similarity row longer than its
    INLINE_LIMIT scores to None: such rows are computed off the loop, one by one.
    """
    if isinstance(grader, MultiGrader):
        return _multi(grader, embedder, off_loop)
    single = _single(grader, embedder, off_loop)
    if single is None:
        return None
    score, (text, reference) = single

    def score_columns(columns: Columns) -> Scored | None:
        rewards = score(columns[text], columns[reference])
        return None if rewards is None else (rewards, None)

    return score_columns


def _single(
    grader: Grader, embedder: Embedder | None, off_loop: bool
) -> tuple[_PairScorer, tuple[Source, Source]] | None:
    if not isinstance(grader, StringCheckGrader | TextSimilarityGrader):
        return None
    text, reference = templating.lone_key(grader.input), templating.lone_key(grader.reference)
    if text is None or reference is None:
        return None
    if isinstance(grader, StringCheckGrader):
        passes = string_check.OPERATIONS[grader.operation]

        def score_checks(texts: Sequence[str], references: Sequence[str]) -> list[float]:
            return list(map(_REWARD_OF_PASSED, map(passes, texts, references)))

        return score_checks, (text, reference)
    if not text_similarity.scores_inline(grader, embedder, off_loop=off_loop):
        return None
    return _similarity(grader.evaluation_metric, off_loop), (text, reference)


def _similarity(metric: str, off_loop: bool) -> _PairScorer:
    if metric == "fuzzy_match":
        percent, processor = fuzzy.PERCENT, fuzzy.PROCESSOR

        def compute_all(texts: Sequence[str], references: Sequence[str]) -> list[float]:
            # `fuzzy.fuzzy_match`'s value: WRatio(processor=p) is WRatio of p(input) and p(reference)
            # (rapidfuzz 3.x fuzz_py.WRatio), and a processor keyword costs a dict per call.
            processed = map(percent, map(processor, texts), map(processor, references))
            return list(map(operator.truediv, processed, repeat(100)))

    else:
        compute, clamp = metrics.METRICS[metric], metrics.clamp

        def compute_all(texts: Sequence[str], references: Sequence[str]) -> list[float]:
            return [
                clamp(compute(text, reference)) for text, reference in zip(texts, references, strict=True)
            ]

    def score_texts(texts: Sequence[str], references: Sequence[str]) -> list[float] | None:
        if (
            not off_loop
            and max(map(operator.add, map(len, texts), map(len, references))) > text_similarity.INLINE_LIMIT
        ):
            return None
        try:
            return compute_all(texts, references)
        except Exception:
            return None

    return score_texts


def _multi(grader: MultiGrader, embedder: Embedder | None, off_loop: bool) -> ColumnScorer | None:
    subs: list[tuple[_PairScorer, Source, Source]] = []
    for sub in grader.graders.values():
        single = _single(sub, embedder, off_loop)
        if single is None:
            return None
        subs.append((single[0], *single[1]))
    compute = formula.compiled(grader.calculate_output)
    if compute is None:
        return None
    keys = tuple(grader.graders)

    def score_multi(columns: Columns) -> Scored | None:
        per_sub = []
        for score, text, reference in subs:
            rewards = score(columns[text], columns[reference])
            if rewards is None:
                return None
            per_sub.append(rewards)
        sub_rewards = list(map(dict, map(zip, repeat(keys), zip(*per_sub, strict=True))))
        values = list(map(compute, sub_rewards))
        if None in values:  # the formula failed on a row's values: `multi.grade` reports it
            return None
        return values, sub_rewards  # type: ignore[return-value]  # None is not in it

    return score_multi
