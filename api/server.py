"""Running the hub under uvicorn, with our logging and graceful shutdown."""

from __future__ import annotations

import gc
import signal
import socket
from types import FrameType

import uvicorn

from bounceback.api.app import create_app
from bounceback.api.logs import configure_logging
from bounceback.api.settings import HubSettings

# How long SIGTERM waits for in-flight requests before closing connections.
GRACEFUL_SHUTDOWN_S = 20


def uvicorn_config(settings: HubSettings) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(settings),
        host=settings.bounceback_host,
        port=settings.bounceback_port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        server_header=False,
    )


def exit_cleanly_after_signals() -> None:
    """uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to the
    handler that was there before it; make that handler a clean exit rather than death by
    signal or a KeyboardInterrupt traceback."""

    def leave(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGINT, leave)


# A request makes and drops a few hundred objects, nearly all freed at once by reference counting;
# with the default threshold (700) the cyclic collector ran every request or two all the same,
# walking every request in flight each time: several per cent of the CPU under load.
GC_THRESHOLDS = (10_000, 10, 10)


class HubServer(uvicorn.Server):
    """uvicorn, ending the dashboards' server-sent event streams as soon as shutdown starts:
    otherwise a graceful shutdown would wait for every open page to go away."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        state = getattr(self.config.app, "state", None)
        hub = getattr(state, "hub", None)
        if hub is not None:
            hub.changes.close()
        await super().shutdown(sockets)


def serve(config: uvicorn.Config) -> bool:
    """Run uvicorn until it is signalled to stop; whether it started at all."""
    # Everything imported and built so far lives as long as the process: out of the collector's
    # way, which would otherwise walk all of it again at each full collection.
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    server = HubServer(config)
    server.run()
    return server.started


def run_server(settings: HubSettings) -> None:
    configure_logging(settings.bounceback_log_format.value, settings.bounceback_log_level)
    exit_cleanly_after_signals()
    if not serve(uvicorn_config(settings)):
        raise SystemExit(3)
