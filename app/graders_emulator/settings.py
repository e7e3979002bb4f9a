"""Process settings: one class, one environment prefix (GRADERS_EMULATOR_*), the same on the CLI."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
        default_factory=list, description="Accepted keys; empty: any bearer value is accepted."
    )
    control_token: str | None = Field(None, description="Bearer token required by /_emulator/ when set.")

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
    model_api_key: str | None = None
    model_aliases: dict[str, str] = Field(
        default_factory=dict, description="Extra model alias -> snapshot entries (JSON in the env var)."
    )

    # --- text similarity
    embeddings_base_url: str | None = Field(
        None, description="OpenAI-compatible /v1/embeddings endpoint for cosine; default: lexical."
    )
    embeddings_api_key: str | None = None
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
