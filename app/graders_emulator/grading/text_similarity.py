"""text_similarity: one of eleven metrics between the rendered input and reference."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

import anyio.to_thread

from graders_emulator import metrics, templating
from graders_emulator.grading.context import Embedder, GradingContext
from graders_emulator.grading.result import GradeResult
from graders_emulator.metrics import fuzzy
from graders_emulator.schemas.graders import TextSimilarityGrader

# Below this many characters a metric costs microseconds: computing it on the event loop is cheaper
# than a thread hop (meteor, whose first use loads WordNet, goes to a thread). Above it the metric runs
# in the server's killable process pool under the metric deadline (a thread when there is no pool:
# the library), so that one large request never stalls the others or outlives its deadline.
INLINE_LIMIT = 2048
ALWAYS_THREADED = frozenset({"meteor"})


async def _embedded_cosine(embedder: Embedder, text: str, reference: str) -> float:
    if not text or not reference:
        return 0.0  # embeddings endpoints refuse empty strings; the lexical default also gives 0.0
    first, second = await embedder.embed([text, reference])
    return metrics.cosine_of_vectors(first, second)


async def grade(
    grader: TextSimilarityGrader, namespaces: dict[str, Any], context: GradingContext
) -> GradeResult:
    text = templating.render(grader.input, namespaces)
    reference = templating.render(grader.reference, namespaces)
    trace = {"input": text, "reference": reference}
    metric = grader.evaluation_metric
    try:
        if metric == "cosine" and context.embedder is not None:
            value = await _embedded_cosine(context.embedder, text, reference)
        elif len(text) + len(reference) > INLINE_LIMIT and context.metrics is not None:
            value = await context.metrics.score(metric, text, reference)
        elif metric in ALWAYS_THREADED or len(text) + len(reference) > INLINE_LIMIT:
            value = await anyio.to_thread.run_sync(metrics.score, metric, text, reference)
        else:
            value = metrics.score(metric, text, reference)
    except metrics.MetricUnavailable as exc:
        return GradeResult.failed("other_error", str(exc), trace=trace)
    except TimeoutError as exc:  # MetricTimeout: the worker was killed at the deadline
        details = (
            f"text_similarity {metric} stopped at the deadline: {exc} (setting metric_timeout_s); "
            f"input {len(text)} and reference {len(reference)} characters"
        )
        return GradeResult.failed("other_error", details, trace=trace)
    except Exception as exc:  # an embeddings backend failing is a grading failure, not a 500
        return GradeResult.failed("other_error", f"{metric} failed: {type(exc).__name__}: {exc}", trace=trace)
    return GradeResult(reward=value, trace=trace)


InlineScorer = Callable[[Mapping[str, Any]], float | None]


def inline_scorer(
    grader: TextSimilarityGrader, embedder: Embedder | None, *, off_loop: bool = False
) -> InlineScorer | None:
    """`grade`'s reward as a plain function, templates compiled once (for graders of many samples).

    On an event loop (`off_loop` False) it scores the samples `grade` computes on the loop and answers
    None for the others (longer than INLINE_LIMIT): the caller then awaits `grade` for them. A caller
    off any loop (a sync caller's own thread, which waits for the answer anyway) has every length and
    meteor scored in place. It answers None too when the metric raised (`grade` reports that failure)
    and raises MissingVariable where `grade` would. No scorer (None) for cosine on an embeddings
    endpoint, nor for meteor on a loop.
    """
    if not scores_inline(grader, embedder, off_loop=off_loop):
        return None
    metric = grader.evaluation_metric
    texts_of = templating.pair_renderer(grader.input, grader.reference)
    # On a loop, longer samples go the general way; off it, no length is (sys.maxsize: one comparison).
    limit = sys.maxsize if off_loop else INLINE_LIMIT
    if metric == "fuzzy_match":
        return _fuzzy_scorer(grader, limit)
    compute = metrics.METRICS[metric]
    clamp = metrics.clamp

    def score(namespaces: Mapping[str, Any]) -> float | None:
        text, reference = texts_of(namespaces)
        if len(text) + len(reference) > limit:
            return None
        try:
            return clamp(compute(text, reference))  # what metrics.score computes
        except Exception:
            return None

    return score


def scores_inline(grader: TextSimilarityGrader, embedder: Embedder | None, *, off_loop: bool) -> bool:
    """Whether a plain function can score this grader's samples: not cosine on an embeddings
    endpoint (awaited), nor meteor on an event loop (it goes to a thread)."""
    metric = grader.evaluation_metric
    return not ((metric == "cosine" and embedder is not None) or (metric in ALWAYS_THREADED and not off_loop))


def _fuzzy_scorer(grader: TextSimilarityGrader, limit: int) -> InlineScorer:
    """fuzzy_match's scorer: on short texts the metric itself costs about 2 us, and the work around it
    was half as much again. So `metrics.fuzzy.fuzzy_match` is inlined (WRatio's percentage needs no
    clamp), and a lone `{{ namespace.key }}` input and reference are looked up here (templating.lone_key),
    without a renderer's call; other templates and values take the pair renderer."""
    percent, processor = fuzzy.PERCENT, fuzzy.PROCESSOR
    texts_of = templating.pair_renderer(grader.input, grader.reference)

    def score(namespaces: Mapping[str, Any]) -> float | None:
        text, reference = texts_of(namespaces)
        if len(text) + len(reference) > limit:
            return None
        try:
            return percent(text, reference, processor=processor) / 100
        except Exception:
            return None

    text_lone, reference_lone = templating.lone_key(grader.input), templating.lone_key(grader.reference)
    if text_lone is None or reference_lone is None:
        return score
    (text_namespace, text_key), (reference_namespace, reference_key) = text_lone, reference_lone

    def score_lone_keys(namespaces: Mapping[str, Any]) -> float | None:
        try:
            text_scope, reference_scope = namespaces[text_namespace], namespaces[reference_namespace]
            if type(text_scope) is not dict or type(reference_scope) is not dict:
                return score(namespaces)
            text, reference = text_scope[text_key], reference_scope[reference_key]
        except KeyError:
            return score(namespaces)  # its renderer raises the MissingVariable
        if type(text) is not str or type(reference) is not str or len(text) + len(reference) > limit:
            return score(namespaces)
        try:
            return percent(text, reference, processor=processor) / 100
        except Exception:
            return None

    return score_lone_keys
