"""Model aliases and the snapshots they resolve to, as `sampled_model_name` reports them."""

from __future__ import annotations

from collections.abc import Mapping

# The snapshot each alias pointed to when OpenAI's graders were live. Users extend or override it with
# GRADERS_EMULATOR_MODEL_ALIASES; unknown names pass through unchanged.
DEFAULT_ALIASES: Mapping[str, str] = {
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "o1": "o1-2024-12-17",
    "o3": "o3-2025-04-16",
    "o3-mini": "o3-mini-2025-01-31",
    "o4-mini": "o4-mini-2025-04-16",
    "gpt-5": "gpt-5-2025-08-07",
    "gpt-5-mini": "gpt-5-mini-2025-08-07",
    "gpt-5-nano": "gpt-5-nano-2025-08-07",
}


def resolve(model: str, aliases: Mapping[str, str]) -> str:
    return aliases.get(model, model)
