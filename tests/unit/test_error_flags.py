"""The ErrorFlag Literal (what mypy checks flag names against) is exactly the flags of CONTRACT §2."""

from __future__ import annotations

from typing import get_args

from contract_values import CONTRACT_ERROR_KEYS

from graders_emulator.grading.result import FLAGS, ErrorFlag, is_flag

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
