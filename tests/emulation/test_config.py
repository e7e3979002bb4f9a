"""The YAML config: the example loads, and every mistake is reported with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from graders_emulator.emulation.config import ConfigError, load_config, parse_config
from graders_emulator.emulation.rules import FaultRule, ModelRule
from graders_emulator.main import create_app
from graders_emulator.settings import Settings

EXAMPLE = Path(__file__).parents[2] / "docker" / "example-config.yaml"


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "config.yaml")
    return caught.value.problems


def test_the_example_config_loads() -> None:
    config = load_config(EXAMPLE)
    assert all(isinstance(rule, ModelRule) for rule in config.models)
    assert all(isinstance(rule, FaultRule) for rule in config.faults)
    assert config.defaults.seed == 7
    assert config.models[1].times == 2


def test_empty_config_is_the_default() -> None:
    config = parse_config("", "config.yaml")
    assert (config.models, config.faults, config.defaults.retry_after_ms) == ((), (), 10)


BAD_CONFIGS = [
    pytest.param(
        "models:\n  - grader: {name: accuracy, type: score_model}\n    answer:\n      score: 1.5\n",
        "config.yaml:4: canned score 1.5 is outside the range [0, 1] of grader 'accuracy'",
        id="score-outside-default-range",
    ),
    pytest.param(
        "models:\n  - match: {grader_name: g}\n    grader: {range: [1, 5]}\n    answer: {score: 0}\n",
        "config.yaml:4: canned score 0 is outside the range [1, 5] of grader 'g'",
        id="score-outside-pinned-range",
    ),
    pytest.param(
        "models:\n  - grader:\n      name: tone\n      type: label_model\n      labels: [polite, rude]\n"
        "    answer:\n      label: sarcastic\n",
        "config.yaml:7: canned label 'sarcastic' is not one of the labels ['polite', 'rude'] of grader 'tone'",
        id="label-not-in-labels",
    ),
    pytest.param(
        "faults:\n  - status: 500\n  - errors: [other_error, not_a_flag]\n",
        "config.yaml:3: faults[1].errors: unknown error flag 'not_a_flag'",
        id="unknown-flag",
    ),
    pytest.param(
        "models:\n  - answer: {score: 0.5}\n    mtach: {grader_name: x}\n",
        "config.yaml:3: unknown key 'mtach' in models[0]",
        id="unknown-key",
    ),
    pytest.param(
        "defaults:\n  seed: 1\n  colour: red\n",
        "config.yaml:3: unknown key 'colour' in defaults",
        id="unknown-default",
    ),
    pytest.param(
        "modles: []\n", "config.yaml:1: unknown key 'modles' in the top level", id="unknown-section"
    ),
    pytest.param(
        "models:\n  - match: {grader_name: x}\n",
        "config.yaml:2: models[0].answer: missing required key",
        id="missing-answer",
    ),
    pytest.param(
        "models:\n  - answer: {score: 0.5, label: 'yes'}\n",
        "config.yaml:2: models[0].answer: an answer needs exactly one of",
        id="two-answers",
    ),
    pytest.param(
        "faults:\n  - match: {path: /v1/x}\n",
        "config.yaml:2: faults[0]: a fault rule needs at least one of status, fault, latency_ms, errors",
        id="fault-without-action",
    ),
    pytest.param(
        "faults:\n  - status: 302\n",
        "config.yaml:2: faults[0].status: Input should be greater than or equal to 400",
        id="status-not-an-error",
    ),
    pytest.param(
        "faults:\n  - status: 429\n    retry_after_ms: 120000\n",
        "config.yaml:3: faults[0].retry_after_ms: Input should be less than or equal to 60000",
        id="retry-after-too-long",
    ),
    pytest.param(
        "models:\n  - match:\n      prompt_regex: '(unclosed'\n    answer: {score: 1}\n",
        "config.yaml:3: models[0].match.prompt_regex: invalid regular expression",
        id="bad-regex",
    ),
    pytest.param("models: [\n", "config.yaml:2: invalid YAML", id="bad-yaml"),
    pytest.param(
        "defaults: {}\ndefaults: {}\n", "config.yaml:2: duplicate key 'defaults'", id="duplicate-key"
    ),
    pytest.param("- 1\n- 2\n", "config.yaml:1: the config must be a mapping", id="not-a-mapping"),
]


@pytest.mark.parametrize(("text", "expected"), BAD_CONFIGS)
def test_bad_configs_name_their_line(text: str, expected: str) -> None:
    found = problems(text)
    assert any(problem.startswith(expected) for problem in found), found


def test_a_yaml_boolean_where_a_label_is_expected_is_explained() -> None:
    (problem,) = problems("models:\n  - answer:\n      label: yes\n")
    assert problem == "config.yaml:3: models[0].answer.label: Input should be a valid string (got True)"


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config"):
        load_config(tmp_path / "nope.yaml")


def test_a_bad_config_stops_the_app_from_being_built(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("models:\n  - answer: {score: 0.5}\n    bogus: 1\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:3: unknown key 'bogus'"):
        create_app(Settings(config=path, python_graders=False))
