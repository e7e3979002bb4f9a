"""Runs in the background: one asyncio task per run, a bounded number at once, cancel between items.

A run goes `queued` -> `in_progress` -> `completed` | `failed` | `canceled`. Rows are graded in
chunks; after each chunk its output items and the run's counts are written, so that a poll sees
progress and a cancel takes effect before the next chunk. Chunks start small (FIRST_CHUNK_ROWS: the
first counts show at once) and double up to MAX_CHUNK_ROWS: a python criterion grades a chunk as
one batch per sandbox worker, and each batch's sandboxed child costs a fork and its set-up, so
larger chunks are several times faster (bench/bench_evals.py).

Every testing criterion grades through the library face: compiled once per run as a `Grader` bound
to the server's Runtime, it grades a whole chunk with `agrade_many`, so that a python criterion's
rows go to the sandbox as batches (one sandboxed child compiles the source once for many samples)
and a model criterion's rows wait on their models concurrently.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from graders_emulator import templating
from graders_emulator.emulation.headers import EmulationHeaders
from graders_emulator.emulation.state import EmulationState, RequestEmulationState
from graders_emulator.evals import criteria as criteria_module
from graders_emulator.evals import rows as rows_module
from graders_emulator.evals.criteria import Graded, Judged
from graders_emulator.evals.objects import Profile, new_id, no_error, now
from graders_emulator.evals.rows import Row
from graders_emulator.evals.sampling import Sampler, SampleReply, SampleRequest
from graders_emulator.evals.store import EvalStore
from graders_emulator.grading.context import ModelClient
from graders_emulator.grading.model import render_messages
from graders_emulator.grading.result import TokenUsage
from graders_emulator.library import Grader, GraderError
from graders_emulator.schemas.evals import Criterion
from graders_emulator.schemas.graders import MODEL_GRADER_TYPES, EvalMessage
from graders_emulator.service import Runtime

log = logging.getLogger("graders_emulator.evals")

FIRST_CHUNK_ROWS = 32
MAX_CHUNK_ROWS = 256  # a cancel waits for at most this many rows
SAMPLING_CONCURRENCY = 32  # a completions run's samples drawn at once (its chunks may be larger)
MAX_RUNNING = 4
# Sampling parameters the output item reports when the run sets none (OpenAI's documented defaults;
# **decision** for max_completion_tokens, which has none).
SAMPLE_DEFAULTS = {"temperature": 1.0, "top_p": 1.0, "seed": 42, "max_completion_tokens": 2048}
TERMINAL = ("completed", "failed", "canceled")


class RunFailure(Exception):
    """The run cannot go on: it ends `failed` with this code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Tally:
    """Counts of a run so far."""

    names: list[str]
    counts: dict[str, int] = field(
        default_factory=lambda: {"total": 0, "errored": 0, "failed": 0, "passed": 0}
    )
    per_criterion: list[list[int]] = field(default_factory=list)
    usage: dict[str, tuple[int, TokenUsage]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.per_criterion = [[0, 0] for _ in self.names]

    def add(self, status: str, judged: Sequence[Judged]) -> None:
        self.counts["total"] += 1
        self.counts[{"pass": "passed", "fail": "failed", "error": "errored"}[status]] += 1
        for index, one in enumerate(judged):
            self.per_criterion[index][0 if one.passed else 1] += 1

    def use(self, model: str, tokens: TokenUsage) -> None:
        calls, total = self.usage.get(model, (0, TokenUsage()))
        self.usage[model] = (calls + 1, total + tokens)

    def wire(self) -> dict[str, Any]:
        return {
            "result_counts": dict(self.counts),
            "per_model_usage": [
                {
                    "model_name": model,
                    "invocation_count": calls,
                    "prompt_tokens": tokens.prompt_tokens,
                    "completion_tokens": tokens.completion_tokens,
                    "total_tokens": tokens.total_tokens,
                    "cached_tokens": tokens.cached_tokens,
                }
                for model, (calls, tokens) in self.usage.items()
            ],
            "per_testing_criteria_results": [
                {"testing_criteria": name, "passed": passed, "failed": failed}
                for name, (passed, failed) in zip(self.names, self.per_criterion, strict=True)
            ],
        }


@dataclass
class RunContext:
    """What grading one run's rows needs."""

    session: str | None
    run: dict[str, Any]
    source: dict[str, Any]
    criteria: list[Criterion]
    graders: list[Grader]  # one per criterion, compiled once for the run
    item_schema: dict[str, Any]
    tally: Tally
    sampling: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(SAMPLING_CONCURRENCY))


