"""fuzzy_match: rapidfuzz's WRatio on case- and punctuation-normalised strings, scaled to [0, 1]."""

from __future__ import annotations

from rapidfuzz import fuzz, utils

# fuzzy_match's two parts, named for the graders' inline scorer, which calls
# `PERCENT(input, reference, processor=PROCESSOR) / 100` itself: one Python frame less per sample.
PERCENT = fuzz.WRatio  # a score in [0, 100]: the value needs no clamping
PROCESSOR = utils.default_process


def fuzzy_match(input: str, reference: str) -> float:
    """`WRatio(input, reference, processor=default_process) / 100` (CONTRACT §5).

    The processor reproduces OpenAI's one captured value (0.7555555555555555 for
    "fuzzy wuzzy was a bear" vs "fuzzy wuzzy had no hair"); WRatio gives 0.0 for two empty strings.
    """
    return PERCENT(input, reference, processor=PROCESSOR) / 100
