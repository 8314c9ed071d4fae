"""Signing in to a running hub's dashboard from httpx, as a browser would."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from bounceback.api.auth.roles import Role
from bounceback.api.testing import RunningHub

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@asynccontextmanager
async def signed_in(hub: RunningHub, role: Role) -> AsyncIterator[httpx.AsyncClient]:
    """A client holding a session of ``role``."""
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as client:
        response = await client.post("/login", data={"token": hub.tokens[role], "next": "/"})
        assert response.status_code == 303, response.text
        yield client


async def csrf_of(client: httpx.AsyncClient, path: str = "/") -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found, "the page has no CSRF field"
    return found.group(1)
