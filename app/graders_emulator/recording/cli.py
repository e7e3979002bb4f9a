"""The CLI face of recording: `serve --upstream/--record/--replay` flags and the `parity` command."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from graders_emulator.settings import Settings


def add_serve_arguments(serve: Any) -> None:
    serve.add_argument("--upstream", dest="upstream_url", help="forward run/validate to this API base URL")
    serve.add_argument("--record", dest="record_dir", help="write a cassette per upstream answer into DIR")
    serve.add_argument(
        "--replay", dest="replay_dir", help="answer recorded requests from the cassettes in DIR"
    )
    serve.add_argument(
        "--replay-only",
        dest="replay_only",
        action="store_true",
        default=None,
        help="answer unrecorded requests with a 404 naming the missing cassette",
    )


def serve_problem(settings: Settings) -> str | None:
    if not (settings.upstream_url or settings.replay_dir or settings.record_dir or settings.replay_only):
        return None
    from graders_emulator.recording.configure import settings_problem

    return settings_problem(settings)


def add_parity_parser(sub: Any) -> None:
    parity = sub.add_parser(
        "parity",
        help="grade recorded requests locally and compare with the recording; write or send the starter suite",
    )
    parity.add_argument("directory", nargs="?", help="cassette directory to check")
    parity.add_argument("--format", choices=["table", "json"], default="table")
    parity.add_argument("--tolerance", type=float, default=1e-9, help="allowed float difference")
    parity.add_argument("--config", help="YAML file of canned answers, faults and defaults")
    parity.add_argument("--profile", dest="response_profile", choices=["real", "spec"])
    parity.add_argument("--seed", type=int)
    parity.add_argument("--write-suite", metavar="DIR", help="write the starter suite of requests into DIR")
    parity.add_argument(
        "--send-suite", metavar="DIR", help="send the suite in DIR to --to (a recording server)"
    )
    parity.add_argument(
        "--to", metavar="URL", help="base URL the suite is sent to, e.g. http://127.0.0.1:8000/v1"
    )
    parity.add_argument(
        "--api-key-env",
        default="OPENAI_API_KEY",
        help="variable holding the key --send-suite sends (default %(default)s)",
    )


def parity(args: argparse.Namespace) -> int:
    """Exit 0 when everything agrees, 1 on any difference, 2 on a usage error."""
    try:
        if args.write_suite:
            from graders_emulator.recording.suite import write_suite

            written = write_suite(Path(args.write_suite))
            print(f"wrote {len(written)} requests to {args.write_suite}")
            return 0
        if args.send_suite:
            return _send(args)
        if not args.directory:
            print(
                "graders-emulator parity: give a cassette DIR (or --write-suite / --send-suite)",
                file=sys.stderr,
            )
            return 2
        return _check(args)
    except (OSError, ValueError) as exc:
        print(f"graders-emulator parity: {exc}", file=sys.stderr)
        return 2


def _check(args: argparse.Namespace) -> int:
    from graders_emulator.recording.parity import run_parity

    directory = Path(args.directory)
    if not directory.is_dir():
        raise ValueError(f"{directory} is not a directory")
    keys = ("config", "response_profile", "seed")
    settings = Settings(**{k: getattr(args, k) for k in keys if getattr(args, k) is not None})
    report = asyncio.run(run_parity(directory, settings, args.tolerance))
    print(report.json_text() if args.format == "json" else report.table())
    return 0 if report.ok else 1


def _send(args: argparse.Namespace) -> int:
    import os

    from graders_emulator.recording.suite import send_suite

    if not args.to:
        raise ValueError("--send-suite needs --to URL (the recording server's base URL)")
    key = os.environ.get(args.api_key_env)
    if not key:
        raise ValueError(f"set {args.api_key_env} to the key the requests are sent with")
    for line in send_suite(Path(args.send_suite), args.to, key):
        print(line, flush=True)
    return 0
