"""string_check operations, exactly as documented: no trimming, no wildcards."""

from __future__ import annotations

from typing import get_args

import pytest

from graders_emulator.grading.string_check import OPERATIONS
from graders_emulator.schemas.graders import StringCheckOperation


@pytest.mark.parametrize(
    ("operation", "text", "reference", "passed"),
    [
        ("eq", "Paris", "Paris", True),
        ("eq", "Paris", "paris", False),
        ("eq", "Paris ", "Paris", False),  # no trimming
        ("eq", "", "", True),
        ("ne", "Paris", "London", True),
        ("ne", "Paris", "Paris", False),
        ("like", "The capital is Paris.", "Paris", True),
        ("like", "The capital is paris.", "Paris", False),
        ("like", "anything", "", True),
        ("like", "P%s", "P%", True),
        ("like", "Paris", "P%", False),  # no SQL wildcards
        ("ilike", "THE CAPITAL IS PARIS", "paris", True),
        ("ilike", "Straße", "STRASSE", True),  # casefold, not lower
        ("ilike", "London", "paris", False),
    ],
    ids=repr,
)
def test_operations(operation: str, text: str, reference: str, passed: bool) -> None:
    assert OPERATIONS[operation](text, reference) is passed


def test_every_operation_is_implemented() -> None:
    assert set(OPERATIONS) == set(get_args(StringCheckOperation))