@dataclass
class Prepared:
    """One row before grading: its sample drawn (completions) or taken from the row, or its error."""

    row: Row
    prompt: list[dict[str, str]]
    reply: SampleReply | None
    error: str | None
    sample: dict[str, Any]  # the `sample` namespace the criteria see (when there is no error)


class RunExecutor:
    """Starts, cancels and resumes runs; owns their tasks."""

    def __init__(
        self,
        store: EvalStore,
        runtime: Runtime,
        emulation: EmulationState,
        sampler: Sampler,
        *,
        profile: Profile,
        max_running: int = MAX_RUNNING,
    ) -> None:
        self.store = store
        self.runtime = runtime
        self.emulation = emulation
        self.sampler = sampler
        self.profile = profile
        self._slots = asyncio.Semaphore(max_running)
        self._tasks: dict[str, tuple[str | None, asyncio.Task[None]]] = {}
        self._canceled: set[str] = set()

    # --- lifecycle

    def start(self, session: str | None, run_id: str) -> None:
        task = asyncio.get_running_loop().create_task(
            self._execute(session, run_id), name=f"eval-run-{run_id}"
        )
        self._tasks[run_id] = (session, task)
        task.add_done_callback(lambda _: self._tasks.pop(run_id, None))

    def cancel(self, run_id: str) -> None:
        """Stop the run before its next chunk of rows."""
        self._canceled.add(run_id)

    def forget(self, session: str | None) -> None:
        """Stop every run of a session (None: of every session), e.g. on reset."""
        for run_id, (owner, task) in list(self._tasks.items()):
            if session is None or owner == session:
                self._canceled.add(run_id)
                task.cancel()

    def resume_unfinished(self) -> int:
        """Runs a stopped server left queued or in progress start again from their first row."""
        unfinished = self.store.unfinished_runs()
        for session, run in unfinished:
            log.info("resuming eval run %s (left %s by a stopped server)", run["id"], run["status"])
            self.store.delete_children("item", session, run["id"])
            run.update(status="queued", **Tally(_names(run)).wire())
            self.store.replace("run", session, run, status="queued")
            self.start(session, run["id"])
        return len(unfinished)

    async def close(self) -> None:
        tasks = [task for _, task in self._tasks.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- one run

    async def _execute(self, session: str | None, run_id: str) -> None:
        async with self._slots:
            context = self._context(session, run_id)
            if context is None:
                return
            try:
                await self._grade_all(context)
            except RunFailure as failure:
                self._finish(context, "failed", {"code": failure.code, "message": failure.message})
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug: the run fails with a clear error instead of hanging
                log.exception("eval run %s failed", run_id)
                self._finish(
                    context, "failed", {"code": "server_error", "message": f"{type(exc).__name__}: {exc}"}
                )
            finally:
                self._canceled.discard(run_id)

    def _context(self, session: str | None, run_id: str) -> RunContext | None:
        run = self.store.get("run", session, run_id)
        if run is None or run["status"] != "queued" or run_id in self._canceled:
            return None
        evaluation = self.store.get("eval", session, run["eval_id"])
        source = self.store.get("source", session, run_id)
        if evaluation is None or source is None:
            return None
        schema = evaluation["data_source_config"].get("schema", {})
        criteria = criteria_module.parse(evaluation["testing_criteria"])

        def models() -> ModelClient:  # the session's canned rules and seed, as its requests get them
            return self.emulation.model_client(RequestEmulationState(session, EmulationHeaders()))

        return RunContext(
            session,
            run,
            source["data_source"],
            criteria,
            [Grader.bound(criterion, self.runtime, models) for criterion in criteria],
            schema.get("properties", {}).get("item", {}),
            Tally(_names(run)),
        )

    async def _grade_all(self, context: RunContext) -> None:
        run = context.run
        run["status"] = "in_progress"
        if not self._write(context):
            return
        rows = self._rows(context)
        validator = rows_module.item_validator(context.item_schema)
        start, size = 0, FIRST_CHUNK_ROWS
        while start < len(rows):
            if run["id"] in self._canceled:
                break
            items = await self._chunk(context, rows[start : start + size], validator)
            self.store.put_many(
                "item", context.session, run["id"], [(item, item["status"]) for item in items]
            )
            if not self._write(context):
                return
            start, size = start + size, min(2 * size, MAX_CHUNK_ROWS)
        self._finish(context, "canceled" if run["id"] in self._canceled else "completed", None)

    def _write(self, context: RunContext) -> bool:
        """Store the run with its counts; False when it was deleted meanwhile (the task then stops)."""
        run = context.run
        if run["id"] in self._canceled and run["status"] not in TERMINAL:
            run["status"] = "canceled"
        run.update(context.tally.wire())
        return self.store.replace("run", context.session, run, status=run["status"])

    def _finish(self, context: RunContext, status: str, error: dict[str, str] | None) -> None:
        run = context.run
        if run["status"] != "canceled":
            run["status"] = status
        run["error"] = error if error is not None else no_error(self.profile)
        self._write(context)

    def _rows(self, context: RunContext) -> list[Row]:
        source = context.source["source"]
        if source["type"] == "file_content":
            return rows_module.from_content(source["content"])
        content = self.store.content(context.session, source["id"])
        if content is None:
            raise RunFailure("file_not_found", f"No such File object: {source['id']} (it was deleted).")
        return rows_module.from_jsonl(content)

    # --- one chunk of rows

    async def _chunk(self, context: RunContext, chunk: Sequence[Row], validator: Any) -> list[dict[str, Any]]:
        prepared = await asyncio.gather(*(self._prepare(context, row, validator) for row in chunk))
        graded = [one for one in prepared if one.error is None]
        # Criteria at once, each over every graded row of the chunk; then transposed to rows.
        per_criterion = await asyncio.gather(
            *(
                self._criterion(context, criterion, grader, graded)
                for criterion, grader in zip(context.criteria, context.graders, strict=True)
            )
        )
        judged_rows = iter(zip(*per_criterion, strict=True))
        items = []
        for one in prepared:
            judged: Sequence[Judged] = () if one.error is not None else next(judged_rows)
            if one.error is not None or any(j.errored for j in judged):
                status = "error"
            else:
                status = "pass" if all(j.passed for j in judged) else "fail"
            context.tally.add(status, judged)
            items.append(self._output(context, one, status=status, judged=judged))
        return items

    async def _prepare(self, context: RunContext, row: Row, validator: Any) -> Prepared:
        error = row.error or rows_module.mismatch(validator, row.item)
        reply: SampleReply | None = None
        prompt: list[dict[str, str]] = []
        if error is None and context.source["type"] == "completions":
            try:
                prompt = self._prompt(context.source, row.item)
            except (templating.MissingVariable, ValueError) as exc:
                error = f"input_messages: {exc}"
            else:
                reply = await self._sample(context, prompt, row.item)
                if reply.error is not None:
                    error = reply.error[1]
                context.tally.use(reply.model, reply.usage)
        sample = _sample_namespace(row, reply) if error is None else {}
        return Prepared(row, prompt, reply, error, sample)

    async def _criterion(
        self, context: RunContext, criterion: Criterion, grader: Grader, rows: Sequence[Prepared]
    ) -> list[Judged]:
        """One criterion on the chunk's graded rows, in their order."""
        graded: list[Graded | None] = [None] * len(rows)
        todo = []
        for index, one in enumerate(rows):
            if criterion.type in MODEL_GRADER_TYPES and not isinstance(one.sample.get("output_text"), str):
                graded[index] = Graded.failed("invalid_variable_error", NO_SAMPLE_TEXT)  # models quote it
            else:
                todo.append(index)
        results = await _grade_rows(grader, [(rows[i].sample, rows[i].row.item) for i in todo])
        for index, result in zip(todo, results, strict=True):
            graded[index] = result
        judged = []
        for outcome in graded:
            assert outcome is not None
            for model, tokens in outcome.usage.items():
                context.tally.use(model, tokens)
            judged.append(criteria_module.judge(criterion, outcome))
        return judged

    def _prompt(self, source: dict[str, Any], item: dict[str, Any]) -> list[dict[str, str]]:
        spec = source.get("input_messages") or {"type": "template", "template": []}
        namespaces = {"item": item}
        if spec["type"] == "item_reference":
            reference = str(spec["item_reference"])
            value = templating.render("{{" + reference + "}}", namespaces) if reference else "[]"
            messages = _trajectory(value, reference)
        else:
            messages = [EvalMessage.model_validate(m) for m in spec["template"]]
        return [
            {"role": m["role"], "content": _text(m["content"])} for m in render_messages(messages, namespaces)
        ]

    async def _sample(
        self, context: RunContext, prompt: list[dict[str, str]], item: dict[str, Any]
    ) -> SampleReply:
        params = context.source.get("sampling_params") or {}
        model = context.source.get("model") or ""
        async with context.sampling:
            return await self.sampler.sample(context.session, SampleRequest(model, prompt, params, item))

    def _output(
        self, context: RunContext, one: Prepared, *, status: str, judged: Sequence[Judged]
    ) -> dict[str, Any]:
        run, row = context.run, one.row
        return {
            "object": "eval.run.output_item",
            "id": new_id("outputitem_"),
            "run_id": run["id"],
            "eval_id": run["eval_id"],
            "created_at": now(),
            "status": status,
            "datasource_item_id": row.index,
            "datasource_item": row.item,
            "results": [one.wire for one in judged],
            "sample": self._sample_wire(context, row, one.prompt, one.reply, one.error),
        }

    def _sample_wire(
        self,
        context: RunContext,
        row: Row,
        prompt: list[dict[str, str]],
        reply: SampleReply | None,
        error: str | None,
    ) -> dict[str, Any]:
        params = {
            **SAMPLE_DEFAULTS,
            **{k: v for k, v in (context.source.get("sampling_params") or {}).items() if v is not None},
        }
        given = row.sample or {}
        if reply is not None:
            text, model, usage, finish = reply.text, reply.model, reply.usage, reply.finish_reason
        else:
            text = str(given["output_text"]) if isinstance(given.get("output_text"), str) else ""
            model, usage, finish = str(given.get("model") or ""), TokenUsage(), "stop"
        code = (reply.error[0] if reply is not None and reply.error else "invalid_item") if error else ""
        return {
            "input": prompt,
            "output": [{"role": "assistant", "content": text}] if text or reply is not None else [],
            "finish_reason": finish,
            "model": model,
            "usage": {
                "total_tokens": usage.total_tokens,
                "completion_tokens": usage.completion_tokens,
                "prompt_tokens": usage.prompt_tokens,
                "cached_tokens": usage.cached_tokens,
            },
            "error": {"code": code, "message": error} if error else no_error(self.profile),
            "temperature": float(params["temperature"]),
            "max_completion_tokens": int(params["max_completion_tokens"]),
            "top_p": float(params["top_p"]),
            "seed": int(params["seed"]),
        }


NO_SAMPLE_TEXT = (
    "Variable 'sample.output_text' could not be resolved: the row has no sample with an output_text "
    "(a jsonl run takes samples from its rows; a completions run draws them)"
)


async def _grade_rows(grader: Grader, rows: list[tuple[dict[str, Any], Any]]) -> list[Graded]:
    """The rows graded together; a failure is a flag on the items it hits, never the end of the run."""
    try:
        return [Graded.of(result) for result in await grader.agrade_many(rows)]
    except Exception:
        # A bug in grading: each row again on its own, so that only the rows it hits are flagged.
        return list(await asyncio.gather(*(_grade_alone(grader, sample, item) for sample, item in rows)))


async def _grade_alone(grader: Grader, sample: dict[str, Any], item: Any) -> Graded:
    try:
        return Graded.of(await grader.agrade(sample, item))
    except GraderError as exc:  # the row is over a request bound (its rendered size): its data, not a bug
        return Graded.failed("other_error", exc.message)
    except Exception as exc:  # reported on the item, logged with its traceback
        log.exception("grading criterion %r failed", grader.name)
        return Graded.failed("other_error", f"{type(exc).__name__}: {exc}")


def _names(run: dict[str, Any]) -> list[str]:
    return [entry["testing_criteria"] for entry in run.get("per_testing_criteria_results", [])]


def _sample_namespace(row: Row, reply: SampleReply | None) -> dict[str, Any]:
    """The `sample` namespace: the drawn sample, or the row's own (output_json added when it parses)."""
    if reply is not None:
        return {**templating.sample_namespace(reply.text), "model": reply.model}
    if row.sample is None:
        return {}
    sample = dict(row.sample)
    text = sample.get("output_text")
    if isinstance(text, str) and "output_json" not in sample:
        parsed = templating.sample_namespace(text)
        if "output_json" in parsed:
            sample["output_json"] = parsed["output_json"]
    return sample


def _text(content: Any) -> str:
    """A rendered message content as one text (the sample's `input` has string contents)."""
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else [content]
    return "".join(
        str(part.get("text", part.get("image_url", ""))) for part in parts if isinstance(part, dict)
    )


def _trajectory(value: str, reference: str) -> list[EvalMessage]:
    """The messages an `item_reference` points at; ValueError (an errored item) when they are not."""
    try:
        messages = orjson.loads(value)
    except orjson.JSONDecodeError:
        messages = None
    if not isinstance(messages, list):
        raise ValueError(f"'{reference}' is not a list of messages")
    return [EvalMessage.model_validate(m) for m in messages]
