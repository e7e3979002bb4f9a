"""Shared pieces of the contract tests: the wire facts of CONTRACT.md, SDK helpers, expected values.

Expected rewards are computed here with the reference libraries' documented calls (CONTRACT §5), or
taken from measured tables (OpenAI's reference measurements, copied into this module with their
source), never from the emulator's own code. OpenAI's spec fragment and its example answers live in
`tests/contract/openapi/` (see the README there).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import openai
from contract_values import CONTRACT_ERROR_KEYS

# OpenAI's published spec (openai/openai-openapi at f85dbe2), copied unedited; see openapi/README.md.
OPENAPI_DIR = Path(__file__).resolve().parent / "openapi"
FRAGMENT_PATH = OPENAPI_DIR / "graders-fragment.json"
RUN_EXAMPLE_PATH = OPENAPI_DIR / "run-example-response.json"
VALIDATE_EXAMPLE_PATH = OPENAPI_DIR / "validate-example-response.json"

API_KEY = "sk-contract-tests-0000"
RUN_PATH = "/v1/fine_tuning/alpha/graders/run"
VALIDATE_PATH = "/v1/fine_tuning/alpha/graders/validate"
AUTH = {"Authorization": f"Bearer {API_KEY}"}

REQUEST_ID = re.compile(r"^req_[0-9a-f]{32}$")
GENERATED_NAME = re.compile(r"^grader-[A-Za-z0-9]{12}$")

REAL_ERROR_KEYS = CONTRACT_ERROR_KEYS  # CONTRACT §2, in this order (tests/contract_values.py)
RESPONSE_KEYS = ("reward", "metadata", "sub_rewards", "model_grader_token_usage_per_model")
METADATA_KEYS = ("name", "type", "errors", "execution_time", "scores", "token_usage", "sampled_model_name")
TOKEN_USAGE_KEYS = ("prompt_tokens", "total_tokens", "completion_tokens", "cached_tokens")
JSON_PARSE_MESSAGE_START = "We could not parse the JSON body of your request."
NO_KEY_MESSAGE_START = "You didn't provide an API key."

# CONTRACT §2 (`gpt-4o` -> `gpt-4o-2024-08-06`).
GPT_4O_SNAPSHOT = "gpt-4o-2024-08-06"


def fragment() -> dict[str, Any]:
    """OpenAI's spec fragment, as copied into tests/contract/openapi/."""
    data: dict[str, Any] = json.loads(FRAGMENT_PATH.read_text())
    return data


def spec_error_keys() -> tuple[str, ...]:
    """The 14 error keys of the spec's RunGraderResponse, read from OpenAI's fragment itself."""
    errors = fragment()["components"]["schemas"]["RunGraderResponse"]["properties"]["metadata"]["properties"][
        "errors"
    ]
    return tuple(errors["properties"])


# --- SDK plumbing --------------------------------------------------------------------------------

Mode = Literal["strict", "lenient"]
Flavour = Literal["sync", "async"]


def sync_client(base_url: str, mode: Mode, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=base_url,
        api_key=kwargs.pop("api_key", API_KEY),
        _strict_response_validation=mode == "strict",
        max_retries=kwargs.pop("max_retries", 0),
        **kwargs,
    )


def async_client(base_url: str, mode: Mode, **kwargs: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=base_url,
        api_key=kwargs.pop("api_key", API_KEY),
        _strict_response_validation=mode == "strict",
        max_retries=kwargs.pop("max_retries", 0),
        **kwargs,
    )


@dataclass
class Answer:
    """What one SDK call gave: the parsed object, the raw JSON text, the headers, the request id."""

    parsed: Any
    text: str
    headers: Mapping[str, str]
    request_id: str | None
    status: int

    @property
    def json(self) -> Any:
        return json.loads(self.text)


def call(base_url: str, mode: Mode, flavour: Flavour, method: str, **kwargs: Any) -> Answer:
    """`graders.<method>(**kwargs)` through `with_raw_response`, in the SDK flavour asked for."""
    if flavour == "sync":
        with sync_client(base_url, mode) as sdk:
            raw = getattr(sdk.fine_tuning.alpha.graders.with_raw_response, method)(**kwargs)
            parsed = raw.parse()
            return Answer(parsed, raw.text, dict(raw.headers), raw.request_id, raw.status_code)

    async def go() -> Answer:
        async with async_client(base_url, mode) as sdk:
            raw = await getattr(sdk.fine_tuning.alpha.graders.with_raw_response, method)(**kwargs)
            # with_raw_response gives the same (already read) LegacyAPIResponse in both flavours.
            return Answer(raw.parse(), raw.text, dict(raw.headers), raw.request_id, raw.status_code)

    return asyncio.run(go())


def call_error(base_url: str, flavour: Flavour, method: str, **kwargs: Any) -> openai.APIStatusError:
    """The APIStatusError that `graders.<method>(**kwargs)` raises (strict client, no retries)."""
    if flavour == "sync":
        with sync_client(base_url, "strict") as sdk:
            try:
                getattr(sdk.fine_tuning.alpha.graders, method)(**kwargs)
            except openai.APIStatusError as exc:
                return exc
            raise AssertionError(f"{method} succeeded; an HTTP error was expected")

    async def go() -> openai.APIStatusError:
        async with async_client(base_url, "strict") as sdk:
            try:
                await getattr(sdk.fine_tuning.alpha.graders, method)(**kwargs)
            except openai.APIStatusError as exc:
                return exc
            raise AssertionError(f"{method} succeeded; an HTTP error was expected")

    return asyncio.run(go())


