"""nltk imported from two threads at once (WordNet warm-up + a request's first metric) must not break."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = textwrap.dedent(
    """
    import threading
    from graders_emulator.metrics import score, wordnet

    warm = threading.Thread(target=wordnet.warm_up)
    warm.start()
    values = [score(metric, "the cat sat on the mat", "the cat sat") for metric in ("bleu", "gleu", "meteor")]
    warm.join()
    print(wordnet.status()["wordnet"], all(0.0 < v <= 1.0 for v in values))
    """
)


def test_concurrent_first_use_of_nltk_in_a_fresh_process() -> None:
    # A fresh interpreter: in this one nltk is already imported and the race cannot happen.
    for _ in range(3):
        result = subprocess.run(
            [sys.executable, "-c", SCRIPT], check=False, cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stdout.split() == ["loaded", "True"], result.stdout + result.stderr[-2000:]
