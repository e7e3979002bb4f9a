"""Building what grading needs from Settings: the sandbox, the embedder, the Runtime (server, CLI, library)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from graders_emulator.bounds import RequestBounds
from graders_emulator.grading.context import Embedder, MetricRunner, SandboxRunner
from graders_emulator.grading.model_names import DEFAULT_ALIASES
from graders_emulator.service import CompiledGraders, Runtime
from graders_emulator.settings import Settings
from graders_emulator.validation import NameGenerator

if TYPE_CHECKING:
    from graders_emulator.sandbox import SandboxLimits


def build_sandbox(settings: Settings) -> SandboxRunner:
    """The python-grader runner the settings ask for (not started: its owner starts and closes it)."""
    from graders_emulator.sandbox import DisabledSandbox, SandboxPool

    if not settings.python_graders:
        return DisabledSandbox()
    return SandboxPool(settings.python_workers, sandbox_limits(settings), preload=settings.python_preload)


def sandbox_limits(settings: Settings) -> SandboxLimits:
    from graders_emulator.sandbox import SandboxLimits

    return SandboxLimits(
        timeout_s=settings.python_timeout_s,
        cpu_s=settings.python_cpu_s,
        memory_mb=settings.python_memory_mb,
        disk_mb=settings.python_disk_mb,
        output_kb=settings.python_output_kb,
    )


def build_embedder(settings: Settings) -> Embedder | None:
    """None: cosine uses the built-in lexical embedding."""
    if not settings.embeddings_base_url:
        return None
    from graders_emulator.metrics.embeddings import OpenAIEmbeddings

    return OpenAIEmbeddings(
        settings.embeddings_base_url, settings.embeddings_api_key or "", settings.embeddings_model
    )


def build_runtime(settings: Settings, sandbox: SandboxRunner, metrics: MetricRunner | None = None) -> Runtime:
    return Runtime(
        sandbox=sandbox,
        embedder=build_embedder(settings),
        model_aliases={**DEFAULT_ALIASES, **settings.model_aliases},
        new_name=NameGenerator(settings.seed),
        profile=settings.response_profile,
        strict=settings.strict_graders,
        max_source_bytes=settings.python_source_max_bytes,
        bounds=RequestBounds(
            max_body_bytes=settings.max_body_bytes,
            max_json_depth=settings.max_json_depth,
            max_rendered_ratio=settings.max_rendered_ratio,
            max_model_messages=settings.max_model_messages,
            max_sub_graders=settings.max_sub_graders,
        ),
        metrics=metrics,
        graders=CompiledGraders(settings.grader_cache_size),
    )
