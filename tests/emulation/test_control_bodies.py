"""Control-plane bodies as pydantic models: the three JSON forms of rules, and the seed body."""

from __future__ import annotations

import pytest

from graders_emulator.api.control_bodies import rules_from_json, seed_from_json
from graders_emulator.emulation.rules import FaultRule, ModelRule
from graders_emulator.errors import BadRequest

MODEL = {"answer": {"score": 0.5}}
FAULT = {"status": 503}


@pytest.mark.parametrize(
    ("body", "kinds"),
    [
        ({"kind": "model", **MODEL}, [ModelRule]),
        ([{"kind": "fault", **FAULT}, {"kind": "model", **MODEL}], [FaultRule, ModelRule]),
        ({"faults": [FAULT], "models": [MODEL]}, [ModelRule, FaultRule]),  # models first, as in a config file
        ({"models": [MODEL, MODEL]}, [ModelRule, ModelRule]),
    ],
    ids=["one-rule", "list", "grouped", "grouped-models-only"],
)
def test_the_three_forms(body: object, kinds: list[type]) -> None:
    assert [type(rule) for rule in rules_from_json(body)] == kinds


@pytest.mark.parametrize(
    ("body", "message", "param"),
    [
        ({"models": [], "colour": 1}, "Unknown key 'colour' next to models/faults/sampling.", None),
        (
            {"models": [{"answer": {}}]},
            "Invalid rule: models[0].answer: an answer needs exactly one of score, label, raw, refusal, "
            "server_error, max_tokens; got none",
            "models[0].answer",
        ),
        (
            {"kind": "model", "grader": {"type": "score_model"}, "answer": {"score": 2}},
            "Invalid rule: canned score 2 is outside the range [0, 1] of grader '*'",
            None,
        ),
    ],
    ids=[
        "unknown-key-beside-groups",
        "grouped-rule-error-names-its-group",
        "score-out-of-range",
    ],
)
def test_bad_rules_are_400s(body: object, message: str, param: str | None) -> None:
    with pytest.raises(BadRequest) as raised:
        rules_from_json(body)
    assert raised.value.message == message
    assert (raised.value.status, raised.value.param) == (400, param)


@pytest.mark.parametrize(
    ("raw", "seed"),
    [(b"", None), (b"{}", None), (b'{"seed": 5}', 5), (b'{"seed": null}', None), (b'{"seed": 1, "x": 2}', 1)],
    ids=["empty", "no-seed", "int", "null", "extra-key-ignored"],
)
def test_seed_bodies(raw: bytes, seed: int | None) -> None:
    assert seed_from_json(raw) == seed


@pytest.mark.parametrize(
    "raw",
    [b'{"seed": 5.0}', b'{"seed": true}', b'{"seed": "5"}', b"[1]", b"nope"],
    ids=["float", "bool", "string", "list", "not-json"],
)
def test_bad_seed_bodies_are_400s(raw: bytes) -> None:
    with pytest.raises(BadRequest) as raised:
        seed_from_json(raw)
    assert (raised.value.message, raised.value.param) == (
        'The body must be {"seed": <integer or null>}.',
        "seed",
    )
