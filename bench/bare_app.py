"""The yardstick for bench/ingest.py: a bare Starlette app that reads the body and answers "ok"
(alerts and agent reports alike).

It is served exactly as the hub is: the uvicorn.Config comes from the hub's own
``uvicorn_config`` (same loop, HTTP implementation, lifespan, logging and header settings, one
worker), with only the application swapped for this one, and runs through the hub's ``serve``.

    .venv/bin/python bench/bare_app.py --port 4100

Not a benchmark of its own: `bench/ingest.py` (and its `--quick` run) starts it.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bounceback.api.logs import configure_logging
from bounceback.api.server import exit_cleanly_after_signals, serve, uvicorn_config
from bounceback.api.settings import HubSettings


async def ok(request: Request) -> Response:
    await request.body()
    return PlainTextResponse("ok")


app = Starlette(
    routes=[
        Route("/api/alerts", ok, methods=["POST"]),
        Route("/api/agents/{agent_id}/reports", ok, methods=["POST"]),
    ]
)


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the bare app like the hub is served.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bare-app-") as scratch:
        settings = HubSettings(
            bounceback_host=args.host,
            bounceback_port=args.port,
            bounceback_data_dir=Path(scratch),
            bounceback_access_log=False,
        )
        # What run_server does for the hub, with this app in the hub's uvicorn.Config.
        configure_logging(settings.bounceback_log_format.value, settings.bounceback_log_level)
        exit_cleanly_after_signals()
        config = uvicorn_config(settings)  # builds the hub's app too, which is never started
        config.app = app
        if not serve(config):
            raise SystemExit(3)


if __name__ == "__main__":
    main()
