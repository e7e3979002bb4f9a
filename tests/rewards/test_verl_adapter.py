"""The verl adapter through verl 0.9.1's own reward code (it installs without a GPU; CPU tensors here).

verl/trainer/ppo/reward.py `get_custom_reward_fn` (50-86) loads `custom_reward_function.path` / `.name`
with `load_extern_object` (utils/import_utils.py 151-261: `pkg://` or a file path) and binds
`reward_kwargs`; verl/workers/reward_manager/naive.py `NaiveRewardManager.__call__` (88-172) decodes
each response and calls `compute_score(data_source=, solution_str=, ground_truth=, extra_info=)` (131),
logging a dict's keys; batch.py `BatchRewardManager.verify` (48-77) calls
`compute_score(data_sources=, solution_strs=, ground_truths=, extra_infos=, **reward_kwargs)`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import reward_graders as rg
import torch
from omegaconf import OmegaConf
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast
from verl import DataProto
from verl.trainer.ppo.reward import get_custom_reward_fn
from verl.workers.reward_manager.batch import BatchRewardManager
from verl.workers.reward_manager.naive import NaiveRewardManager

import graders_emulator.rewards.verl as verl_adapter

WORDS = ["<pad>", "<unk>", "what", "is", "the", "capital", "?", "paris", "rome", "it", "berlin", "city"]
PROMPT = "what is the capital ?"
RESPONSES = ["paris", "it is rome", "berlin city", "rome"]
TRUTHS = ["paris", "rome", "berlin", "paris"]


def _tokenizer() -> PreTrainedTokenizerFast:
    core = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.decoder = decoders.WordPiece(prefix="##")
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", unk_token="<unk>")


def _batch(tokenizer: PreTrainedTokenizerFast) -> tuple[DataProto, list[int]]:
    prompt = tokenizer(PROMPT)["input_ids"]
    width = max(len(tokenizer(r)["input_ids"]) for r in RESPONSES)
    responses, masks, lengths = [], [], []
    for text in RESPONSES:
        ids = tokenizer(text)["input_ids"]
        lengths.append(len(ids))
        responses.append(ids + [tokenizer.pad_token_id] * (width - len(ids)))
        masks.append([1] * len(prompt) + [1] * len(ids) + [0] * (width - len(ids)))
    tensors = {
        "prompts": torch.tensor([prompt] * len(RESPONSES)),
        "responses": torch.tensor(responses),
        "attention_mask": torch.tensor(masks),
    }
    non_tensors = {
        "data_source": np.array(["capitals"] * len(RESPONSES), dtype=object),
        "reward_model": np.array([{"ground_truth": t} for t in TRUTHS], dtype=object),
        "extra_info": np.array([{"index": i} for i in range(len(RESPONSES))], dtype=object),
    }
    return DataProto.from_dict(tensors=tensors, non_tensors=non_tensors), lengths


def _reward_fn(path: str, name: str, grader: str) -> Any:
    config = OmegaConf.create(
        {
            "reward": {
                "custom_reward_function": {"path": path, "name": name, "reward_kwargs": {"grader": grader}}
            }
        }
    )
    return get_custom_reward_fn(config)


def _final_rewards(out: dict[str, Any], lengths: list[int]) -> list[float]:
    tensor = out["reward_tensor"]
    return [float(tensor[i, length - 1]) for i, length in enumerate(lengths)]


@pytest.fixture
def multi_file(tmp_path: Path) -> str:
    grader = {
        **rg.MULTI,
        "graders": {
            "exact": {**rg.EXACT, "reference": "{{ item.ground_truth }}"},
            "fuzzy": {**rg.FUZZY, "reference": "{{ item.ground_truth }}"},
        },
    }
    path = tmp_path / "grader.json"
    path.write_text(json.dumps(grader))
    return str(path)


def test_naive_reward_manager_with_pkg_path_and_a_multi_grader(multi_file: str) -> None:
    tokenizer = _tokenizer()
    data, lengths = _batch(tokenizer)
    manager = NaiveRewardManager(
        tokenizer,
        num_examine=0,
        compute_score=_reward_fn("pkg://graders_emulator.rewards.verl", "compute_score", multi_file),
    )
    out = manager(data, return_dict=True)
    expected = [rg.multi(r, t) for r, t in zip(RESPONSES, TRUTHS, strict=True)]
    assert _final_rewards(out, lengths) == pytest.approx(expected, abs=1e-6)  # float32 tensor
    extra = out["reward_extra_info"]
    assert extra["exact"] == [1.0, 0.0, 0.0, 0.0]  # by hand: only "paris" == "paris"
    assert extra["fuzzy"] == pytest.approx([rg.fuzzy(r, t) for r, t in zip(RESPONSES, TRUTHS, strict=True)])


def test_batch_reward_manager_with_the_file_path_and_the_item(tmp_path: Path) -> None:
    # item = extra_info + ground_truth: a python grader reads both
    source = "def grade(sample, item):\n    return float(sample['output_text'].endswith(item['ground_truth'])) + item['index'] / 10\n"
    path = tmp_path / "py.json"
    path.write_text(json.dumps({"type": "python", "name": "ends", "source": source}))
    tokenizer = _tokenizer()
    data, lengths = _batch(tokenizer)
    fn = _reward_fn(verl_adapter.__file__, "compute_score_batch", str(path))
    manager = BatchRewardManager(tokenizer, num_examine=0, compute_score=fn)
    out = manager(data, return_dict=True)
    expected = [float(r.endswith(t)) + i / 10 for i, (r, t) in enumerate(zip(RESPONSES, TRUTHS, strict=True))]
    assert _final_rewards(out, lengths) == pytest.approx(expected, abs=1e-6)


def test_a_grading_error_scores_zero_and_is_counted(tmp_path: Path) -> None:
    path = tmp_path / "boom.json"
    path.write_text(
        json.dumps(
            {"type": "python", "name": "boom", "source": "def grade(s, i):\n    raise KeyError('x')\n"}
        )
    )
    assert verl_adapter.compute_score("d", "text", "truth", None, grader=str(path)) == 0.0
    assert verl_adapter.flag_counts(str(path)) == {"samples": 1, "python_grader_runtime_error": 1}
