"""The official Python SDK (strict and default mode) through record mode, then through replay mode.

openai-python 3.57.0 (`_strict_response_validation=True` validates every response against its types).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from recording_helpers import CALLER_KEY, SCORE_MODEL, string_check

from graders_emulator.settings import Settings
from graders_emulator.testing import RunningServer, serve_in_thread

CONFIG = """
faults:
  - match: {grader_name: rate-limited}
    status: 429
"""
SMALL = {"python_workers": 1, "python_timeout_s": 5, "port": 0}


def _calls(strict: openai.OpenAI, lenient: openai.OpenAI) -> dict[str, Any]:
    """The same SDK calls in both modes; what each returned or raised."""
    graders = strict.fine_tuning.alpha.graders
    results: dict[str, Any] = {
        "strict-run": graders.run(grader=string_check("sdk-good"), model_sample="Paris").model_dump(),  # type: ignore[arg-type]
        "strict-validate": graders.validate(grader=string_check("sdk-validate")).model_dump(),  # type: ignore[arg-type]
        # token_usage is the live API's object, not the int the SDK types: dump without the warning.
        "lenient-score-model": lenient.fine_tuning.alpha.graders.run(
            grader=SCORE_MODEL,  # type: ignore[arg-type]
            model_sample="Paris",
        ).model_dump(warnings=False),
    }
    for label, client in (("strict", strict), ("lenient", lenient)):
        with pytest.raises(openai.BadRequestError) as bad:
            bad_grader = {**string_check("sdk-bad"), "operation": "xyz"}
            client.fine_tuning.alpha.graders.run(grader=bad_grader, model_sample=label)  # type: ignore[arg-type]
        results[f"{label}-400"] = (bad.value.status_code, bad.value.message, bad.value.param, bad.value.code)
        with pytest.raises(openai.RateLimitError) as limited:
            client.with_options(max_retries=0).fine_tuning.alpha.graders.run(
                grader=string_check("rate-limited"),  # type: ignore[arg-type]
                model_sample=label,
            )
        results[f"{label}-429"] = (limited.value.status_code, limited.value.message)
    return results


def _clients(base_url: str) -> Iterator[tuple[openai.OpenAI, openai.OpenAI]]:
    with (
        openai.OpenAI(base_url=base_url, api_key=CALLER_KEY, _strict_response_validation=True) as strict,
        openai.OpenAI(base_url=base_url, api_key=CALLER_KEY) as lenient,
    ):
        yield strict, lenient


@pytest.fixture(scope="module")
def sdk_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any], Path]:
    base = tmp_path_factory.mktemp("sdk")
    (base / "upstream.yaml").write_text(CONFIG)
    cassettes = base / "cassettes"
    upstream_settings = Settings(**SMALL, config=base / "upstream.yaml")
    with serve_in_thread(upstream_settings) as upstream:
        recorder_settings = Settings(**SMALL, upstream_url=upstream.base_url, record_dir=cassettes)
        with serve_in_thread(recorder_settings) as recorder:
            recorded = next(_calls(*clients) for clients in _clients(recorder.base_url))
    with serve_in_thread(Settings(**SMALL, replay_dir=cassettes, replay_only=True)) as replayer:
        replayed = next(_calls(*clients) for clients in _clients(replayer.base_url))
        _check_source_header(replayer)
    return recorded, replayed, cassettes


def _check_source_header(replayer: RunningServer) -> None:
    with openai.OpenAI(base_url=replayer.base_url, api_key="sk-another-key-entirely") as client:
        raw = client.fine_tuning.alpha.graders.with_raw_response.run(
            grader=string_check("sdk-good"), model_sample="Paris"
        )  # type: ignore[arg-type]
    assert raw.headers["x-emulator-source"] == "recorded"


def test_record_mode_answers_the_sdk_in_both_modes(
    sdk_runs: tuple[dict[str, Any], dict[str, Any], Path],
) -> None:
    recorded, _, _ = sdk_runs
    assert recorded["strict-run"]["reward"] == 1.0
    assert recorded["strict-validate"]["grader"]["name"] == "sdk-validate"
    assert isinstance(
        recorded["lenient-score-model"]["metadata"]["token_usage"], dict
    )  # the live API's object
    assert recorded["strict-400"][0] == 400 and recorded["strict-400"][2] == "grader.operation"
    assert recorded["strict-429"][0] == 429


@pytest.mark.parametrize(
    "call",
    [
        "strict-run",
        "strict-validate",
        "lenient-score-model",
        "strict-400",
        "lenient-400",
        "strict-429",
        "lenient-429",
    ],
    ids=str,
)
def test_replay_mode_gives_the_sdk_the_same_results(
    sdk_runs: tuple[dict[str, Any], dict[str, Any], Path], call: str
) -> None:
    """Parsed results equal field for field, execution_time included (it is replayed as recorded)."""
    recorded, replayed, _ = sdk_runs
    assert replayed[call] == recorded[call]


def test_sdk_recording_holds_no_key(sdk_runs: tuple[dict[str, Any], dict[str, Any], Path]) -> None:
    _, _, cassettes = sdk_runs
    texts = [p.read_text() for p in cassettes.glob("*.json")]
    assert len(texts) == 7  # run, validate, score_model, two distinct 400 and two distinct 429 requests
    assert not any(CALLER_KEY in text for text in texts)


def test_unreachable_upstream_is_a_502_the_sdk_raises(tmp_path: Path) -> None:
    with httpx.Client() as probe:
        port = _free_port(probe)
    settings = Settings(**SMALL, upstream_url=f"http://127.0.0.1:{port}/v1", record_dir=tmp_path)
    with (
        serve_in_thread(settings) as recorder,
        openai.OpenAI(base_url=recorder.base_url, api_key=CALLER_KEY, max_retries=0) as client,
        pytest.raises(openai.InternalServerError) as failed,
    ):
        client.fine_tuning.alpha.graders.run(grader=string_check("x"), model_sample="x")  # type: ignore[arg-type]
    assert failed.value.status_code == 502
    assert failed.value.code == "upstream_unreachable"
    assert len(list(tmp_path.glob("run-*.json"))) == 1


def _free_port(_: httpx.Client) -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
