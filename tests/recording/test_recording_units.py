"""Cassette naming, body encodings, redaction and comparison rules, against hand-computed values."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from graders_emulator.recording.cassette import Cassette, decode_body, encode_body, file_name, request_key
from graders_emulator.recording.compare import compare, usage_shape
from graders_emulator.recording.configure import settings_problem
from graders_emulator.recording.proxy import UpstreamProxy
from graders_emulator.recording.redaction import REDACTED, header_secrets, scrub, settings_secrets
from graders_emulator.settings import Settings

RUN = "/v1/fine_tuning/alpha/graders/run"


def test_request_key_is_sha256_of_method_path_and_sorted_compact_body() -> None:
    expected = hashlib.sha256(b'POST /v1/x\n{"a":1,"b":[2,{"c":3,"d":4}]}').hexdigest()
    assert request_key("POST", "/v1/x", b'{"b": [2, {"d": 4, "c": 3}],\n "a": 1}') == expected
    assert request_key("post", "/v1/x", b'{"a":1,"b":[2,{"c":3,"d":4}]}') == expected


def test_request_key_depends_on_path_method_and_values() -> None:
    body = b'{"a": 1}'
    keys = {
        request_key("POST", "/v1/x", body),
        request_key("POST", "/v1/y", body),
        request_key("PUT", "/v1/x", body),
    }
    keys.add(request_key("POST", "/v1/x", b'{"a": 2}'))
    assert len(keys) == 4


def test_a_body_that_is_not_json_is_hashed_as_sent() -> None:
    assert request_key("POST", "/v1/x", b"{not json") == hashlib.sha256(b"POST /v1/x\n{not json").hexdigest()


def test_file_name_shows_the_endpoint_and_the_key() -> None:
    assert file_name(RUN, "ab" * 32) == "run-" + "ab" * 10 + ".json"


@pytest.mark.parametrize(
    ("raw", "encoding"),
    [
        (b'{"reward":1.0,"x":[1,2]}', "compact"),
        (json.dumps({"reward": 1.0, "é": "東京"}, indent=2, ensure_ascii=False).encode(), "indent2"),
        (b'{\n  "a": 1\n}\n', "indent2+newline"),
        (b'{"a": 1, "b": 2}', "python"),
        (b'{"a" :1}', "text"),
        (b"<html>Bad gateway</html>", "text"),
        (b"\xff\xfe binary", "latin-1"),
        (b"null", "compact"),
        (b"", "text"),
    ],
    ids=[
        "compact",
        "indent2",
        "indent2-newline",
        "python-default",
        "odd-spacing",
        "html",
        "binary",
        "null",
        "empty",
    ],
)
def test_bodies_round_trip_byte_for_byte(raw: bytes, encoding: str) -> None:
    fields = encode_body(raw)
    assert fields["body_encoding"] == encoding
    assert decode_body(json.loads(json.dumps(fields))) == raw


def test_scrub_replaces_literal_and_json_escaped_secrets() -> None:
    secret = 'sk-abc"def\\ghi'
    text = json.dumps({"a": f"key {secret}", "b": secret})
    scrubbed = scrub(text, [secret, "sk"])  # a 2-character "secret" would scrub ordinary text: ignored
    assert secret not in json.loads(scrubbed)["a"] and json.loads(scrubbed)["b"] == REDACTED
    assert json.loads(scrubbed)["a"] == f"key {REDACTED}"


def test_settings_secrets_are_the_marked_fields() -> None:
    settings = Settings(
        upstream_api_key="sk-up-123456", model_api_key="sk-model-1234", api_keys=["sk-a-123456", "sk-b-123456"],
        control_token="ctl-token-1", embeddings_api_key="sk-emb-12345", model_base_url="http://not-secret",
    )  # fmt: skip
    assert sorted(settings_secrets(settings)) == sorted(
        ["sk-up-123456", "sk-model-1234", "sk-a-123456", "sk-b-123456", "ctl-token-1", "sk-emb-12345"]
    )


def test_header_secrets_take_the_bearer_token_and_account_headers() -> None:
    headers = [(b"authorization", b"Bearer sk-live-1"), (b"openai-project", b"proj_1"), (b"user-agent", b"x")]
    assert header_secrets(headers) == ["Bearer sk-live-1", "sk-live-1", "proj_1"]


def test_upstream_url_keeps_the_base_path() -> None:
    proxy = UpstreamProxy("https://api.openai.com/v1/", recorder=None)
    assert proxy.url_of(RUN) == "https://api.openai.com/v1/fine_tuning/alpha/graders/run"


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"record_dir": "x"}, "--record needs --upstream URL"),
        ({"replay_only": True}, "--replay-only needs --replay DIR"),
        (
            {"replay_only": True, "replay_dir": "x", "upstream_url": "http://u/v1"},
            "cannot be combined with --upstream",
        ),
        ({"replay_dir": "x", "upstream_url": "http://u/v1", "record_dir": "x"}, None),
    ],
    ids=["record-alone", "replay-only-alone", "replay-only-with-upstream", "record-missing"],
)
def test_settings_problems(overrides: dict[str, Any], problem: str | None) -> None:
    found = settings_problem(Settings(**overrides))
    assert (found is None) if problem is None else (problem in str(found))


def _run_cassette(request_grader: dict[str, Any], recorded: dict[str, Any]) -> Cassette:
    body = json.dumps({"grader": request_grader, "model_sample": "x"}).encode()
    return Cassette(
        "POST",
        RUN,
        encode_body(body),
        200,
        {"headers": {}, **encode_body(json.dumps(recorded).encode())},
        "",
        "",
        "",
    )


def _answer(name: str, reward: float = 1.0, usage: Any = None) -> dict[str, Any]:
    errors = {"formula_parse_error": False, "other_error": False}
    meta = {
        "name": name,
        "type": "string_check",
        "errors": errors,
        "execution_time": 0.5,
        "token_usage": usage,
    }
    return {"reward": reward, "metadata": meta, "sub_rewards": {}}


def test_generated_names_agree_only_when_the_request_had_no_name() -> None:
    unnamed = _run_cassette({"type": "string_check"}, _answer("grader-AAAAAAAAAAAA"))
    assert compare(unnamed, 200, json.dumps(_answer("grader-zzzzzzzzzzzz")).encode()) == []
    named = _run_cassette(
        {"type": "string_check", "name": "grader-AAAAAAAAAAAA"}, _answer("grader-AAAAAAAAAAAA")
    )
    found = compare(named, 200, json.dumps(_answer("grader-zzzzzzzzzzzz")).encode())
    assert [(d.field, d.recorded, d.emulated) for d in found] == [
        ("metadata.name", "grader-AAAAAAAAAAAA", "grader-zzzzzzzzzzzz")
    ]


def test_execution_time_is_never_compared_and_floats_use_the_tolerance() -> None:
    cassette = _run_cassette({"type": "string_check", "name": "n"}, _answer("n", reward=0.5))
    emulated = _answer("n", reward=0.5 + 1e-10)
    emulated["metadata"]["execution_time"] = 99.0
    assert compare(cassette, 200, json.dumps(emulated).encode()) == []
    assert [d.field for d in compare(cassette, 200, json.dumps(_answer("n", 0.5 + 1e-8)).encode())] == [
        "reward"
    ]
    assert compare(cassette, 200, json.dumps(_answer("n", 0.5 + 1e-8)).encode(), tolerance=1e-6) == []


def test_a_flag_is_not_a_number() -> None:
    cassette = _run_cassette({"type": "string_check", "name": "n"}, _answer("n"))
    emulated = _answer("n")
    emulated["metadata"]["errors"]["other_error"] = 0
    assert [d.field for d in compare(cassette, 200, json.dumps(emulated).encode())] == [
        "metadata.errors.other_error"
    ]


@pytest.mark.parametrize(
    ("usage", "shape"),
    [
        (None, "null"),
        (42, "integer"),
        ({"prompt_tokens": 1, "total_tokens": 2, "completion_tokens": 1, "cached_tokens": 0},
         "object{cached_tokens,completion_tokens,prompt_tokens,total_tokens}"),
    ],
    ids=["null", "integer", "object"],
)  # fmt: skip
def test_token_usage_shape(usage: Any, shape: str) -> None:
    assert usage_shape(usage) == shape


def test_token_usage_counts_are_not_compared_but_the_shape_is() -> None:
    usage = {"prompt_tokens": 1, "total_tokens": 2, "completion_tokens": 1, "cached_tokens": 0}
    cassette = _run_cassette({"type": "string_check", "name": "n"}, _answer("n", usage=usage))
    other_counts = {**usage, "prompt_tokens": 7, "total_tokens": 8}
    assert compare(cassette, 200, json.dumps(_answer("n", usage=other_counts)).encode()) == []
    found = compare(cassette, 200, json.dumps(_answer("n", usage=8)).encode())
    assert [(d.field, d.emulated) for d in found] == [("metadata.token_usage (shape)", "integer")]
