"""Do bleu, gleu and meteor differ between nltk 3.9.1 (OpenAI's grader image) and the installed nltk?

Run: `PYTHONPATH=$PWD/app python bench/nltk_versions.py [--pairs 400]`.

It creates a temporary venv, `pip install --no-deps nltk==3.9.1` into it (only nltk changes; regex,
joblib, click and tqdm stay the installed ones, so the measured difference is nltk's alone), then
scores the same deterministic corpus of varied (input, reference) pairs with the emulator's own
metric functions (`graders_emulator.metrics.METRICS`) twice: once in a child whose `sys.path` puts
the temporary nltk first, once with the installed nltk. It prints the nltk version each child
really imported and, per metric, the maximum absolute difference and how many pairs differ.
It is a measurement, not a timed benchmark: its result is quoted in the README's metric table.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

OPENAI_NLTK = "3.9.1"
METRIC_NAMES = ("bleu", "gleu", "meteor")

_WORDS = (  # noqa: SIM905 (a sentence is easier to read and edit than a list of 80 strings)
    "the cat sat on mat dog ran quickly slowly house big small red blue green running runs ran "
    "jumped jumping happy happily sad car cars automobile vehicle fast rapid swift quick a an of to "
    "is was were be been being good better best well eat ate eaten eating child children mouse mice "
    "go went gone going city town village road street walk walked walking beautiful pretty lovely"
).split()
_PUNCT = (".", ",", "!", "?", ";", ":", "...", "'s", "n't", "(", ")", '"', "-")
_UNICODE = ("café", "naïve", "Zürich", "東京", "😀", "résumé", "ß", "İstanbul", "ﬁne", "Ω")


def _sentence(rng: random.Random, low: int, high: int) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(low, high))]
    if words and rng.random() < 0.4:
        words[0] = words[0].capitalize()
    if rng.random() < 0.3:
        words.insert(rng.randint(0, len(words)), rng.choice(_UNICODE))
    text = " ".join(words)
    if rng.random() < 0.5:
        text += rng.choice(_PUNCT)
    if rng.random() < 0.2:
        text = text.upper()
    return text


def _variant(rng: random.Random, text: str) -> str:
    """A reference close to `text`: some words swapped, dropped, inflected or recased."""
    words = text.split()
    for i in range(len(words)):
        roll = rng.random()
        if roll < 0.15:
            words[i] = rng.choice(_WORDS)
        elif roll < 0.2:
            words[i] = words[i].lower()
        elif roll < 0.25:
            words[i] += rng.choice(("s", "ed", "ing"))
    if words and rng.random() < 0.3:
        del words[rng.randrange(len(words))]
    return " ".join(words) + (rng.choice(_PUNCT) if rng.random() < 0.3 else "")


def corpus(pairs: int, seed: int = 20250508) -> list[tuple[str, str]]:
    """`pairs` (input, reference) pairs: edge cases first, then seeded random ones of every length."""
    fixed = [
        ("", ""),
        ("", "the cat"),
        ("the cat", ""),
        ("Paris", "Paris"),
        ("The cat is sitting on the mat", "The cat sat on the mat."),
        ("fuzzy wuzzy was a bear", "fuzzy wuzzy had no hair"),
        ("Hello, world!", "hello world"),
        ("café naïve résumé", "cafe naive resume"),
        ("東京 は 大きい", "東京 は 大きい です"),
        ("don't stop", "do not stop"),
    ]
    rng = random.Random(seed)
    found = list(fixed)
    while len(found) < pairs:
        size = rng.choice(((1, 3), (3, 12), (10, 40), (40, 200)))
        hypothesis = _sentence(rng, *size)
        reference = _variant(rng, hypothesis) if rng.random() < 0.8 else _sentence(rng, *size)
        found.append((hypothesis, reference))
    return found[:pairs]


_CHILD = """
import json, sys
import nltk
from graders_emulator.metrics import METRICS
pairs = json.load(sys.stdin)
scores = {name: [METRICS[name](a, b) for a, b in pairs] for name in METRIC_NAMES}
json.dump({"nltk": nltk.__version__, "nltk_file": nltk.__file__, "scores": scores}, sys.stdout)
""".replace("METRIC_NAMES", repr(METRIC_NAMES))


def _score(pairs: list[tuple[str, str]], first_on_path: Path | None) -> dict[str, object]:
    env = dict(os.environ)
    app = str(Path(__file__).resolve().parents[1] / "app")
    parts = [str(first_on_path)] if first_on_path else []
    env["PYTHONPATH"] = os.pathsep.join([*parts, app, env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", _CHILD],
        input=json.dumps(pairs),
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=1800,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def _install(target: Path) -> Path:
    """A temporary venv holding nltk==3.9.1 (no dependencies); returns its site-packages."""
    venv.create(target, with_pip=True)
    python = target / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", f"nltk=={OPENAI_NLTK}"],
        check=True,
        timeout=600,
    )
    found = list(target.glob("lib/python*/site-packages"))
    return found[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=400)
    args = parser.parse_args()
    pairs = corpus(args.pairs)
    with tempfile.TemporaryDirectory(prefix="nltk-3.9.1-") as tmp:
        site = _install(Path(tmp) / "venv")
        old = _score(pairs, site)
    new = _score(pairs, None)
    print(f"pairs: {len(pairs)}; nltk {old['nltk']} (OpenAI's image) vs nltk {new['nltk']} (installed)")
    print(f"{'metric':8} {'max abs diff':>14} {'pairs differing':>16}")
    worst = 0.0
    for name in METRIC_NAMES:
        a = old["scores"][name]  # type: ignore[index]
        b = new["scores"][name]  # type: ignore[index]
        diffs = [abs(x - y) for x, y in zip(a, b, strict=True)]
        differing = sum(1 for d in diffs if d > 0)
        worst = max(worst, *diffs)
        print(f"{name:8} {max(diffs):14.3g} {differing:16d}")
    print("identical" if worst == 0 else "DIFFERENT: see the pairs above")
    return 0


if __name__ == "__main__":
    sys.exit(main())
