"""Process settings: one class, one environment prefix (GRADERS_EMULATOR_*), the same on the CLI."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic.config import JsonDict
from pydantic_settings import BaseSettings, SettingsConfigDict

# Fields marked so hold credentials: recordings scrub their values (graders_emulator.recording).
SECRET: JsonDict = {"secret": True}


def _default_workers() -> int:
    return max(2, min(4, os.cpu_count() or 2))


class Settings(BaseSettings):
    """Everything a user can configure. Each field reads `GRADERS_EMULATOR_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="GRADERS_EMULATOR_", extra="ignore")

    # --- server
    host: str = Field("127.0.0.1", description="Bind address; loopback by default.")
    port: int = Field(8000, description="Port; 0 picks a free one and prints the base URL.")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_json: bool = Field(False, description="Structured JSON log lines.")
    max_body_bytes: int = Field(10 * 1024 * 1024, description="Larger request bodies get a 413.")

    # --- wire behaviour
    response_profile: Literal["real", "spec"] = Field(
        "real",
        description="`real`: 24 error keys and object token_usage as the live API; "
        "`spec`: the OpenAPI spec's 14 keys and integer token_usage.",
    )
    strict_graders: bool = Field(False, description="Reject unknown keys inside graders with a 400.")
    seed: int | None = Field(None, description="Seed for generated grader names and default model answers.")

    # --- auth
    auth: bool = Field(True, description="Require `Authorization: Bearer ...` on /v1.")
    api_keys: list[str] = Field(
        default_factory=list,
        description="Accepted keys; empty: any bearer value is accepted.",
        json_schema_extra=SECRET,
    )
    control_token: str | None = Field(
        None, description="Bearer token required by /_emulator/ when set.", json_schema_extra=SECRET
    )

    # --- python graders
    python_graders: bool = Field(True, description="False answers python graders with a `disabled` error.")
    python_workers: int = Field(default_factory=_default_workers, description="Sandbox pool size.")
    python_timeout_s: float = Field(30.0, description="Wall-clock limit per grade() call (OpenAI: 120).")
    python_cpu_s: float | None = Field(None, description="CPU-time limit; default: the wall limit.")
    python_memory_mb: int = Field(2048, description="Address-space limit per call (OpenAI: 2 GB).")
    python_disk_mb: int = Field(1024, description="Writable temp dir size per call (OpenAI: 1 GB).")
    python_output_kb: int = Field(1024, description="Captured stdout+stderr per call.")
    python_source_max_bytes: int = Field(256 * 1024, description="Longer sources get a 400.")
    python_preload: list[str] | None = Field(
        None,
        description="Modules each sandbox worker imports once before forking graders (JSON list); "
        "default: the installed packages of OpenAI's grader image. Fewer modules: faster forks, "
        "but a grader importing a module not preloaded pays its import on every call.",
    )

    # --- model graders
    config: Path | None = Field(None, description="YAML file of canned answers, faults and defaults.")
    model_base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint that answers model graders instead of canned rules."
    )
    model_api_key: str | None = Field(None, json_schema_extra=SECRET)
    model_aliases: dict[str, str] = Field(
        default_factory=dict, description="Extra model alias -> snapshot entries (JSON in the env var)."
    )

    # --- text similarity
    embeddings_base_url: str | None = Field(
        None, description="OpenAI-compatible /v1/embeddings endpoint for cosine; default: lexical."
    )
    embeddings_api_key: str | None = Field(None, json_schema_extra=SECRET)
    embeddings_model: str = "text-embedding-3-large"
    nltk_data: Path | None = Field(
        None, description="Where WordNet is looked up / materialised (default: NLTK paths, then a cache)."
    )

    # --- observability
    otel: bool = Field(
        False,
        description="FastAPI's native OpenTelemetry traces, metrics and logs (needs a configured provider); "
        "grader requests then go through FastAPI's routing, so that spans carry route names.",
    )

    # --- evals API
    data_dir: Path | None = Field(
        None, description="Directory of the evals/files SQLite database; default: in memory (lost at exit)."
    )

    # --- journal
    journal_size: int = Field(1000, description="Requests kept in the journal (0 turns it off).")

    # --- bounds (README "Configuration": every limit a request or the server's state can reach)
    max_header_bytes: int = Field(16 * 1024, description="Request line and headers; larger heads get a 431.")
    max_header_count: int = Field(100, description="Request headers; more get a 431.")
    head_timeout_s: float = Field(10.0, description="A request head not complete by then: connection closed.")
    keep_alive_timeout_s: float = Field(5.0, description="Idle keep-alive connections are closed after this.")
    max_connections: int = Field(1000, description="Open connections; more are answered 503 and closed.")
    max_json_depth: int = Field(
        64, description="Nesting of JSON bodies (and of JSON samples); deeper: a 400."
    )
    max_rendered_ratio: float = Field(
        2.0, description="Rendered templates of one request, in characters, as a multiple of max_body_bytes."
    )
    max_model_messages: int = Field(1000, description="Messages (and content parts) per model grader.")
    max_sub_graders: int = Field(64, description="Sub-graders of a multi grader.")
    grader_cache_size: int = Field(
        256,
        ge=0,
        description="Compiled graders run and validate keep (least recently used out), keyed by the "
        "grader's JSON: a request with a known grader skips its validation and compilation; 0: none.",
    )
    metric_timeout_s: float = Field(10.0, description="text_similarity deadline; over it: other_error.")
    metric_workers: int = Field(1, description="Killable processes for large text_similarity inputs.")
    rule_regex_timeout_s: float = Field(0.05, description="Matching time of one rule regex; over: a miss.")
    max_rules_per_scope: int = Field(1000, description="Rules of the global scope and of each session.")
    max_sessions: int = Field(1000, description="Sessions kept; the least recently used goes first.")
    session_idle_s: float = Field(3600.0, description="Sessions unused this long are dropped.")
    journal_max_bytes: int = Field(256 * 1024 * 1024, description="Bytes the journal keeps in total.")

    # --- record / replay (graders_emulator.recording)
    upstream_url: str | None = Field(
        None,
        description="Real graders API base URL (e.g. https://api.openai.com/v1): run/validate are forwarded.",
    )
    upstream_api_key: str | None = Field(
        None, description="Key sent upstream; default: the caller's Authorization.", json_schema_extra=SECRET
    )
    upstream_timeout_s: float = Field(
        120.0, description="Upstream answer timeout; past it the caller gets a 504."
    )
    upstream_connect_timeout_s: float = Field(10.0, description="Upstream connect timeout (then a 502).")
    record_dir: Path | None = Field(None, description="Write one cassette per upstream exchange here.")
    replay_dir: Path | None = Field(None, description="Answer recorded requests from the cassettes here.")
    replay_only: bool = Field(False, description="Unrecorded requests get a 404 naming the missing cassette.")
