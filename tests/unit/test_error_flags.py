"""The ErrorFlag Literal (what mypy checks flag names against) is exactly the flags of CONTRACT §2."""

from __future__ import annotations

from typing import get_args

from graders_emulator.grading.result import FLAGS, ErrorFlag, is_flag

# CONTRACT.md §2, "metadata.errors": the 24 keys seen in real responses, in wire order (copied by
# hand from the contract: the expectation must not come from the code under test).
CONTRACT_ERROR_KEYS = [
    "formula_parse_error",
    "sample_parse_error",
    "sample_parse_error_details",
    "truncated_observation_error",
    "unresponsive_reward_error",
    "invalid_variable_error",
    "invalid_variable_error_details",
    "other_error",
    "python_grader_server_error",
    "python_grader_server_error_type",
    "python_grader_runtime_error",
    "python_grader_runtime_error_details",
    "model_grader_server_error",
    "model_grader_refusal_error",
    "model_grader_refusal_error_details",
    "model_grader_parse_error",
    "model_grader_parse_error_details",
    "model_grader_exceeded_max_tokens_error",
    "model_grader_server_error_details",
    "endpoint_grader_internal_error",
    "endpoint_grader_internal_error_details",
    "endpoint_grader_server_error",
    "endpoint_grader_server_error_details",
    "endpoint_grader_safety_check_error",
]
# Flags are the booleans; `*_details` and `*_type` are their texts (CONTRACT §2).
CONTRACT_FLAGS = tuple(key for key in CONTRACT_ERROR_KEYS if not key.endswith(("_details", "_type")))


def test_the_literal_lists_the_contract_flags_in_wire_order() -> None:
    assert len(CONTRACT_ERROR_KEYS) == 24
    assert get_args(ErrorFlag) == CONTRACT_FLAGS
    assert FLAGS == CONTRACT_FLAGS


def test_is_flag_accepts_flags_and_refuses_their_texts() -> None:
    assert all(is_flag(flag) for flag in CONTRACT_FLAGS)
    assert not is_flag("sample_parse_error_details")
    assert not is_flag("python_grader_server_error_type")
    assert not is_flag("no_such_error")
