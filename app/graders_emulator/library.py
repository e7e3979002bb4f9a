"""The library face: OpenAI's grading semantics without a server (run, validate, Grader, Result, Sandbox).

The server's `POST /run` and `/validate` are built on this face: `compiled_run` / `compiled_validate`
parse a body and compile its grader once per distinct grader JSON (the runtime's LRU), and
`Grader.arun` grades a sample and answers its body, with the sample bounds of `service` that every
other grading entry here (`grade`, `grade_many`, ...) applies too. So a body from `run()` is the body
the server answers. The async work (the python sandbox pool, model clients)
lives on one private event loop in a daemon thread, the *portal*: sync calls block on it, async calls
await it from the caller's loop, and the pools it owns are closed at interpreter exit.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import math
import operator
import threading
import time
from collections.abc import Callable, Coroutine, Generator, Iterable, Mapping, Sequence
from concurrent.futures import Future
from itertools import repeat
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import orjson

from graders_emulator import service, templating, validation
from graders_emulator.bounds import check_depth, openers_at_most
from graders_emulator.errors import JSON_PARSE_MESSAGE, ApiError
from graders_emulator.grading import columns, multi, string_check, text_similarity
from graders_emulator.grading.context import (
    BaseSandbox,
    GradingContext,
    ModelClient,
    PythonJob,
    PythonOutcome,
    SandboxRunner,
)
from graders_emulator.grading.dispatch import grade
from graders_emulator.grading.result import GradeResult
from graders_emulator.grading.templates import grader_templates
from graders_emulator.runtime import build_runtime, build_sandbox
from graders_emulator.sandbox.batching import BatchingRunner, run_batch
from graders_emulator.schemas.graders import (
    MODEL_GRADER_TYPES,
    LabelModelGrader,
    MultiGrader,
    PythonGrader,
    ScoreModelGrader,
    StringCheckGrader,
    TextSimilarityGrader,
)
from graders_emulator.schemas.requests import RunGraderRequest, ValidateGraderRequest
from graders_emulator.settings import Settings

if TYPE_CHECKING:
    from graders_emulator.emulation.state import EmulationState
    from graders_emulator.grading.result import GradeFailure
    from graders_emulator.schemas.graders import Grader as WireGrader

T = TypeVar("T")

# A row's sample: the model's output text, or a whole `sample` template namespace (Evals rows).
Sample = str | Mapping[str, Any]

# A grader as users hold it: a dict (OpenAI's grader JSON), its JSON text, a path to a JSON file, or
# an openai SDK grader object (anything with `model_dump`).
GraderSpec = Mapping[str, Any] | str | Path | Any

_WIRE_GRADERS = (
    StringCheckGrader,
    TextSimilarityGrader,
    PythonGrader,
    ScoreModelGrader,
    LabelModelGrader,
    MultiGrader,
)
DEFAULT_CONCURRENCY = 64  # samples of one grade_many call in flight at once (python and model graders)


class GraderError(ValueError):
    """An invalid grader or request: the 400 that `POST /run` or `/validate` would answer."""

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int = 400,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.status = status
        self.type = type

    @classmethod
    def from_api_error(cls, error: ApiError) -> GraderError:
        return cls(error.message, param=error.param, code=error.code, status=error.status, type=error.type)

    def envelope(self) -> dict[str, Any]:
        """OpenAI's error envelope, as the server would send it."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


_EMPTY: Mapping[str, Any] = MappingProxyType({})


class _Grading:
    """What every Result of one Grader shares: the grader (as parsed, unnamed) and the response profile."""

    __slots__ = ("grader", "profile", "type")

    def __init__(self, grader: WireGrader, profile: service.Profile) -> None:
        self.grader = grader
        self.type: str = grader.type
        self.profile = profile


class _Extra(NamedTuple):
    """The fields of a Result that only results with flags, sub-rewards or model calls fill."""

    sub_rewards: Mapping[str, float]
    flags: tuple[str, ...]
    details: Mapping[str, str]
    token_usage: Mapping[str, int] | int | None
    sampled_model_name: str | None
    usage_per_model: Mapping[str, Mapping[str, int]]


_PLAIN = _Extra(_EMPTY, (), _EMPTY, None, None, _EMPTY)


class Result:
    """One graded sample (read-only): the reward, the sub-rewards of a multi grader and the flags raised.

    `flags` lists the raised error flags (e.g. `python_grader_runtime_error`) in the order raised;
    `details` maps a flag to its explanation where there is one; `usage_per_model` is the wire's
    `model_grader_token_usage_per_model` (`{snapshot: usage}`). `to_wire()` is the `POST /run` body.
    Results compare equal when all these fields (and `execution_time`, `name`, `type`) are equal.
    """

    # A Result is made per sample, and for deterministic graders it is most of a sample's cost: a few
    # slots set by a plain __init__ (a frozen dataclass's took 2-3 us), the fields of a plain
    # result (no flags, sub-rewards or model calls) shared, the wire form built only when asked for.
    __slots__ = ("_execution_time", "_extra", "_grading", "_name", "_result", "_reward")

    def __init__(  # noqa: PLR0917 - positional: the per-row call with keywords cost ~2x as much
        self,
        reward: float,
        execution_time: float,
        name: str,
        grading: _Grading,
        result: GradeResult | None = None,
        extra: _Extra = _PLAIN,
    ) -> None:
        self._reward = reward
        self._execution_time = execution_time
        self._name = name
        self._grading = grading
        self._result = result  # None: a plain GradeResult(reward), made when to_wire() needs it
        self._extra = extra

    @property
    def reward(self) -> float:
        return self._reward

    @property
    def sub_rewards(self) -> Mapping[str, float]:
        return self._extra.sub_rewards

    @property
    def flags(self) -> tuple[str, ...]:
        return self._extra.flags

    @property
    def details(self) -> Mapping[str, str]:
        return self._extra.details

    @property
    def token_usage(self) -> Mapping[str, int] | int | None:
        return self._extra.token_usage

    @property
    def sampled_model_name(self) -> str | None:
        return self._extra.sampled_model_name

    @property
    def execution_time(self) -> float:
        return self._execution_time

    @property
    def name(self) -> str:
        return self._name

    @property
    def type(self) -> str:
        return self._grading.type

    @property
    def usage_per_model(self) -> Mapping[str, Mapping[str, int]]:
        return self._extra.usage_per_model

    @property
    def failed(self) -> bool:
        """True when any error flag was raised (the reward is then 0.0)."""
        return bool(self._extra.flags)

    def to_wire(self) -> dict[str, Any]:
        """The exact body `POST /run` answers for this sample."""
        grader = self._grading.grader
        if grader.name != self._name:  # an unnamed grader: this sample's generated name
            grader = grader.model_copy(update={"name": self._name})
        result = self._result
        if result is None:
            result = GradeResult(reward=self._reward, sub_rewards=self._extra.sub_rewards)
        return service.assemble(grader, result, self._execution_time, self._grading.profile)

    def _fields(self) -> tuple[Any, ...]:
        return (self._reward, *self._extra[:5], self._execution_time, self._name, self.type, self._extra[5])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Result):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # its mappings are unhashable, as a frozen dataclass's were

    def __repr__(self) -> str:
        names = ("reward", *_Extra._fields[:5], "execution_time", "name", "type", "usage_per_model")
        return f"Result({', '.join(f'{n}={v!r}' for n, v in zip(names, self._fields(), strict=True))})"


