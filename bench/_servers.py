"""Servers the HTTP benchmark starts, each with the same uvicorn settings (one process, one core)."""

from __future__ import annotations

import argparse
import os

import uvicorn
from fastapi import FastAPI, Request
from starlette.responses import Response

UVICORN = {
    "loop": "uvloop",
    "http": "httptools",
    "access_log": False,
    "log_level": "warning",
    "lifespan": "on",
}


def bare_app(size: int) -> FastAPI:
    """The ceiling of this stack: read the body, answer constant pre-serialised bytes of a given size."""
    app = FastAPI()
    payload = (b'{"reward":1.0,"pad":"' + b"x" * max(0, size - 24) + b'"}')[: max(size, 24)]

    @app.post("/v1/fine_tuning/alpha/graders/run")
    async def run(request: Request) -> Response:
        await request.body()
        return Response(payload, media_type="application/json")

    @app.get("/readyz")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["bare", "emulator"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--size", type=int, default=900)
    args = parser.parse_args()
    if args.kind == "bare":
        app = bare_app(args.size)
    else:
        from graders_emulator.main import create_app
        from graders_emulator.serving import uvicorn_config
        from graders_emulator.settings import Settings

        settings = Settings(journal_size=int(os.environ.get("BENCH_JOURNAL", "1000")))
        # The emulator as `serve` runs it: its bounded httptools protocol (heads, timeouts, connections).
        options = {key: value for key, value in UVICORN.items() if key != "http"}
        config = uvicorn_config(create_app(settings), settings, host="127.0.0.1", port=args.port, **options)
        uvicorn.Server(config).run()
        return
    uvicorn.run(app, host="127.0.0.1", port=args.port, **UVICORN)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
