"""The hub's deployment endpoints over httpx, with bounded retries and token-free errors.

Server errors (5xx), 429 and transport failures are retried with exponential backoff; when they
persist the error is ``unreachable`` and the guard exits 3 (or fails open when asked). Other
answers are the hub's verdict on the request and are not retried. Messages name the URL, the
method and the status, and carry the hub's ``{"error": {"message": …}}`` — never a token.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from bounceback.api.deployment_wire import (
    DeployedRequest,
    Deployment,
    DeploymentDetail,
    FinishRequest,
    GateRequest,
    GateResult,
    RollbackRequest,
    TrackRequest,
)
from bounceback.guard.credentials import Credential

__all__ = ["DEPLOYMENT_PREFIX", "HubClient", "HubError"]

DEPLOYMENT_PREFIX = "/api/auto-recovery/deployment"
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

M = TypeVar("M", bound=BaseModel)


class HubError(Exception):
    """A hub call failed. ``unreachable``: no usable answer (network, 5xx, timeout)."""

    def __init__(self, message: str, *, status: int | None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code

    @property
    def unreachable(self) -> bool:
        return self.status is None or self.status >= 500 or self.status == 429


class HubClient:
    def __init__(
        self,
        hub_url: str,
        credential: Credential,
        *,
        timeout: float = 30.0,
        attempts: int = 4,
        backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.hub_url = hub_url.rstrip("/")
        self._credential = credential
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._sleep = sleep
        self._client = httpx.Client(
            base_url=self.hub_url + DEPLOYMENT_PREFIX,
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "bounceback-guard"},
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- endpoints -----------------------------------------------------------------------------

    def gate(self, request: GateRequest) -> GateResult:
        return self._call("POST", "/gate", GateResult, request)

    def track(self, request: TrackRequest) -> Deployment:
        return self._call("POST", "/track", Deployment, request)

    def get(self, deployment_id: int) -> DeploymentDetail:
        return self._call("GET", f"/{deployment_id}", DeploymentDetail)

    def deployed(self, deployment_id: int, request: DeployedRequest) -> Deployment:
        return self._call("POST", f"/{deployment_id}/deployed", Deployment, request)

    def finish(self, deployment_id: int, request: FinishRequest) -> Deployment:
        return self._call("POST", f"/{deployment_id}/finish", Deployment, request)

    def rollback(self, target: str, request: RollbackRequest) -> Deployment:
        return self._call("POST", f"/{target}/rollback", Deployment, request)

    # -- plumbing ------------------------------------------------------------------------------

    def _call(self, method: str, path: str, answer: type[M], body: BaseModel | None = None) -> M:
        url = self.hub_url + DEPLOYMENT_PREFIX + path
        what = f"{method} {url}"
        payload = None if body is None else body.model_dump(mode="json")
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._client.request(
                    method,
                    path,
                    json=payload,
                    headers={"Authorization": f"Bearer {self._credential.token()}"},
                )
            except httpx.TransportError as exc:
                error = HubError(
                    f"the hub at {self.hub_url} is unreachable: {what} failed "
                    f"({type(exc).__name__})",
                    status=None,
                )
            else:
                if response.status_code == 401 and not refreshed and self._credential.refresh():
                    refreshed = True
                    attempt -= 1
                    continue
                if response.is_success:
                    return self._parse(what, answer, response)
                error = self._error(what, response)
            if error.status is not None and error.status not in _RETRY_STATUSES:
                raise error
            if attempt >= self._attempts:
                raise error
            self._sleep(self._backoff * 2 ** (attempt - 1))

    @staticmethod
    def _parse(what: str, answer: type[M], response: httpx.Response) -> M:
        try:
            return answer.model_validate(response.json())
        except (ValueError, ValidationError) as exc:
            raise HubError(
                f"{what} answered {response.status_code} with a body the guard does not "
                f"understand ({type(exc).__name__}); are the hub and the guard the same version?",
                status=response.status_code,
                code="bad_response",
            ) from None

    @staticmethod
    def _error(what: str, response: httpx.Response) -> HubError:
        code: str | None = None
        detail = ""
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            code = body["error"].get("code")
            detail = str(body["error"].get("message") or "")
        hint = {
            401: "check --hub-token / BOUNCEBACK_HUB_TOKEN, or the OIDC trust set up for this "
            "repository",
            403: "the credential is valid but may not act on this target",
        }.get(response.status_code, "")
        message = f"{what} answered {response.status_code}"
        message += f": {detail}" if detail else ""
        message += f" — {hint}" if hint else ""
        return HubError(message, status=response.status_code, code=code)