def _details(result: GradeResult) -> Mapping[str, str]:
    details: dict[str, str] = {}
    for failure in result.failures:
        if failure.details is not None:
            previous = details.get(failure.flag)
            details[failure.flag] = failure.details if previous is None else f"{previous}; {failure.details}"
    return MappingProxyType(details)


def _result(grading: _Grading, name: str, result: GradeResult, elapsed: float) -> Result:
    """The Result of a GradeResult (the general path: any grader, any outcome)."""
    subs, usage, per_model = result.sub_rewards, result.token_usage, result.usage_per_model
    if not (subs or result.failures or usage is not None or result.sampled_model_name or per_model):
        return Result(float(result.reward), elapsed, name, grading, result=result)
    extra = _Extra(
        sub_rewards=MappingProxyType({key: float(value) for key, value in subs.items()}) if subs else _EMPTY,
        flags=tuple(dict.fromkeys(result.failed_flags)) if result.failures else (),
        details=_details(result) if result.failures else _EMPTY,
        token_usage=None
        if usage is None
        else (usage.total_tokens if grading.profile == "spec" else usage.as_wire()),
        sampled_model_name=result.sampled_model_name,
        usage_per_model=MappingProxyType(
            {model: MappingProxyType(tokens.as_wire()) for model, tokens in per_model.items()}
        )
        if per_model
        else _EMPTY,
    )
    return Result(float(result.reward), elapsed, name, grading, result=result, extra=extra)


# --- the portal: one private event loop for everything async --------------------------------------


class _Portal:
    """A daemon thread running the event loop that owns sandbox pools and model clients."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="graders-emulator-portal", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
                atexit.register(_close_at_exit)
            return self._loop

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        loop = self._running_loop()
        if threading.current_thread() is self._thread:
            coroutine.close()
            raise RuntimeError("graders_emulator: a sync call was made from inside the library's own loop")
        return asyncio.run_coroutine_threadsafe(coroutine, loop)

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run on the portal and wait (sync callers)."""
        return self.submit(coroutine).result()

    async def acall(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run on the portal and await it from the caller's own loop (async callers)."""
        return await asyncio.wrap_future(self.submit(coroutine))

    def stop(self) -> None:
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)


_PORTAL = _Portal()


# --- sandboxes ---------------------------------------------------------------------------------


