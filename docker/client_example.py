"""Example client (docker/compose.client-example.yml): grade through the official OpenAI SDK.

The SDK reads OPENAI_BASE_URL (http://graders:8000/v1 inside the compose network) and OPENAI_API_KEY.
Exits non-zero when a reward is not the expected one, so it can gate a CI job.
"""

from __future__ import annotations

import sys

from openai import OpenAI

CASES = [
    (
        "string_check",
        {
            "type": "string_check",
            "name": "exact",
            "input": "{{ sample.output_text }}",
            "reference": "{{ item.answer }}",
            "operation": "eq",
        },
        "Paris",
        {"answer": "Paris"},
        1.0,
    ),
    (
        "python",
        {
            "type": "python",
            "name": "length-ratio",
            "source": (
                "def grade(sample, item):\n"
                "    out = sample['output_text']\n"
                "    return min(len(out), len(item['answer'])) / max(len(out), len(item['answer']))\n"
            ),
        },
        "Pari",
        {"answer": "Paris"},
        0.8,
    ),
]


def main() -> int:
    client = OpenAI()
    failures = 0
    for label, grader, sample, item, expected in CASES:
        result = client.fine_tuning.alpha.graders.run(
            grader=grader,  # type: ignore[arg-type]
            model_sample=sample,
            item=item,
        )
        ok = abs(result.reward - expected) < 1e-9
        failures += not ok
        print(f"{label}: reward {result.reward} (expected {expected}) {'ok' if ok else 'MISMATCH'}")
    print(f"client example: {len(CASES) - failures}/{len(CASES)} ok against {client.base_url}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
