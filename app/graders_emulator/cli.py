"""The `graders-emulator` command: serve, grade (a JSONL dataset), validate and run (one sample)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from graders_emulator import __version__
from graders_emulator.batch import cli as batch_cli
from graders_emulator.recording import cli as recording_cli
from graders_emulator.settings import Settings


def _serve_parser(sub: Any) -> None:
    serve = sub.add_parser("serve", help="start the HTTP server (settings also from GRADERS_EMULATOR_*)")
    serve.add_argument("--host", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8000; 0 picks a free one)")
    serve.add_argument("--config", help="YAML file of canned answers, faults and defaults")
    serve.add_argument("--profile", dest="response_profile", choices=["real", "spec"], help="response shape")
    serve.add_argument("--workers", dest="python_workers", type=int, help="python sandbox pool size")
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    serve.add_argument("--log-json", action="store_true", default=None, help="JSON log lines")
    serve.add_argument(
        "--no-auth", dest="auth", action="store_false", default=None, help="accept requests without a key"
    )
    serve.add_argument("--seed", type=int, help="seed for generated names and default model answers")
    serve.add_argument("--data-dir", help="keep evals, runs and files in DIR/evals.sqlite3 (default: memory)")
    recording_cli.add_serve_arguments(serve)


def _reward_server_parser(sub: Any) -> None:
    server = sub.add_parser(
        "reward-server", help="serve one grader as OpenRLHF's remote reward model (POST /get_reward)"
    )
    server.add_argument("--grader", required=True, help="JSON file of the grader")
    server.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    server.add_argument("--port", type=int, default=5000, help="port (default 5000; 0 picks a free one)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graders-emulator", description="A local emulator of OpenAI's graders API."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    _reward_server_parser(sub)
    batch_cli.add_parsers(sub)
    recording_cli.add_parity_parser(sub)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """Environment first, then the flags that were given."""
    skip = {"command", "handler"}
    overrides = {k: v for k, v in vars(args).items() if v is not None and k not in skip}
    return Settings(**overrides)


def serve(settings: Settings) -> int:
    import uvicorn

    from graders_emulator.http.serving import uvicorn_config
    from graders_emulator.logs import configure_logging
    from graders_emulator.main import create_app
    from graders_emulator.testing import bind_socket

    if (problem := recording_cli.serve_problem(settings)) is not None:
        print(f"graders-emulator serve: {problem}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_json)
    sock = bind_socket(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"graders-emulator {__version__} listening on http://{shown}:{port}/v1", flush=True)
    config = uvicorn_config(create_app(settings), settings)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(settings_from(args))
    if args.command == "reward-server":
        from graders_emulator.rewards.openrlhf_server import serve as serve_rewards

        return serve_rewards(args.grader, args.host, args.port)
    if args.command == "parity":
        return recording_cli.parity(args)
    return batch_cli.dispatch(args)


if __name__ == "__main__":
    sys.exit(main())
