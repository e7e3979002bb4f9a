"""The starter suite: requests covering what the emulator decides where OpenAI's documentation is silent.

`write_suite(DIR)` writes one JSON request file per case; `send_suite(DIR, URL, key)` posts them to a
recording server (`serve --upstream https://api.openai.com/v1 --record CASSETTES`), so that one run
records OpenAI's answer to each; `parity CASSETTES` then shows where the emulator stands.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

RUN = "/v1/fine_tuning/alpha/graders/run"
VALIDATE = "/v1/fine_tuning/alpha/graders/validate"
METRICS = (
    "fuzzy_match", "bleu", "gleu", "meteor", "cosine",
    "rouge_1", "rouge_2", "rouge_3", "rouge_4", "rouge_5", "rouge_l",
)  # fmt: skip
SUITE_FORMAT = "graders-emulator-suite/1"

Case = dict[str, Any]


def _long_text(seed: int, words: int) -> str:
    rng = random.Random(seed)
    vocabulary = ("the", "a", "cat", "dog", "sat", "ran", "on", "under", "mat", "house", "quickly", "slowly")
    return " ".join(rng.choice(vocabulary) for _ in range(words)) + "."


TEXT_PAIRS: dict[str, tuple[str, str]] = {
    "guide-pair": ("fuzzy wuzzy was a bear", "fuzzy wuzzy had no hair"),
    "partial": ("The cat is sitting on the mat", "The cat sat on the mat."),
    "punctuation": ("Hello, world! How are you?", "hello world how are you"),
    "case": ("The Quick Brown Fox", "the quick brown fox"),
    "unicode": ("Café naïve 東京 😀 straße", "Cafe naive 東京 strasse"),
    "empty-both": ("", ""),
    "empty-input": ("", "the cat sat"),
    "empty-reference": ("the cat sat", ""),
    "one-word": ("Paris", "Paris"),
    "long": (_long_text(1, 400), _long_text(2, 400)),
}


def _run(slug: str, about: str, grader: dict[str, Any], sample: str, item: Any = None) -> Case:
    body: dict[str, Any] = {"grader": grader, "model_sample": sample}
    if item is not None:
        body["item"] = item
    return {"slug": slug, "about": about, "path": RUN, "body": body}


def _similarity(slug: str, metric: str, text: str, reference: str) -> Case:
    grader = {
        "type": "text_similarity",
        "name": f"{metric}-{slug}",
        "input": "{{sample.output_text}}",
        "reference": "{{item.reference}}",
        "evaluation_metric": metric,
    }
    return _run(
        f"metric-{metric}-{slug}", f"{metric} on the {slug} pair", grader, text, {"reference": reference}
    )


def metric_cases() -> Iterator[Case]:
    for metric in METRICS:
        for slug, (text, reference) in TEXT_PAIRS.items():
            yield _similarity(slug, metric, text, reference)


def string_check_cases() -> Iterator[Case]:
    pairs = {
        "eq-same": ("eq", "Paris", "Paris"),
        "eq-case": ("eq", "Paris", "paris"),
        "eq-trailing-space": ("eq", "Paris ", "Paris"),
        "ne-same": ("ne", "Paris", "Paris"),
        "like-substring": ("like", "The capital is Paris.", "Paris"),
        "like-case": ("like", "The capital is PARIS.", "Paris"),
        "ilike-case": ("ilike", "The capital is PARIS.", "paris"),
        "ilike-casefold-sharp-s": ("ilike", "STRASSE", "straße"),
        "like-empty-reference": ("like", "anything", ""),
        "eq-unicode-normalisation": ("eq", "e\u0301", "\u00e9"),
    }
    for slug, (operation, sample, reference) in pairs.items():
        grader = {
            "type": "string_check",
            "name": f"string-check-{slug}",
            "input": "{{sample.output_text}}",
            "reference": reference,
            "operation": operation,
        }
        yield _run(f"string-check-{slug}", f"string_check {operation}: {slug}", grader, sample)


def template_cases() -> Iterator[Case]:
    item = {"a": {"b": "deep"}, "list": ["first", "second"], "n": 1, "x": 1.0, "t": True, "z": None,
            "obj": {"k": [1, 2]}, "text": "Paris"}  # fmt: skip
    forms = {
        "spaces": "{{ item.text }}",
        "no-spaces": "{{item.text}}",
        "nested": "{{item.a.b}}",
        "index": "{{item.list[1]}}",
        "integer": "{{item.n}}",
        "float": "{{item.x}}",
        "boolean": "{{item.t}}",
        "null": "{{item.z}}",
        "object": "{{item.obj}}",
        "list": "{{item.list}}",
        "two-templates": "{{item.text}}-{{item.n}}",
        "unclosed": "{{item.text",
        "whole-namespace": "{{item}}",
        "missing-variable": "{{item.nope}}",
        "index-out-of-range": "{{item.list[5]}}",
        "output-json": "{{sample.output_json.answer}}",
        "output-json-on-text": "{{sample.output_json}}",
    }
    for slug, template in forms.items():
        grader = {
            "type": "string_check",
            "name": f"template-{slug}",
            "input": template,
            "reference": "",
            "operation": "ne",
        }
        sample = '{"answer": "Paris"}' if slug == "output-json" else "Paris"
        yield _run(
            f"template-{slug}",
            f"template form {template!r} (ne '' shows whether it rendered)",
            grader,
            sample,
            item,
        )
    unknown = {"type": "string_check", "name": "template-unknown-namespace", "input": "{{foo.bar}}",
               "reference": "x", "operation": "eq"}  # fmt: skip
    yield _run("template-unknown-namespace", "a namespace other than item/sample", unknown, "x", item)


def _multi(name: str, formula: str, graders: dict[str, Any] | None = None) -> dict[str, Any]:
    one = {"type": "string_check", "name": "one", "input": "{{sample.output_text}}", "reference": "yes",
           "operation": "eq"}  # fmt: skip
    zero = {**one, "name": "zero", "reference": "no"}
    return {"type": "multi", "name": name, "graders": graders or {"a": one, "b": zero},
            "calculate_output": formula}  # fmt: skip


FORMULAS = {
    "power-precedence": "a + 2 ^ 2",
    "power-right-associative": "2 ^ 3 ^ 2",
    "unary-minus-power": "-2 ^ 2",
    "power-fraction": "2 ^ 0.5",
    "parentheses": "(a + 1) ^ 2 / 4",
    "mixed": "a * 2 + 3 / 4 - 1",
    "min-max": "min(a, b) + max(a, b, 0.5)",
    "functions": "sqrt(4) + log(exp(1)) + abs(-3) + floor(2.7) + ceil(2.1)",
    "division-by-zero": "a / b",
    "float-division": "a / 3",
    "over-one": "a + 5",
    "negative": "b - 1",
    "log-of-zero": "log(b)",
    "unknown-function": "foo(a)",
    "unknown-variable": "a + c",
    "does-not-parse": "a +",
    "python-power-operator": "a ** 2",
}


def formula_cases() -> Iterator[Case]:
    for slug, formula in FORMULAS.items():
        yield _run(
            f"formula-{slug}",
            f"calculate_output {formula!r} with a=1, b=0",
            _multi(f"formula-{slug}", formula),
            "yes",
        )


PY_SOURCES = {
    "raises": "def grade(sample, item):\n    raise ValueError('boom')\n",
    "returns-string": "def grade(sample, item):\n    return 'high'\n",
    "returns-nan": "def grade(sample, item):\n    return float('nan')\n",
    "returns-inf": "def grade(sample, item):\n    return float('inf')\n",
    "returns-bool": "def grade(sample, item):\n    return True\n",
    "returns-none": "def grade(sample, item):\n    return None\n",
    "returns-int": "def grade(sample, item):\n    return 1\n",
    "returns-over-one": "def grade(sample, item):\n    return 5.5\n",
    "returns-negative": "def grade(sample, item):\n    return -0.25\n",
    "no-grade-function": "def score(sample, item):\n    return 1.0\n",
    "syntax-error": "def grade(sample, item)\n    return 1.0\n",
    "prints": "def grade(sample, item):\n    print('hello')\n    return 0.5\n",
    "reads-sample-and-item": (
        "def grade(sample, item):\n"
        "    return float(sample['output_text'] == item['reference'] and sample['output_json'] is None)\n"
    ),
    "sample-keys": "def grade(sample, item):\n    return float(len(sample))\n",
    "imports-numpy": "import numpy as np\n\ndef grade(sample, item):\n    return float(np.mean([0.0, 1.0]))\n",
    "imports-missing-module": "import surely_not_installed\n\ndef grade(sample, item):\n    return 1.0\n",
    "exits": "import sys\n\ndef grade(sample, item):\n    sys.exit(3)\n",
}


def python_cases() -> Iterator[Case]:
    for slug, source in PY_SOURCES.items():
        grader = {"type": "python", "name": f"python-{slug}", "source": source}
        yield _run(f"python-{slug}", f"python grader: {slug}", grader, "Paris", {"reference": "Paris"})


def multi_flag_cases() -> Iterator[Case]:
    ok = {
        "type": "string_check",
        "name": "ok",
        "input": "{{sample.output_text}}",
        "reference": "yes",
        "operation": "eq",
    }
    missing = {**ok, "name": "missing", "input": "{{item.nope}}"}
    raises = {"type": "python", "name": "raises", "source": PY_SOURCES["raises"]}
    combos = {
        "missing-variable-and-ok": {"a": ok, "b": missing},
        "python-error-and-ok": {"a": ok, "b": raises},
        "missing-variable-and-python-error": {"a": missing, "b": raises},
    }
    for slug, graders in combos.items():
        grader = _multi(f"multi-{slug}", "a + b", graders)
        yield _run(f"multi-{slug}", f"error flags of a multi grader: {slug}", grader, "yes", {"x": 1})
    zero = _multi("multi-formula-error-with-sub-error", "a / b", {"a": ok, "b": missing})
    yield _run("multi-formula-error-with-sub-error", "division by a failed sub-grader's 0", zero, "yes")


def error_cases() -> Iterator[Case]:
    good = {
        "type": "string_check",
        "name": "good",
        "input": "{{sample.output_text}}",
        "reference": "x",
        "operation": "eq",
    }
    bodies: dict[str, tuple[str, Any]] = {
        "body-not-an-object": ("a JSON list as the body", [1, 2]),
        "missing-model-sample": ("no model_sample", {"grader": good}),
        "missing-grader": ("no grader", {"model_sample": "x"}),
        "model-sample-number": ("model_sample as a number", {"grader": good, "model_sample": 1}),
        "input-object": ("grader.input as an object", {"grader": {**good, "input": {"a": 1}}, "model_sample": "x"}),
        "bad-operation": ("an unknown string_check operation", {"grader": {**good, "operation": "xyz"}, "model_sample": "x"}),
        "missing-reference": ("string_check without reference",
                              {"grader": {k: v for k, v in good.items() if k != "reference"}, "model_sample": "x"}),
        "unknown-type": ("an unknown grader type", {"grader": {**good, "type": "regex"}, "model_sample": "x"}),
        "unknown-metric": ("an unknown evaluation_metric", {"grader": {"type": "text_similarity", "name": "m",
                           "input": "a", "reference": "b", "evaluation_metric": "rouge_9"}, "model_sample": "x"}),
        "top-level-label-model": ("label_model outside multi", {"grader": {"type": "label_model", "name": "l",
                                  "model": "gpt-4o-mini", "input": [{"role": "user", "content": "x"}],
                                  "labels": ["a", "b"], "passing_labels": ["a"]}, "model_sample": "x"}),
        "nested-multi": ("multi inside multi", {"grader": _multi("outer", "a", {"a": _multi("inner", "a")}), "model_sample": "x"}),
        "multi-graders-single-object": ("multi.graders as one grader object (the SDK types' shape)",
                                        {"grader": {"type": "multi", "name": "single", "graders": good,
                                         "calculate_output": "good"}, "model_sample": "x"}),
        "python-source-too-large": ("python source over 256 kB", {"grader": {"type": "python", "name": "big",
                                    "source": "def grade(sample, item):\n    return 1.0\n" + "#" * 270_000}, "model_sample": "x"}),
        "score-model-bad-range": ("score_model range of one number", {"grader": {"type": "score_model", "name": "s",
                                  "model": "gpt-4o-mini", "input": [{"role": "user", "content": "x"}], "range": [1]},
                                  "model_sample": "x"}),
        "extra-key-pass-threshold": ("pass_threshold inside the grader (the guide sends it)",
                                     {"grader": {**good, "pass_threshold": 0.5}, "model_sample": "x"}),
    }  # fmt: skip
    for slug, (about, body) in bodies.items():
        yield {"slug": f"error-{slug}", "about": about, "path": RUN, "body": body}
    yield {
        "slug": "error-not-json",
        "about": "a body that is not JSON",
        "path": RUN,
        "body_text": '{"grader": ',
    }
    yield {
        "slug": "error-validate-missing-grader",
        "about": "validate without grader",
        "path": VALIDATE,
        "body": {},
    }


def validate_cases() -> Iterator[Case]:
    graders = {
        "string-check-unnamed": {"type": "string_check", "input": "{{sample.output_text}}", "reference": "x", "operation": "eq"},
        "text-similarity": {"type": "text_similarity", "name": "ts", "input": "a", "reference": "b",
                            "evaluation_metric": "bleu", "pass_threshold": 0.5},
        "python-image-tag": {"type": "python", "name": "py", "source": PY_SOURCES["returns-int"], "image_tag": "2025-05-08"},
        "multi": _multi("multi-validate", "a + b"),
        "score-model": {"type": "score_model", "name": "sm", "model": "gpt-4o-mini",
                        "input": [{"role": "user", "content": "Rate {{sample.output_text}}"}], "range": [0, 1]},
    }  # fmt: skip
    for slug, grader in graders.items():
        yield {
            "slug": f"validate-{slug}",
            "about": f"validate normalises: {slug}",
            "path": VALIDATE,
            "body": {"grader": grader},
        }
    unnamed = {"type": "string_check", "input": "{{sample.output_text}}", "reference": "x", "operation": "eq"}
    yield _run("run-unnamed-grader", "a run without a grader name (generated name)", unnamed, "x")


def model_cases() -> Iterator[Case]:
    """Model graders: answers vary run to run, but the shapes (token usage, model names) do not."""
    score = {"type": "score_model", "name": "score-model-shape", "model": "gpt-4o-mini",
             "input": [{"role": "user", "content": "Score 1 if the answer is Paris: {{sample.output_text}}"}],
             "range": [0, 1], "sampling_params": {"temperature": 0, "seed": 1}}  # fmt: skip
    yield _run(
        "model-score-model-shape", "score_model: token usage and sampled model name shapes", score, "Paris"
    )
    label = {"type": "label_model", "name": "label", "model": "gpt-4o-mini",
             "input": [{"role": "user", "content": "Is {{sample.output_text}} a city? Answer yes or no."}],
             "labels": ["yes", "no"], "passing_labels": ["yes"]}  # fmt: skip
    multi = {
        "type": "multi",
        "name": "label-in-multi",
        "graders": {"label": label},
        "calculate_output": "label",
    }
    yield _run("model-label-in-multi", "label_model inside multi: usage per model", multi, "Paris")


def suite() -> list[Case]:
    """Every case of the starter suite, in a fixed order."""
    parts = (metric_cases, string_check_cases, template_cases, formula_cases, python_cases,
             multi_flag_cases, error_cases, validate_cases, model_cases)  # fmt: skip
    return [case for part in parts for case in part()]


def write_suite(directory: Path) -> list[Path]:
    """Write `NNN-<slug>.json` request files (and replace an older suite's files)."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("[0-9][0-9][0-9]-*.json"):
        old.unlink()
    written = []
    for number, case in enumerate(suite(), 1):
        target = directory / f"{number:03d}-{case['slug']}.json"
        request = {"format": SUITE_FORMAT, "about": case["about"], "method": "POST", "path": case["path"]}
        request.update({k: case[k] for k in ("body", "body_text") if k in case})
        target.write_text(json.dumps(request, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(target)
    return written


def request_bytes(request: dict[str, Any]) -> bytes:
    """The body a suite request sends: its JSON compactly, or its literal text."""
    if "body_text" in request:
        return str(request["body_text"]).encode()
    return orjson.dumps(request["body"])


def send_suite(directory: Path, base_url: str, api_key: str, timeout_s: float = 300.0) -> Iterator[str]:
    """POST every request of a suite to `base_url` (a recording server); one line per answer."""
    import httpx

    files = sorted(directory.glob("*.json"))
    if not files:
        raise ValueError(f"no suite requests in {directory} (write them with --write-suite)")
    base = base_url.rstrip("/")
    headers = {"authorization": f"Bearer {api_key}", "content-type": "application/json"}
    with httpx.Client(timeout=timeout_s) as client:
        for file in files:
            request = json.loads(file.read_text(encoding="utf-8"))
            path = str(request["path"])
            url = base + (path[3:] if path.startswith("/v1/") else path)
            try:
                response = client.request(
                    request["method"], url, content=request_bytes(request), headers=headers
                )
            except httpx.HTTPError as exc:
                yield f"{file.name}: failed: {type(exc).__name__}: {exc}"
                continue
            yield f"{file.name}: {response.status_code}"