class Sandbox:
    """A python-grader sandbox pool you size and close yourself.

    While its `with` (or `async with`) block runs it is the sandbox every `Grader` and `run()` uses
    unless one was given `sandbox=` explicitly. Without any, a default pool starts lazily on the first
    python grader and closes at interpreter exit. Limits default to the Settings' (`python_*`).
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        timeout_s: float | None = None,
        cpu_s: float | None = None,
        memory_mb: int | None = None,
        disk_mb: int | None = None,
        output_kb: int | None = None,
        preload: Sequence[str] | None = None,
        settings: Settings | None = None,
    ) -> None:
        overrides = {
            "python_workers": workers,
            "python_timeout_s": timeout_s,
            "python_cpu_s": cpu_s,
            "python_memory_mb": memory_mb,
            "python_disk_mb": disk_mb,
            "python_output_kb": output_kb,
            "python_preload": list(preload) if preload is not None else None,
        }
        base = settings if settings is not None else Settings()
        self.settings = base.model_copy(update={k: v for k, v in overrides.items() if v is not None})
        self._runner: SandboxRunner = build_sandbox(self.settings)
        self._started = False
        self._closed = False

    async def _ensure_started(self) -> None:
        if self._closed:
            raise RuntimeError("this Sandbox is closed")
        if not self._started:
            self._started = True
            await self._runner.start()

    async def run(self, job: PythonJob) -> PythonOutcome:
        """Run one job (this makes a Sandbox a SandboxRunner)."""
        await self._ensure_started()
        return await self._runner.run(job)

    async def run_batch(self, jobs: Sequence[PythonJob]) -> list[PythonOutcome]:
        """Run many jobs of one python grader (one child compiles it once per chunk)."""
        await self._ensure_started()
        return await run_batch(self._runner, jobs)

    def protections(self) -> dict[str, object]:
        """What the workers enforce (as `/readyz` reports it)."""
        return dict(self._runner.protections())

    async def _aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._started:
            await self._runner.close()

    async def _started_and_warm(self) -> None:
        await self._ensure_started()
        wait_started = getattr(self._runner, "wait_started", None)
        if wait_started is not None:
            await wait_started()

    def start(self) -> Sandbox:
        """Start the workers and wait for the first one to be warm."""
        _PORTAL.call(self._started_and_warm())
        return self

    def close(self) -> None:
        _PORTAL.call(self._aclose())
        _forget(self)

    def __enter__(self) -> Sandbox:
        self.start()
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _forget(self)
        self.close()

    async def __aenter__(self) -> Sandbox:
        await _PORTAL.acall(self._started_and_warm())
        _ACTIVE.append(self)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        _forget(self)
        await _PORTAL.acall(self._aclose())


_ACTIVE: list[Sandbox] = []  # the `with Sandbox()` blocks being run, innermost last
_DEFAULTS: dict[str, Sandbox] = {}  # lazily started pools, one per distinct set of limits
_DEFAULTS_LOCK = threading.Lock()


def _forget(sandbox: Sandbox) -> None:
    if sandbox in _ACTIVE:
        _ACTIVE.remove(sandbox)


def _default_sandbox(settings: Settings) -> Sandbox:
    key = json.dumps(
        [settings.python_graders, settings.python_workers, settings.python_preload, _limits(settings)]
    )
    with _DEFAULTS_LOCK:
        if key not in _DEFAULTS:
            _DEFAULTS[key] = Sandbox(settings=settings)
        return _DEFAULTS[key]


def _limits(settings: Settings) -> list[Any]:
    return [
        settings.python_timeout_s,
        settings.python_cpu_s,
        settings.python_memory_mb,
        settings.python_disk_mb,
        settings.python_output_kb,
    ]


class _CurrentSandbox(BaseSandbox):
    """The runner grading sees: the explicit sandbox, else the innermost active one, else the default.

    Its lifecycle is the resolved sandbox's own (started lazily, closed at exit): start/close are no-ops.
    """

    def __init__(self, settings: Settings, explicit: Sandbox | None) -> None:
        self.settings = settings
        self.explicit = explicit

    def resolve(self) -> Sandbox:
        if self.explicit is not None:
            return self.explicit
        if _ACTIVE:
            return _ACTIVE[-1]
        return _default_sandbox(self.settings)

    async def run(self, job: PythonJob) -> PythonOutcome:
        return await self.resolve().run(job)

    async def run_batch(self, jobs: Sequence[PythonJob]) -> list[PythonOutcome]:
        return await self.resolve().run_batch(jobs)

    def protections(self) -> dict[str, object]:
        return self.resolve().protections()


def _close_at_exit() -> None:
    with _DEFAULTS_LOCK:
        pools = list(_DEFAULTS.values()) + list(_ACTIVE)
        _DEFAULTS.clear()
        _ACTIVE.clear()

    async def close_all() -> None:
        await asyncio.gather(*(pool._aclose() for pool in pools), return_exceptions=True)

    if pools:
        # Best effort at exit: the pools' processes die with their parent anyway.
        with contextlib.suppress(Exception):
            _PORTAL.submit(close_all()).result(timeout=10)
    _PORTAL.stop()


# --- engines: settings, runtime and model answers for one set of options -----------------------


class _Engine:
    """What grading needs for one set of options (settings overrides and a sandbox)."""

    def __init__(self, settings: Settings, sandbox: Sandbox | None) -> None:
        self.settings = settings
        self.runtime = build_runtime(settings, _CurrentSandbox(settings, sandbox))
        self._emulation: EmulationState | None = None
        self.keyed_by: Settings | None = None

    def models(self) -> ModelClient:
        """A model client for one sample: canned rules from the config file, or the configured endpoint."""
        from graders_emulator.emulation.headers import EmulationHeaders
        from graders_emulator.emulation.state import EmulationState, RequestEmulationState

        if self._emulation is None:
            self._emulation = EmulationState(self.settings.model_copy(update={"journal_size": 0}))
        return self._emulation.model_client(RequestEmulationState(None, EmulationHeaders()))

    async def run_body(self, body: dict[str, Any]) -> bytes:
        try:
            request = compiled_run(body, self.runtime)
            outcome = await request.grader.arun(request.model_sample, request.item, models=self.models())
        except ApiError as exc:
            raise GraderError.from_api_error(exc) from None
        return outcome.body

    def parse_grader(self, grader: Any) -> WireGrader:
        try:
            return service.parse_validate({"grader": grader}, self.runtime).grader
        except ApiError as exc:
            raise GraderError.from_api_error(exc) from None


_ENGINES: dict[str, _Engine] = {}
_ENGINES_LOCK = threading.Lock()


def _engine(options: Mapping[str, Any], sandbox: Sandbox | None = None) -> _Engine:
    """The engine of these options (cached: Settings read the environment once per distinct options)."""
    settings = options.get("settings")
    overrides = {key: value for key, value in options.items() if key != "settings"}
    key = json.dumps(
        [id(settings) if settings is not None else None, id(sandbox), overrides], sort_keys=True, default=str
    )
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = _Engine(_settings(settings, overrides), sandbox)
            # The key names the Settings object by its id: the engine keeps the object alive, so that
            # a later Settings never reuses that id and finds an engine made for other settings.
            engine.keyed_by = settings
        return engine


def _settings(settings: Settings | None, overrides: Mapping[str, Any]) -> Settings:
    unknown = sorted(set(overrides) - set(Settings.model_fields))
    if unknown:
        raise TypeError(f"unknown option(s) {', '.join(unknown)}: options are Settings fields")
    if settings is None:
        return Settings(**overrides)
    return Settings(**{**settings.model_dump(exclude_unset=True), **overrides})


def _grader_json(grader: GraderSpec) -> Any:
    """The grader as a JSON value, from any of the forms users hold it in."""
    if isinstance(grader, Grader):
        return grader.wire
    if isinstance(grader, Mapping):
        return dict(grader)
    if hasattr(grader, "model_dump"):
        return grader.model_dump(exclude_none=True)
    if isinstance(grader, str) and grader.lstrip().startswith("{"):
        return _json(grader, "the grader text")
    if isinstance(grader, str | Path):
        return _json(Path(grader).read_text(encoding="utf-8"), str(grader))
    return grader  # anything else: the parser answers what the server would


def _json(text: str, where: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise GraderError(f"{JSON_PARSE_MESSAGE.split(' (HINT')[0]} ({where}: {exc})") from None


def _json_item(item: Any) -> Any:
    """The item as the server would receive it: JSON values only (numpy scalars and arrays allowed)."""
    if item is None or isinstance(item, str | int | float | bool):
        return item
    if type(item) is dict and _flat_size(item) >= 0:
        return item  # what the round trip would return: skip its two passes (most rows are like this)
    try:
        return orjson.loads(orjson.dumps(item, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS))
    except TypeError as exc:
        raise GraderError(f"Invalid type for 'item': {exc}.", param="item", code="invalid_type") from None


_JSON_INTS = range(-(2**63), 2**64)  # what orjson writes; it refuses larger ints (a 400 above)


# What a flat item's value renders as at most, when it is not a string: a 64-bit int or a float's repr.
_SCALAR_CHARS = 24


def _flat_size(item: dict[Any, Any]) -> int:
    """-1 unless a flat dict is its own JSON round trip: ASCII string keys, and values that are ASCII
    strings, booleans, null, 64-bit ints or finite floats. Anything else (a nested value, non-ASCII
    text, which may hold a lone surrogate, a NaN, which becomes null) takes the real round trip.

    Otherwise the characters its values render as, at most (`_SCALAR_CHARS` a non-string): one
    `{{item.key}}` renders no more than that.
    """
    size = 0
    for key, value in item.items():
        if type(key) is not str or not key.isascii():
            return -1
        kind = type(value)
        if kind is str:
            if not value.isascii():
                return -1
            size += len(value) if len(value) > _SCALAR_CHARS else _SCALAR_CHARS
            continue
        if kind is int:
            if value not in _JSON_INTS:
                return -1
        elif kind is float:
            if not math.isfinite(value):
                return -1
        elif kind is not bool and value is not None:
            return -1
        size += _SCALAR_CHARS
    return size


def _sample_namespace(sample: Any) -> dict[str, Any]:
    """The `sample` namespace: derived from the model's text as `POST /run` does, or given whole."""
    if isinstance(sample, Mapping):
        return dict(sample)
    return templating.sample_namespace(_check_sample(sample))


