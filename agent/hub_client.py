"""Talking to the hub over HTTP: send reports, long-poll commands. The transport is injected."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import TypeAdapter, ValidationError

from bounceback.api.agent_wire import AgentCommand, ReportAck

_COMMANDS = TypeAdapter(list[AgentCommand])


class HubUnavailable(Exception):
    """The hub could not be reached or failed (5xx): keep the events and try again later."""


class HubRefused(Exception):
    """The hub refused the request (4xx): retrying the same thing will not help."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"hub answered {status}: {message}")
        self.status = status


class HubClient:
    def __init__(
        self,
        base_url: str,
        agent_id: str,
        token: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.agent_id = agent_id
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "User-Agent": "bounceback-agent"},
            transport=transport,
            timeout=timeout,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _request(
        self, method: str, path: str, *, request_timeout: float | None = None, **kwargs: Any
    ) -> Any:
        try:
            response = await self._client.request(
                method, path, timeout=request_timeout or self._client.timeout, **kwargs
            )
        except httpx.TransportError as exc:
            raise HubUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500:
            raise HubUnavailable(f"hub answered {response.status_code}")
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            raise HubRefused(response.status_code, message)
        return response.json()

    async def send_report(self, report: dict[str, Any]) -> ReportAck:
        body = await self._request("POST", f"/api/agents/{self.agent_id}/reports", json=report)
        try:
            return ReportAck.model_validate(body)
        except ValidationError as exc:
            raise HubUnavailable(f"unexpected answer from the hub: {exc}") from exc

    async def poll_commands(self, wait: float) -> list[AgentCommand]:
        body = await self._request(
            "GET",
            f"/api/agents/{self.agent_id}/commands",
            params={"wait": int(wait)},
            request_timeout=wait + 10,
        )
        try:
            return _COMMANDS.validate_python(body.get("commands", []))
        except (ValidationError, AttributeError) as exc:
            raise HubUnavailable(f"unexpected answer from the hub: {exc}") from exc
