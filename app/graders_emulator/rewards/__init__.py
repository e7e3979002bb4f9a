"""OpenAI graders as rewards in open-source RL trainers: TRL (and Unsloth), verl, OpenRLHF, verifiers.

Each adapter takes a grader as a dict (OpenAI's grader JSON), its JSON text or a path to a JSON file,
grades whole batches at once (python graders in sandbox batches), gives a failed grading OpenAI's RFT
reward of 0.0 unless told otherwise, and counts how many samples hit each error flag (`flag_counts`).
`trl` and `trl_async` live in `graders_emulator.rewards.trl`, `compute_score` in `.verl`, `reward_func`
and the reward server in `.openrlhf`, `rubric_function` in `.verifiers`.
"""

from graders_emulator.rewards.policy import RFT_ERROR_REWARD, completion_text, load_grader
from graders_emulator.rewards.trl import trl, trl_async
from graders_emulator.rewards.verifiers import rubric_function

__all__ = ["RFT_ERROR_REWARD", "completion_text", "load_grader", "rubric_function", "trl", "trl_async"]
