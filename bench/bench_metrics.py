"""Benchmark: our metrics against direct calls of the reference libraries (run: python bench/bench_metrics.py).

For each metric, on a short and a ~2 KB text pair, it times `graders_emulator.metrics.score()` and the reference
library's documented call on the same inputs, tokenisation included on both sides, and prints the
ratio ours / reference (target <= 1.2). Then rouge_l on two ~10 KB texts: ours against
`RougeScorer(["rougeL"]).score` (target >= 100x faster). Best of alternating batches after a warm-up
(the machine may be shared: the minimum is the least disturbed measurement).
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nltk.tokenize import NLTKWordTokenizer
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from nltk.translate.gleu_score import sentence_gleu
from nltk.translate.meteor_score import meteor_score
from rapidfuzz import fuzz, utils
from rouge_score.rouge_scorer import RougeScorer

from graders_emulator.metrics import METRICS, score, wordnet

_VOCABULARY = (  # noqa: SIM905 - plain prose words, so METEOR and WordNet see a realistic vocabulary
    "the committee met on tuesday morning to review annual budget and plans for new library several "
    "members argued that city should invest more in public transport before building roads others "
    "pointed out old bridge over river needs urgent repairs after last winter floods mayor promised "
    "publish detailed report including costs timelines expected benefits local shop owners asked fewer "
    "parking restrictions during holiday season december teacher from primary school described how "
    "children walk class along busy street after long discussion agreed hold meeting next month town hall"
).split()


def _prose(seed: int, chars: int) -> str:
    rnd = random.Random(seed)
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < chars:
        sentence = rnd.choices(_VOCABULARY, k=rnd.randint(8, 18))
        words += [sentence[0].capitalize(), *sentence[1:-1], sentence[-1] + "."]
    return " ".join(words)


def _two_words_replaced(text: str) -> str:
    words = text.split()
    words[len(words) // 3], words[2 * len(words) // 3] = "bicycle", "orchestra"
    return " ".join(words)


def _reference_calls(reader: object) -> dict[str, Callable[[str, str], object]]:
    tokenizer = NLTKWordTokenizer()
    smoothing = SmoothingFunction().method1
    tok = tokenizer.tokenize
    calls: dict[str, Callable[[str, str], object]] = {
        "fuzzy_match": lambda i, r: fuzz.WRatio(i, r, processor=utils.default_process) / 100,
        "bleu": lambda i, r: sentence_bleu([tok(r)], tok(i), smoothing_function=smoothing),
        "gleu": lambda i, r: sentence_gleu([tok(r)], tok(i)),
        "meteor": lambda i, r: meteor_score([tok(r)], tok(i), wordnet=reader),
    }
    for name, rouge_type in [*((f"rouge_{n}", f"rouge{n}") for n in range(1, 6)), ("rouge_l", "rougeL")]:
        scorer = RougeScorer([rouge_type])
        calls[name] = lambda i, r, s=scorer, t=rouge_type: s.score(target=r, prediction=i)[t].fmeasure
    return calls


def _batch_size(call: Callable[[], object], batch_s: float) -> int:
    call()  # warm-up: caches (WordNet synsets, regexes, imports)
    once = max(_timed(call), 1e-7)
    return max(1, int(batch_s / once))


def _per_call(call: Callable[[], object], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        call()
    return (time.perf_counter() - start) / number


def _compare(
    ours: Callable[[], object], theirs: Callable[[], object], rounds: int = 15
) -> tuple[float, float]:
    """Best per-call time of each side, batches alternating so that load from other processes hits both."""
    number = min(_batch_size(ours, 0.005), _batch_size(theirs, 0.005))
    ours_t, theirs_t = [], []
    for _ in range(rounds):
        ours_t.append(_per_call(ours, number))
        theirs_t.append(_per_call(theirs, number))
    return min(ours_t), min(theirs_t)


def _best_seconds(call: Callable[[], object], rounds: int = 7) -> float:
    number = _batch_size(call, 0.02)
    return min(_per_call(call, number) for _ in range(rounds))


def _format_us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} µs"


def main() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        wordnet.configure(data_dir=Path(data_dir))
        start = time.perf_counter()
        reader = wordnet.load_wordnet()
        print(f"WordNet loaded in {time.perf_counter() - start:.2f} s from {wordnet.status()['source']}\n")
        _ratio_table(reader)
    _rouge_l_long()


def _ratio_table(reader: object) -> None:
    short = ("The cat is sitting on the mat", "The cat sat on the mat.")
    long_reference = _prose(1, 2000)
    pairs = {"short": short, "2KB": (_two_words_replaced(long_reference), long_reference)}
    reference = _reference_calls(reader)
    print(f"{'metric':<12} {'size':<6} {'ours':>12} {'reference':>12} {'ratio':>7}")
    worst = 0.0
    for metric in METRICS:
        if metric not in reference:
            continue  # cosine has no reference library (lexical embedding of our own)
        for size, (inp, ref) in pairs.items():
            ours, theirs = _compare(
                lambda m=metric, i=inp, r=ref: score(m, i, r),
                lambda m=metric, i=inp, r=ref: reference[m](i, r),
            )
            worst = max(worst, ours / theirs)
            print(
                f"{metric:<12} {size:<6} {_format_us(ours):>12} {_format_us(theirs):>12} {ours / theirs:>6.2f}x"
            )
    for size, (inp, ref) in pairs.items():
        cosine = _best_seconds(lambda i=inp, r=ref: score("cosine", i, r))
        print(f"{'cosine':<12} {size:<6} {_format_us(cosine):>12} {'(none)':>12} {'-':>7}")
    print(f"\nworst ratio ours/reference: {worst:.2f}x (target <= 1.2x)\n")


def _rouge_l_long() -> None:
    reference_text = _prose(2, 10_000)
    input_text = _prose(3, 10_000)
    scorer = RougeScorer(["rougeL"])
    ours = _best_seconds(lambda: score("rouge_l", input_text, reference_text))
    start = time.perf_counter()
    expected = scorer.score(target=reference_text, prediction=input_text)["rougeL"].fmeasure
    theirs = min(
        [time.perf_counter() - start]
        + [_timed(lambda: scorer.score(target=reference_text, prediction=input_text)) for _ in range(2)]
    )
    value = score("rouge_l", input_text, reference_text)
    print(f"rouge_l on two ~10 KB texts ({len(input_text):,} and {len(reference_text):,} chars):")
    print(f"  ours {_format_us(ours)}, rouge-score {theirs * 1e3:,.1f} ms: {theirs / ours:,.0f}x faster")
    print(f"  same value: {value == expected} ({value:.6f}) (target >= 100x)")


def _timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
