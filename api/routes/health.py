"""``/healthz`` (the process answers) and ``/readyz`` (store reachable, loops alive). Public."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bounceback.api.auth.guard import public
from bounceback.api.context import Hub


@public
async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


@public
async def readyz(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    checks: dict[str, str] = {}
    try:
        await hub.db.ping()
        checks["store"] = "ok"
    except Exception as exc:
        checks["store"] = f"unreachable: {type(exc).__name__}"
    checks["intake"] = "ok" if hub.ingest.alive else "stopped"
    checks["scheduler"] = "ok" if hub.scheduler.alive else "stopped"
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks},
        status_code=200 if ready else 503,
    )


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
