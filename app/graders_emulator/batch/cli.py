"""The offline subcommands `grade`, `validate` and `run`: parsers and handlers (parsed by
graders_emulator.service, graded through the library face).

Exit codes: 0 success; 1 the grader is invalid (its 400 envelope is printed) or, for `grade`, some
dataset lines were bad (graded lines are still written); 2 a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from graders_emulator import service
from graders_emulator.batch.engine import BatchOptions, run_batch
from graders_emulator.batch.grading import LineResult
from graders_emulator.batch.input import LineSource
from graders_emulator.batch.report import render_text
from graders_emulator.batch.worker import build_grader
from graders_emulator.errors import ApiError
from graders_emulator.settings import Settings

USAGE_ERROR = 2


def add_parsers(sub: Any) -> None:
    _grade_parser(sub)
    validate = sub.add_parser("validate", help="validate a grader file: print it normalised, or its 400")
    validate.add_argument("grader", help="JSON file of a grader (or of a {grader} body); - reads stdin")
    _common(validate)
    run = sub.add_parser("run", help="grade one sample and print the run response")
    run.add_argument("grader", help="JSON file of a grader (or of a {grader} body); - reads stdin")
    run.add_argument("--sample", required=True, help="the model sample (model_sample) text")
    run.add_argument("--item", help="the item as JSON text, or @FILE to read it from a file")
    _common(run)


def _grade_parser(sub: Any) -> None:
    grade = sub.add_parser(
        "grade",
        help="grade a JSONL dataset on every core and summarise the rewards",
        description="Each line is {model_sample, item?, grader?}; with --sample-field, a row of an "
        "OpenAI RFT dataset (the row is the item, the sample is row[FIELD]).",
    )
    grade.add_argument("--grader", help="JSON file of the grader (a line's own `grader` wins)")
    grade.add_argument("--data", required=True, type=Path, help="JSONL dataset")
    grade.add_argument("--out", help="write one result line per input line here (- for stdout)")
    grade.add_argument("--format", choices=["text", "json"], default="text", help="summary format")
    grade.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes (default: all cores)")
    grade.add_argument("--sample-field", help="RFT dataset rows: the field that holds the sample")
    grade.add_argument("--slowest", type=int, default=5, help="how many slowest lines to list")
    grade.add_argument("--quiet", action="store_true", help="no progress bar")
    grade.add_argument("--engine", choices=["local", "ray"], default="local", help="ray: grade on Ray actors")
    grade.add_argument("--address", help="with --engine ray: the cluster to join (default: a local one)")
    _common(grade)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML file of canned model answers and defaults")
    parser.add_argument("--profile", dest="response_profile", choices=["real", "spec"], help="response shape")
    parser.add_argument("--seed", type=int, help="seed for generated names and default model answers")
    parser.add_argument(
        "--strict",
        dest="strict_graders",
        action="store_true",
        default=None,
        help="reject unknown keys inside graders (a 400 naming the key); by default they are ignored, as by the API",
    )


def dispatch(args: argparse.Namespace) -> int:
    handlers = {"grade": grade, "validate": validate, "run": run}
    try:
        return handlers[args.command](args)
    except (OSError, ValueError) as exc:  # unreadable files, bad --item JSON, a bad config file
        print(f"graders-emulator {args.command}: {exc}", file=sys.stderr)
        return USAGE_ERROR


def _settings(args: argparse.Namespace) -> Settings:
    keys = ("config", "response_profile", "seed", "strict_graders")
    given = {key: getattr(args, key) for key in keys if getattr(args, key, None) is not None}
    # The sandbox's python workers start only when a python grader runs.
    return Settings(**given)


def _read_json(path: str) -> Any:
    raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from None


def _grader_of(document: Any) -> Any:
    """A grader file holds a grader, or a request body with one (what the API's examples show)."""
    if isinstance(document, dict) and "grader" in document and "type" not in document:
        return document["grader"]
    return document


def _print(body: bytes | dict[str, Any]) -> None:
    data = orjson.loads(body) if isinstance(body, bytes) else body
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def validate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    runtime = build_grader(settings, LineSource(), keep_bodies=False).runtime
    try:
        request = service.parse_validate({"grader": _grader_of(_read_json(args.grader))}, runtime)
    except ApiError as exc:
        _print(exc.envelope())
        return 1
    _print(service.validate(request, runtime))
    return 0


def run(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"grader": _grader_of(_read_json(args.grader)), "model_sample": args.sample}
    if args.item is not None:
        body["item"] = _read_json(args.item[1:]) if args.item.startswith("@") else _json_text(args.item)
    return asyncio.run(_run_one(_settings(args), body))


def _json_text(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"--item is not JSON: {exc}") from None


async def _run_one(settings: Settings, body: dict[str, Any]) -> int:
    from graders_emulator.runtime import build_sandbox

    sandbox = build_sandbox(settings.model_copy(update={"python_workers": 1}))
    grader = build_grader(settings, LineSource(), keep_bodies=True, sandbox=sandbox)
    try:
        prepared = grader.prepare_body(1, body)
        result = prepared if isinstance(prepared, LineResult) else (await grader.grade_group([prepared]))[0]
    finally:
        await sandbox.close()
    assert result.body is not None  # the run response, or the 400 envelope of a bad body
    _print(result.body)
    return 1 if result.bad else 0


def grade(args: argparse.Namespace) -> int:
    settings = _settings(args)
    default_grader = None
    if args.grader is not None:
        default_grader = _grader_of(_read_json(args.grader))
        runtime = build_grader(settings, LineSource(), keep_bodies=False).runtime
        try:  # an invalid grader would fail every line: say so once, before grading anything
            service.parse_validate({"grader": default_grader}, runtime)
        except ApiError as exc:
            _print(exc.envelope())
            return 1
    if args.jobs < 1:
        raise ValueError("--jobs must be at least 1")
    to_stdout = args.out == "-"
    out: BinaryIO | None = None
    try:
        if args.out is not None:
            out = sys.stdout.buffer if to_stdout else open(args.out, "wb")  # noqa: SIM115
        options = BatchOptions(
            data=args.data,
            source=LineSource(default_grader, args.sample_field),
            settings=settings,
            jobs=args.jobs,
            out=out,
            progress=not args.quiet and sys.stderr.isatty(),
            slowest=args.slowest,
            engine=args.engine,
            address=args.address,
        )
        summary = run_batch(options).as_json()
    finally:
        if out is not None and not to_stdout:
            out.close()
    report = sys.stderr if to_stdout else sys.stdout
    if args.format == "json":
        report.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        report.write(render_text(summary) + "\n")
    return 1 if summary["bad_lines"] else 0
