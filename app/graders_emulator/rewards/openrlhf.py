"""OpenRLHF: a grader behind `--remote_rm_url` / `--reward.remote_url`, as an HTTP server or a `.py` file.

OpenRLHF posts `{"query": [...], "prompts": [...], "labels": [...]}` to each URL (`remote_rm_fn_ray` in
openrlhf/utils/remote_rm_utils.py), where a query is prompt + response decoded from the tokens, and a
label is the dataset field named by `--label_key`; it reads `{"rewards", "scores", "extra_logs"}` back.
A `.py` URL is loaded instead and its `reward_func(queries, prompts, labels, **kwargs)` called with the
same lists and the same answer expected. This file is such a `.py`: the grader is named by the
environment variable below (a path to the grader JSON, or the JSON itself).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from graders_emulator.library import Result
from graders_emulator.rewards.policy import RewardPolicy

GRADER_ENV = "GRADERS_EMULATOR_REWARD_GRADER"
_POLICIES: dict[str, RewardPolicy] = {}  # per grader named by the environment: loaded once


def model_sample(query: str, prompt: Any) -> str:
    """The response: the query with its prompt removed (after any leading special tokens)."""
    if isinstance(prompt, str) and prompt:
        at = query.find(prompt)
        if at >= 0:
            return query[at + len(prompt) :]
    return query


def item_of(label: Any) -> Any:
    """A label that is a JSON object (or a dict) is the item; any other label is `{"label": label}`."""
    if isinstance(label, Mapping):
        return dict(label)
    if isinstance(label, str) and label.lstrip().startswith("{"):
        try:
            parsed = json.loads(label)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    return {"label": label}


def rows_of(
    queries: Sequence[str], prompts: Sequence[Any] | None, labels: Sequence[Any] | None
) -> list[tuple[str, Any]]:
    count = len(queries)
    prompts = list(prompts) if prompts is not None else [None] * count
    labels = list(labels) if labels is not None else [None] * count
    if len(prompts) != count or len(labels) != count:
        raise ValueError(
            f"query, prompts and labels must have the same length (got {count}, {len(prompts)} and {len(labels)})"
        )
    return [
        (model_sample(q, p), item_of(label)) for q, p, label in zip(queries, prompts, labels, strict=True)
    ]


def answer(policy: RewardPolicy, results: list[Result]) -> dict[str, Any]:
    """OpenRLHF's answer: rewards, scores (the same values) and per-sample sub-rewards and flags."""
    rewards = [_number(policy.reward(result)) for result in results]
    extra: dict[str, list[float]] = {}
    for key in dict.fromkeys(key for result in results for key in result.sub_rewards):
        extra[key] = [float(result.sub_rewards.get(key, 0.0)) for result in results]
    for flag in dict.fromkeys(flag for result in results for flag in result.flags):
        extra[flag] = [1.0 if flag in result.flags else 0.0 for result in results]
    return {"rewards": rewards, "scores": rewards, "extra_logs": extra}


def _number(value: float | None) -> float:
    return 0.0 if value is None else float(value)


def _policy() -> RewardPolicy:
    grader = os.environ.get(GRADER_ENV)
    if not grader:
        raise RuntimeError(f"set {GRADER_ENV} to the grader's JSON file (or its JSON text)")
    if grader not in _POLICIES:
        _POLICIES[grader] = RewardPolicy(grader)
    return _POLICIES[grader]


def reward_func(
    queries: Sequence[str], prompts: Sequence[Any], labels: Sequence[Any], **kwargs: Any
) -> dict[str, Any]:
    """The `.py` form: the grader named by GRADERS_EMULATOR_REWARD_GRADER grades every query."""
    policy = _policy()
    return answer(policy, policy.grade(rows_of(list(queries), prompts, labels)))
