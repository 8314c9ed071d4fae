"""The dashboard's routes, mounted after the API's."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from bounceback.api.dashboard import (
    audit_page,
    degradation_page,
    deployments_page,
    health_page,
    incidents,
    live,
    overview,
    recovery_page,
    signin,
    status_page,
)

STATIC = Path(__file__).parent / "static"

routes: list[BaseRoute] = [
    *signin.routes,
    *live.routes,
    *overview.routes,
    *incidents.routes,
    *audit_page.routes,
    *status_page.routes,
    *recovery_page.routes,
    *health_page.routes,
    *deployments_page.routes,
    *degradation_page.routes,
    Mount("/static", app=StaticFiles(directory=STATIC, follow_symlink=True), name="static"),
]