def _check_sample(model_sample: Any) -> str:
    if not isinstance(model_sample, str):
        # The server's words for each JSON type (an int is "an integer" there, a float "a number").
        kind = {int: "an integer", list: "an array", bool: "a boolean", type(None): "null"}.get(
            type(model_sample), "a number" if isinstance(model_sample, int | float) else "another type"
        )
        raise GraderError(
            f"Invalid type for 'model_sample': expected a string, but got {kind} instead.",
            param="model_sample",
            code="invalid_type",
        )
    return model_sample


# --- the public face ---------------------------------------------------------------------------


def run(grader: GraderSpec, model_sample: str, item: Any = None, **options: Any) -> dict[str, Any]:
    """Grade one sample: the exact body `POST /v1/fine_tuning/alpha/graders/run` answers.

    `options` are Settings fields (`response_profile="spec"`, `seed=1`, `config="rules.yaml"`, ...)
    or `settings=Settings(...)`; `sandbox=Sandbox(...)` picks the python-grader sandbox.
    Raises GraderError for what the server answers with a 400.
    """
    sandbox = options.pop("sandbox", None)
    body: dict[str, Any] = {"grader": _grader_json(grader), "model_sample": model_sample}
    if item is not None:
        body["item"] = _json_item(item)  # as the server would receive it, and as Grader reads it
    return orjson.loads(_PORTAL.call(_engine(options, sandbox).run_body(body)))  # type: ignore[no-any-return]


def validate(grader: GraderSpec, **options: Any) -> dict[str, Any]:
    """Validate a grader: the exact body `POST /v1/fine_tuning/alpha/graders/validate` answers."""
    engine = _engine(options)
    try:
        compiled = compiled_validate({"grader": _grader_json(grader)}, engine.runtime)
    except ApiError as exc:
        raise GraderError.from_api_error(exc) from None
    return orjson.loads(compiled.validated())  # type: ignore[no-any-return]


