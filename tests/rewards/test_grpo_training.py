"""A real training loop: TRL 1.16.0's GRPOTrainer runs 2 steps on CPU with our reward function.

The model is a 2-layer LlamaConfig with tiny dims, randomly initialised; the tokenizer a `tokenizers`
WordLevel model wrapped in PreTrainedTokenizerFast; nothing is fetched from a hub (HF_HUB_OFFLINE=1).
The reward function's own call log gives the completions TRL generated; their rewards are computed
independently (rapidfuzz called directly, the exact check by hand) and compared with what the trainer
logged: `rewards/<name>/mean` per step (grpo_trainer.py 2821-2825) and the per-completion rewards of
the last generation batch (`_logs["rewards"]`, 2835-2837).
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import reward_graders as rg
import torch
from datasets import Dataset
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
from trl import GRPOConfig, GRPOTrainer

from graders_emulator.rewards import trl

CAPITALS = {"france": "paris", "italy": "rome", "germany": "berlin", "spain": "madrid"}
WORDS = ["what", "is", "the", "capital", "of", "?", *CAPITALS, *CAPITALS.values(), "a", "city", "big"]


def _tokenizer() -> PreTrainedTokenizerFast:
    vocab = {token: i for i, token in enumerate(["<pad>", "<unk>", "<bos>", "<eos>", *WORDS])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.decoder = decoders.WordPiece(prefix="##")  # joins word tokens with single spaces
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", unk_token="<unk>", bos_token="<bos>", eos_token="<eos>"
    )


def _model(tokenizer: PreTrainedTokenizerFast) -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return LlamaForCausalLM(config)


class CallLog:
    """Forwards TRL's call to our reward function and keeps what it saw and returned."""

    def __init__(self, reward: Any) -> None:
        self.reward = reward
        self.__name__ = reward.__name__
        self.calls: list[tuple[list[str], list[str], list[float | None]]] = []

    def __call__(self, **kwargs: Any) -> list[float | None]:
        rewards = self.reward(**kwargs)
        self.calls.append((list(kwargs["completions"]), list(kwargs["answer"]), list(rewards)))
        return rewards


# TRL 1.16.0 itself still calls transformers 5.24's deprecated `is_gradient_checkpointing` alias.
@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
def test_grpo_trainer_two_steps_logs_our_graders_rewards(tmp_path: Path) -> None:
    tokenizer = _tokenizer()
    rows = [
        {"prompt": f"what is the capital of {country} ?", "answer": city}
        for country, city in CAPITALS.items()
    ]
    reward = CallLog(trl(rg.MULTI))
    config = GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=6,
        max_steps=2,
        logging_steps=1,
        learning_rate=1e-3,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        bf16=False,
        seed=0,
        disable_tqdm=True,
        dataloader_num_workers=0,
        activation_checkpointing=False,  # the tiny model needs none (and the old name warns)
    )
    trainer = GRPOTrainer(
        model=_model(tokenizer),
        reward_funcs=[reward],
        args=config,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    trainer.train()

    assert len(reward.calls) == 2  # one generation batch per step
    seen = {round(value or 0.0, 9) for _, _, returned in reward.calls for value in returned}
    assert len(seen) > 1, "the generated completions should not all score the same"
    step_logs = [entry for entry in trainer.state.log_history if "rewards/answer_quality/mean" in entry]
    assert len(step_logs) == 2
    for (completions, answers, returned), logged in zip(reward.calls, step_logs, strict=True):
        expected = [rg.multi(c, a) for c, a in zip(completions, answers, strict=True)]
        assert returned == pytest.approx(expected)
        assert logged["rewards/answer_quality/mean"] == pytest.approx(statistics.fmean(expected), abs=1e-6)
        fuzzy_mean = statistics.fmean(rg.fuzzy(c, a) for c, a in zip(completions, answers, strict=True))
        assert logged["answer_quality/fuzzy"] == pytest.approx(fuzzy_mean, abs=1e-6)  # via log_metric
    last_completions, last_answers, _ = reward.calls[-1]
    per_completion = list(trainer._logs["rewards"]["answer_quality"])
    assert per_completion == pytest.approx(
        [rg.multi(c, a) for c, a in zip(last_completions, last_answers, strict=True)]
    )
    assert list(trainer._logs["completion"]) == last_completions