def assert_envelope(
    exc: openai.APIStatusError, status: int, *, message: str | None = None, **fields: Any
) -> None:
    """The SDK error carries OpenAI's envelope (CONTRACT §3) and a request id."""
    assert exc.status_code == status, (exc.status_code, exc.body)
    body = exc.body
    assert isinstance(body, dict), body
    assert list(body) == ["message", "type", "param", "code"], body
    assert isinstance(body["message"], str)
    assert body["message"]
    if message is not None:
        assert body["message"] == message
        assert exc.message == f"Error code: {status} - {message}"
    for name, value in fields.items():
        assert body[name] == value, (name, body)
        assert getattr(exc, name) == value, (name, getattr(exc, name))
    assert exc.request_id is not None
    assert REQUEST_ID.match(exc.request_id), exc.request_id
    assert exc.response.headers["x-request-id"] == exc.request_id
    assert exc.response.headers["openai-processing-ms"].isdigit()


def assert_run_shape(body: Mapping[str, Any], *, profile: Literal["real", "spec"] = "real") -> None:
    """CONTRACT §2 on the raw JSON: key order, float types, the errors object of the profile."""
    assert tuple(body) == RESPONSE_KEYS
    assert type(body["reward"]) is float
    metadata = body["metadata"]
    assert tuple(metadata) == METADATA_KEYS
    assert isinstance(metadata["name"], str)
    assert metadata["name"]
    assert type(metadata["execution_time"]) is float
    assert metadata["execution_time"] >= 0.0
    assert metadata["scores"] == {}
    keys = REAL_ERROR_KEYS if profile == "real" else spec_error_keys()
    assert tuple(metadata["errors"]) == keys
    for key, value in metadata["errors"].items():
        if key.endswith(("_details", "_type")):
            assert value is None or isinstance(value, str), (key, value)
        else:
            assert type(value) is bool, (key, value)
    usage = metadata["token_usage"]
    if profile == "spec":
        assert usage is None or type(usage) is int
    else:
        assert usage is None or tuple(usage) == TOKEN_USAGE_KEYS
    for value in body["sub_rewards"].values():
        assert type(value) is float


def raised_flags(body: Mapping[str, Any]) -> set[str]:
    return {k for k, v in body["metadata"]["errors"].items() if v is True}


# --- expected values with the reference libraries --------------------------------------------------


def fuzzy_match(text: str, reference: str) -> float:
    from rapidfuzz import fuzz, utils

    return float(fuzz.WRatio(text, reference, processor=utils.default_process) / 100)


def _tokens(text: str) -> list[str]:
    from nltk.tokenize import NLTKWordTokenizer

    return list(NLTKWordTokenizer().tokenize(text))


def bleu(text: str, reference: str) -> float:
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    value = sentence_bleu([_tokens(reference)], _tokens(text), smoothing_function=SmoothingFunction().method1)
    return min(max(float(value), 0.0), 1.0)


def gleu(text: str, reference: str) -> float:
    from nltk.translate.gleu_score import sentence_gleu

    return float(sentence_gleu([_tokens(reference)], _tokens(text)))


def rouge(text: str, reference: str, kind: str) -> float:
    from rouge_score import rouge_scorer

    name = "rougeL" if kind == "l" else f"rouge{kind}"
    scorer = rouge_scorer.RougeScorer([name], use_stemmer=False)
    return float(scorer.score(reference, text)[name].fmeasure)  # reference is the target


# shared/reference/metrics.md §1 ("partial" row): WordNet-backed values measured with nltk 3.10.4, and
# §5 ("mean of the two" lexical cosine, to 3 decimals).
PARTIAL_INPUT = "The cat is sitting on the mat"
PARTIAL_REFERENCE = "The cat sat on the mat."
METEOR_PARTIAL = 0.691429
COSINE_PARTIAL = 0.793


def expected_similarity(metric: str, text: str, reference: str) -> tuple[float, float]:
    """(expected value, absolute tolerance) of a text_similarity metric."""
    if metric == "fuzzy_match":
        return fuzzy_match(text, reference), 1e-12
    if metric == "bleu":
        return bleu(text, reference), 1e-12
    if metric == "gleu":
        return gleu(text, reference), 1e-12
    if metric.startswith("rouge_"):
        return rouge(text, reference, metric.removeprefix("rouge_")), 1e-12
    assert (text, reference) == (PARTIAL_INPUT, PARTIAL_REFERENCE), "table values exist for this pair only"
    if metric == "meteor":
        return METEOR_PARTIAL, 1e-6
    if metric == "cosine":
        return COSINE_PARTIAL, 1e-3
    raise AssertionError(metric)


@dataclass(frozen=True)
class Case:
    """One grader run: the request and what the answer must be."""

    id: str
    grader: dict[str, Any]
    model_sample: str
    item: Any
    reward: float
    tolerance: float = 1e-12
    headers: dict[str, str] = field(default_factory=dict)
    models: bool = False  # a model grader runs: token usage and sampled model are set
    sub_rewards: dict[str, float] = field(default_factory=dict)