class Grader:
    """A grader validated and compiled once, then applied to many samples.

    `grade` / `grade_many` block; `agrade` / `agrade_many` are their async forms. Rows of
    `grade_many` are `(sample, item)` pairs: the sample is the model's output text (the `sample`
    namespace is derived from it as for `POST /run`) or a whole `sample` namespace mapping
    (`output_text`, `output_json`, `model`, ... as Evals rows carry it, used as is). Python graders run
    in the current Sandbox; model graders answer from the canned rules (`config=`) or the endpoint in
    `model_base_url`. `Grader.bound` grades with a caller's own Runtime instead (server-side code).
    """

    def __init__(
        self,
        grader: GraderSpec,
        *,
        sandbox: Sandbox | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        **options: Any,
    ) -> None:
        engine = _engine(options, sandbox)
        self._setup(engine.parse_grader(_grader_json(grader)), engine.runtime, engine.models, concurrency)
        self._engine: _Engine | None = engine

    @classmethod
    def bound(
        cls,
        grader: GraderSpec,
        runtime: service.Runtime,
        models: Callable[[], ModelClient],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> Grader:
        """A Grader on the caller's Runtime (its sandbox pool, metric pool and naming), without a portal.

        Server-side code (the Evals executor, the server, the batch CLI) grades through this: `agrade`
        and `agrade_many` run on the caller's own event loop, where the runtime's pools live; the sync
        forms raise RuntimeError. `models()` gives a fresh model client (per sample for graders that
        wait on I/O, once for the others). `grader` is a parsed wire grader (used as is: e.g. an Evals
        testing criterion, label_model at the top level included) or any GraderSpec (parsed and checked
        as `POST /validate` would, with this runtime's limits).
        """
        if isinstance(grader, _WIRE_GRADERS):
            model: WireGrader = grader
        else:
            try:
                model = service.parse_validate({"grader": _grader_json(grader)}, runtime).grader
            except ApiError as exc:
                raise GraderError.from_api_error(exc) from None
        return cls._compile(model, runtime, models, concurrency)

    @classmethod
    def _compile(
        cls,
        model: WireGrader,
        runtime: service.Runtime,
        models: Callable[[], ModelClient] | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> Grader:
        """A bound Grader of a checked wire grader (`models=None`: every call passes its own client)."""
        self = cls.__new__(cls)
        self._setup(model, runtime, models or _no_models, concurrency)
        self._engine = None
        return self

    def _setup(
        self,
        model: WireGrader,
        runtime: service.Runtime,
        models: Callable[[], ModelClient],
        concurrency: int,
    ) -> None:
        self._model = model
        self._runtime = runtime
        self._new_models = models
        self._grading = _Grading(model, runtime.profile)
        self.wire: dict[str, Any] = validation.to_wire(model)
        self.type: str = model.type
        self.name: str | None = model.name
        self.concurrency = max(1, concurrency)
        self._waits = _waits_on_io(self.wire)
        self._python = _has_type(self.wire, frozenset({"python"}))
        self._asks_models = _has_type(self.wire, MODEL_GRADER_TYPES)
        self._shared_models: ModelClient | None = None
        # Deterministic graders are scored by plain functions: on an event loop (long texts and meteor
        # go the general way, off the loop) or in a sync caller's own thread (all of them).
        self._loop_scorer = None if self._waits else _inline_scorer(model, runtime, off_loop=False)
        self._caller_scorer = None if self._waits else _inline_scorer(model, runtime, off_loop=True)
        # Every template of the grader with its parameter: what the rendered-size bound measures.
        self._templates = tuple(grader_templates(model, "grader"))
        self._size_plan = service.size_plan(self._templates)
        # The names the general path also draws per sample for a multi's unnamed sub-graders.
        self._unnamed_subs = (
            sum(not sub.name for sub in model.graders.values()) if isinstance(model, MultiGrader) else 0
        )
        # For these templates `{"output_text": sample}` is the whole sample namespace they can see.
        self._text_only = templating.reads_only_output_text(t for _, t in self._templates)
        # Batches of rows that are all plain are scored over columns: graders whose every template is
        # a lone `{{ sample.output_text }}` or `{{ item.key }}` (`columns.scorer` picks the graders).
        self._loop_columns = self._caller_columns = None
        variables = self._size_plan.variables
        if self._text_only and variables is not None and {ns for ns, _, _ in variables} <= {"sample", "item"}:
            self._loop_columns = columns.scorer(model, runtime.embedder, off_loop=False)
            self._caller_columns = columns.scorer(model, runtime.embedder, off_loop=True)
        # The server's answer of a string_check, trace included, without a coroutine or a context.
        self._traced = string_check.traced(model) if isinstance(model, StringCheckGrader) else None

    def __repr__(self) -> str:
        return f"Grader(type={self.type!r}, name={self.name!r})"

    @property
    def model(self) -> WireGrader:
        """The parsed wire grader (unnamed parts left unnamed: each grading names them anew)."""
        return self._model

    @property
    def settings(self) -> Settings:
        if self._engine is None:
            raise RuntimeError(
                "a bound Grader has no Settings of its own: it grades with its caller's Runtime"
            )
        return self._engine.settings

    async def arun(
        self,
        model_sample: str,
        item: Any = None,
        *,
        models: ModelClient | None = None,
        forced: tuple[GradeFailure, ...] = (),
        simulated_latency_s: float = 0.0,
        body_bytes: int | None = None,
    ) -> service.RunOutcome:
        """Grade one checked sample as `POST /run` does: its answer body and what produced it.

        On the caller's loop (the server's, or the portal for `run()`); raises the ApiError of a
        sample over the request bounds. `models`: this request's model client (else one of
        `models()`); `forced` flags and `simulated_latency_s` come from the emulation;
        `body_bytes`, the size of the JSON body the sample and item came from, lets the rendered-size
        bound be settled without walking the templates (`service.check_namespaces`).
        """
        runtime = self._runtime
        started = service.now()
        grader = validation.with_names(self._model, runtime.new_name)
        namespaces = templating.namespaces(item, model_sample)
        service.check_namespaces(self._templates, namespaces, runtime.bounds, body_bytes, self._size_plan)
        traced = self._traced
        if traced is not None:
            try:
                result = traced(namespaces)
            except templating.MissingVariable as exc:  # dispatch's own answer to it
                result = GradeResult.failed("invalid_variable_error", str(exc))
        else:
            context = GradingContext(
                runtime.sandbox,
                models if models is not None else self._models(),
                runtime.embedder,
                runtime.model_aliases,
                runtime.metrics,
            )
            result = await grade(grader, namespaces, context)
        return service.outcome(
            grader, result, started, runtime.profile, forced=forced, simulated_latency_s=simulated_latency_s
        )

    def validated(self) -> bytes:
        """The `POST /validate` answer: the grader as received, missing names generated anew."""
        named = validation.with_names(self._model, self._runtime.new_name)
        wire = self.wire if named is self._model else validation.to_wire(named)
        return orjson.dumps({"grader": wire})

    def grade(self, sample: Sample, item: Any = None) -> Result:
        if self._engine is not None and self._caller_scorer is not None:
            return self.grade_many([(sample, item)])[0]
        return _PORTAL.call(self._portal_only(self._grade_one(sample, item)))

    async def agrade(self, sample: Sample, item: Any = None) -> Result:
        if self._engine is None:
            return await self._grade_one(sample, item)
        return await _PORTAL.acall(self._grade_one(sample, item))

    def grade_many(self, rows: Iterable[tuple[Sample, Any]]) -> list[Result]:
        if self._engine is not None and self._caller_scorer is not None:
            # The caller waits anyway: score in its thread, without the hop to the portal and back;
            # only a row the scorer hands back (a metric error) goes to the portal.
            rows = list(rows)
            if self._caller_columns is not None:
                results = self._column_results(rows, self._caller_columns)
                if results is not None:
                    return results
            steps = self._inline_rows(rows, self._caller_scorer)
            try:
                row = next(steps)
                while True:
                    row = steps.send(_PORTAL.call(self._grade(*row)))
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
        return _PORTAL.call(self._portal_only(self._grade_many(list(rows))))

    async def agrade_many(self, rows: Iterable[tuple[Sample, Any]]) -> list[Result]:
        if self._engine is None:
            return await self._grade_many(list(rows))
        return await _PORTAL.acall(self._grade_many(list(rows)))

    def _portal_only(self, coroutine: Coroutine[Any, Any, T]) -> Coroutine[Any, Any, T]:
        if self._engine is None:
            coroutine.close()
            raise RuntimeError(
                "a bound Grader grades on its caller's event loop: use `await agrade(...)` or "
                "`await agrade_many(...)` (the sync forms block on the library's private loop)"
            )
        return coroutine

    # --- on the portal (or, for a bound Grader, on the caller's loop)

    def _models(self) -> ModelClient:
        if self._waits:
            return self._new_models()  # a fresh client per sample: rules count their uses per call
        if self._shared_models is None:
            self._shared_models = self._new_models()
        return self._shared_models

    async def _grade_one(self, sample: Sample, item: Any) -> Result:
        if self._loop_scorer is not None:
            return (await self._grade_many([(sample, item)]))[0]
        return await self._grade(sample, item)

    async def _grade(self, sample: Sample, item: Any, sandbox: SandboxRunner | None = None) -> Result:
        """One sample through dispatch, as `POST /run` grades it (the general path)."""
        sample_namespace, item = _sample_namespace(sample), _json_item(item)
        runtime = self._runtime
        started = time.perf_counter()
        grader = validation.with_names(self._model, runtime.new_name)
        runner = sandbox or runtime.sandbox
        context = GradingContext(
            runner, self._models(), runtime.embedder, runtime.model_aliases, runtime.metrics
        )
        namespaces = {"item": {} if item is None else item, "sample": sample_namespace}
        self._check(namespaces)
        result = await grade(grader, namespaces, context)
        return _result(self._grading, grader.name or "", result, time.perf_counter() - started)

    def _check(self, namespaces: dict[str, Any]) -> None:
        """The sample bounds of `POST /run` (its 400 as a GraderError)."""
        try:
            service.check_namespaces(self._templates, namespaces, self._runtime.bounds, plan=self._size_plan)
        except ApiError as exc:
            raise GraderError.from_api_error(exc) from None

    async def _grade_many(self, rows: list[tuple[Sample, Any]]) -> list[Result]:
        if self._loop_columns is not None:
            results = self._column_results(rows, self._loop_columns)
            if results is not None:
                return results
        if self._loop_scorer is not None:
            steps = self._inline_rows(rows, self._loop_scorer)
            try:
                row = next(steps)
                while True:
                    row = steps.send(await self._grade(*row))
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
        if not self._waits:  # deterministic graders never suspend: no task per sample
            return [await self._grade(sample, item) for sample, item in rows]
        # Python jobs of these rows are coalesced into batches of this grader (one caller: this call).
        batching = BatchingRunner(self._runtime.sandbox) if self._python else None
        if not self._asks_models:  # only sandbox work: every row at once, the pool spreads the chunks
            return list(await asyncio.gather(*(self._grade(sample, item, batching) for sample, item in rows)))
        limit = asyncio.Semaphore(self.concurrency)

        async def bounded(sample: Sample, item: Any) -> Result:
            async with limit:
                return await self._grade(sample, item, batching)

        return list(await asyncio.gather(*(bounded(sample, item) for sample, item in rows)))

    def _inline_rows(
        self, rows: list[tuple[Sample, Any]], score: _Scorer
    ) -> Generator[tuple[Sample, Any], Result, list[Result]]:
        """A deterministic grader's rows (string_check, text_similarity, a multi of them), each scored
        by a plain function call: a reward, or a multi's (reward, sub_rewards).

        The same results as `_grade`, without what a deterministic grader does not need per sample: a
        coroutine, a grader copy, a GradingContext, the sample's JSON parse when no template reads
        it. A row the scorer hands back (a long text on a loop, a metric error) is yielded: the driver
        sends back its `_grade` result. Rows go in order, so an unnamed grader's generated names
        come as `_grade` gives them.
        """
        results: list[Result] = []
        append = results.append
        text_only, grading, clock, check = self._text_only, self._grading, time.perf_counter, self._check
        # A text with at most this many brackets cannot hold JSON nested deeper than the bound.
        openers = self._runtime.bounds.max_json_depth
        plan, limit = self._size_plan, self._runtime.bounds.max_rendered_chars
        # Only one-key-deep variables are bounded by their value's length (deeper ones: always checked).
        literal, references = plan.literal, plan.references if plan.variables is not None else limit + 1
        fixed_name, new_name, unnamed_subs = self._model.name, self._runtime.new_name, self._unnamed_subs
        # The scorers keep nothing of the namespaces they read: one pair of dicts serves every row.
        text_namespace: dict[str, Any] = {}
        namespaces: dict[str, Any] = {}
        # One clock reading per row: a row's execution_time runs from the end of the previous one.
        last = clock()
        for sample, item in rows:
            if type(sample) is not str:
                namespaces["sample"] = _sample_namespace(sample)
            elif text_only and (
                ("{" not in sample and "[" not in sample) or sample.count("{") + sample.count("[") <= openers
            ):
                text_namespace["output_text"] = sample
                namespaces["sample"] = text_namespace
            else:  # its JSON is parsed: for templates that read it, or for the depth bound
                namespaces["sample"] = templating.sample_namespace(sample)
            item_chars = _flat_size(item) if type(item) is dict else -1
            checked = item if item_chars >= 0 else _json_item(item)
            namespaces["item"] = {} if checked is None else checked
            # The bounds plainly hold when no `{{ns.key}}` can render more than the text plus every
            # value of a flat item; else (JSON parsed, deeper paths, big rows) they are checked.
            if (
                item_chars < 0
                or namespaces["sample"] is not text_namespace
                or literal + references * (len(sample) + item_chars) > limit
            ):
                check(namespaces)
            try:
                reward = score(namespaces)
            except templating.MissingVariable as exc:  # dispatch's own answer to it
                failure = GradeResult.failed("invalid_variable_error", str(exc))
                now = clock()
                append(_result(grading, fixed_name or new_name(), failure, now - last))
                last = now
                continue
            if reward is None:
                append((yield sample, item))
                last = clock()
                continue
            now = clock()
            name = fixed_name or new_name()
            if unnamed_subs:  # drawn as `with_names` draws them, after the multi's own
                for _ in range(unnamed_subs):
                    new_name()
            if isinstance(reward, tuple):  # a multi grader's
                reward, subs = reward
                extra = _Extra(MappingProxyType(subs), (), _EMPTY, None, None, _EMPTY)
                append(Result(reward, now - last, name, grading, extra=extra))
            else:
                append(Result(reward, now - last, name, grading))
            last = now
        return results

    def _column_results(
        self, rows: list[tuple[Sample, Any]], score: columns.ColumnScorer
    ) -> list[Result] | None:
        """Every row of a batch scored at once, over columns (`grading.columns`), when all are plain
        (`_plain_columns`): the rewards, sub-rewards and names of `_inline_rows`, and as
        execution_time each row's share of the batch's time. None when a row is not plain or a row's
        metric or formula failed: the rows then go one by one.
        """
        started = time.perf_counter()
        plain = self._plain_columns(rows)
        scored = None if plain is None else score(plain)
        if scored is None:
            return None
        rewards, sub_rewards = scored
        share = (time.perf_counter() - started) / len(rows)
        grading, name = self._grading, self._model.name
        if sub_rewards is not None:  # a multi grader's
            extra_of = _Extra._make  # a NamedTuple's own __new__ is a Python call: twice the cost
            return [
                Result(
                    reward,
                    share,
                    row,
                    grading,
                    None,
                    extra_of((MappingProxyType(subs), (), _EMPTY, None, None, _EMPTY)),
                )
                for reward, row, subs in zip(rewards, self._names(len(rows)), sub_rewards, strict=True)
            ]
        if name and isinstance(self._model, StringCheckGrader):
            # Two rewards only, and a Result is read-only: the rows of a reward share one, every
            # field equal (a Result costs ~100 ns, three times the row's `==`).
            one_of = {reward: Result(reward, share, name, grading) for reward in (0.0, 1.0)}
            return list(map(one_of.__getitem__, rewards))
        return list(map(Result, rewards, repeat(share), self._names(len(rows)), repeat(grading)))

    def _names(self, count: int) -> Iterable[str]:
        """The rows' names, in order: the grader's, or each row's generated one (for a multi, followed
        by its unnamed sub-graders' own draws, as `validation.with_names` draws them)."""
        if self._model.name:
            return repeat(self._model.name, count)
        new_name, unnamed_subs = self._runtime.new_name, self._unnamed_subs
        names = []
        for _ in range(count):
            names.append(new_name())
            for _ in range(unnamed_subs):
                new_name()
        return names

    def _plain_columns(self, rows: list[tuple[Sample, Any]]) -> dict[columns.Source, Sequence[str]] | None:
        """The column of each template variable over the rows, when every row is the plain case of
        `_inline_rows`: a str sample that cannot hold JSON deeper than the bound, a dict item that
        `_json_item` takes, a str value for every variable, within the rendered-size bound. Else None.
        Each check is a C-level pass over a column: a few ns a row where `_inline_rows` spends ~1 us.
        """
        plan, bounds = self._size_plan, self._runtime.bounds
        assert plan.variables is not None
        try:
            if not rows:
                return None
            samples, items = zip(*rows, strict=True)  # ValueError unless every row is a pair
            plain = set(map(type, samples)) == _STR and set(map(type, items)) == _DICT
            # (a sample with more brackets may be JSON too deep: `_inline_rows` parses and refuses it)
            if not plain or _most_openers(samples) > bounds.max_json_depth:
                return None
            # What `_json_item` refuses, orjson refuses (and a non-str key, which it would convert):
            # the values these templates read are str, which its round trip gives back unchanged.
            orjson.dumps(items, option=orjson.OPT_SERIALIZE_NUMPY)
            values: dict[columns.Source, Sequence[str]] = {}
            for namespace, key, _ in plan.variables:
                read = samples if namespace == "sample" else list(map(operator.itemgetter(key), items))
                values[(namespace, key)] = read
        except (TypeError, KeyError, ValueError):  # a row's shape, a missing key, a refused item
            return None
        if any(column is not samples and set(map(type, column)) != _STR for column in values.values()):
            return None
        # Lone keys only: the rendered size is each variable's length times its uses.
        sizes: Iterable[int] = repeat(plan.literal)
        for namespace, key, count in plan.variables:
            lengths = map(len, values[(namespace, key)])
            sizes = map(
                operator.add, sizes, lengths if count == 1 else map(operator.mul, lengths, repeat(count))
            )
        if max(sizes) > bounds.max_rendered_chars:
            return None
        return values


_STR, _DICT = {str}, {dict}


def _most_openers(texts: Sequence[str]) -> int:
    """At least the most `{` plus `[` any one text holds (0 when none has any: one pass over them)."""
    joined = "".join(texts)
    if "{" not in joined and "[" not in joined:
        return 0
    return max(map(str.count, texts, repeat("{"))) + max(map(str.count, texts, repeat("[")))


_Scorer = Callable[[Mapping[str, Any]], float | tuple[float, dict[str, float]] | None]


def _no_models() -> ModelClient:
    raise RuntimeError("this Grader was compiled for requests that bring their own model client")


# --- the server's requests: a body parsed and its grader compiled once per distinct grader JSON ----

_RUN_FIELDS = frozenset(RunGraderRequest.model_fields)
_VALIDATE_FIELDS = frozenset(ValidateGraderRequest.model_fields)


class RunRequest(NamedTuple):
    """A checked run body: its compiled grader, the sample and the item (`reference_answer` applied)."""

    grader: Grader
    model_sample: str
    item: Any


def compiled_run(data: Any, runtime: service.Runtime, raw: bytes | None = None) -> RunRequest:
    """A run body checked as `service.parse_run` checks it (the same 400s), its grader compiled.

    With `raw`, the JSON text `data` was parsed from, the compiled grader is kept in the runtime's
    LRU under the grader's JSON: a later body with the same grader skips its schema validation,
    checks and compilation, and only the rest of the body is checked.
    """
    key, compiled = _cached(data, runtime, raw, _RUN_FIELDS)
    if compiled is not None:
        sample = data.get("model_sample")
        if type(sample) is str:
            return RunRequest(compiled, sample, service.item_of_body(data))
    request = service.parse_run(data, runtime, raw)  # answers the 400 of whatever is wrong
    if compiled is None:
        compiled = Grader._compile(request.grader, runtime)
        if key is not None:
            runtime.graders.put(key, compiled)
    return RunRequest(compiled, request.model_sample, service.item_of(request))


def compiled_validate(data: Any, runtime: service.Runtime, raw: bytes | None = None) -> Grader:
    """A validate body checked as `service.parse_validate` checks it, its grader compiled (cached)."""
    key, compiled = _cached(data, runtime, raw, _VALIDATE_FIELDS)
    if compiled is not None:
        return compiled
    compiled = Grader._compile(service.parse_validate(data, runtime, raw).grader, runtime)
    if key is not None:
        runtime.graders.put(key, compiled)
    return compiled


def _key(data: Any, raw: bytes | None) -> bytes | None:
    """The grader's JSON, when the body's grader may be kept (None: compiled for this request only)."""
    if raw is None or type(data) is not dict:  # only text from the wire: its JSON round-trips exactly
        return None
    grader = data.get("grader")
    if type(grader) is not dict:
        return None
    try:
        key = orjson.dumps(grader)
    except (TypeError, orjson.JSONEncodeError):  # integers beyond 64 bits: never cached
        return None
    return key if len(key) <= service.MAX_CACHED_GRADER_BYTES else None


def _cached(
    data: Any, runtime: service.Runtime, raw: bytes | None, fields: frozenset[str]
) -> tuple[bytes | None, Grader | None]:
    """The body's cache key (None: not cacheable) and its compiled grader when the rest checks out.

    Only what parsing checks beyond the grader is checked again: a valid grader passes its own
    checks again (they depend on its JSON and the runtime only), so the body's depth comes first,
    as in `parse_run`. A field pydantic would refuse, or strict mode's unknown key, is left to the
    full parse (None returned), which answers its 400 exactly as without the cache.
    """
    key = _key(data, raw)
    if key is None or raw is None:  # (a key is only made from a raw body)
        return None, None
    compiled = runtime.graders.get(key)
    if compiled is None or compiled._runtime is not runtime:
        return key, None
    bounds = runtime.bounds
    if not openers_at_most(raw, bounds.max_json_depth):  # check_body's depth (its counts: the grader's)
        check_depth(data, bounds)
    if runtime.strict and not fields.issuperset(data):
        return key, None
    return key, compiled


def _inline_scorer(grader: WireGrader, runtime: service.Runtime, *, off_loop: bool) -> _Scorer | None:
    """The plain scoring function of a string_check or text_similarity grader, or of a multi grader of
    them (None for others)."""
    if isinstance(grader, MultiGrader):
        return multi.inline_scorer(grader, lambda sub: _single_scorer(sub, runtime, off_loop=off_loop))
    return _single_scorer(grader, runtime, off_loop=off_loop)


def _single_scorer(grader: WireGrader, runtime: service.Runtime, *, off_loop: bool) -> multi.SubScorer | None:
    if isinstance(grader, StringCheckGrader):
        return string_check.scorer(grader)
    if isinstance(grader, TextSimilarityGrader):
        return text_similarity.inline_scorer(grader, runtime.embedder, off_loop=off_loop)
    return None


def _has_type(wire: Mapping[str, Any], types: frozenset[str]) -> bool:
    """Whether the grader, or any sub-grader of a multi grader, has one of these types."""
    if wire.get("type") in types:
        return True
    graders = wire.get("graders")
    return isinstance(graders, Mapping) and any(
        isinstance(sub, Mapping) and _has_type(sub, types) for sub in graders.values()
    )


def _waits_on_io(wire: Mapping[str, Any]) -> bool:
    """Whether grading this grader waits on a sandbox or a model (else it is pure CPU, in-process)."""
    if wire.get("type") == "python" or wire.get("type") in MODEL_GRADER_TYPES:
        return True
    if wire.get("type") == "text_similarity" and wire.get("evaluation_metric") == "cosine":
        return True  # a configured embeddings endpoint is I/O
    graders = wire.get("graders")
    return isinstance(graders, Mapping) and any(_waits_on_io(sub) for sub in graders.values())
