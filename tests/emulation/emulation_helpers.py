"""Graders, settings and an SDK call shared by the emulation tests."""

from __future__ import annotations

from typing import Any

import openai
from example_graders import EXACT

from graders_emulator.settings import Settings

KEY = "sk-test-emulation-1234"

STRING_CHECK = EXACT
SCORE_MODEL = {
    "type": "score_model",
    "name": "accuracy",
    "model": "gpt-4o",
    "input": [
        {"role": "system", "content": "Grade the answer from 0 to 1."},
        {"role": "user", "content": "Answer: {{sample.output_text}} Reference: {{item.answer}}"},
    ],
}
LABEL_MODEL = {
    "type": "label_model",
    "name": "tone",
    "model": "gpt-4o-mini",
    "input": [{"role": "user", "content": "Is this polite? {{sample.output_text}}"}],
    "labels": ["polite", "rude"],
    "passing_labels": ["polite"],
}


def settings(**overrides: Any) -> Settings:
    """Fast test settings: no python sandbox (these tests never run python graders)."""
    return Settings(**{"port": 0, "python_graders": False, **overrides})


def run(client: openai.OpenAI, grader: dict[str, Any], sample: str = "Paris", **options: Any) -> Any:
    """Run a grader through the SDK; `headers=` become extra_headers."""
    headers = options.pop("headers", None)
    return client.fine_tuning.alpha.graders.run(
        grader=grader,  # type: ignore[arg-type]
        model_sample=sample,
        item=options.pop("item", {"answer": "Paris"}),
        extra_headers=headers,
        **options,
    )
