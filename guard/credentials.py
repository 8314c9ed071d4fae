"""The guard's credential for the hub: a guard token, or a GitHub Actions OIDC ID token.

With ``permissions: id-token: write`` the runner sets ``ACTIONS_ID_TOKEN_REQUEST_URL`` and
``ACTIONS_ID_TOKEN_REQUEST_TOKEN``; ``GET <url>&audience=<hub URL>`` with that bearer answers
``{"value": "<jwt>"}``. The hub checks the audience against its own public URL, so the audience is
the hub URL unless told otherwise. ID tokens are short-lived: the guard fetches a fresh one when
the last is a few minutes old or the hub answers 401.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol
from urllib.parse import urlencode

import httpx

__all__ = ["Credential", "CredentialError", "OidcCredential", "StaticToken"]

# GitHub's ID tokens live for minutes; refresh well before that.
_OIDC_MAX_AGE = 240.0


class CredentialError(Exception):
    """No credential could be had; the message says which setting to fix."""


class Credential(Protocol):
    def token(self) -> str: ...

    def refresh(self) -> bool:
        """Get a new token after a 401; False when this credential cannot change."""
        ...


class StaticToken:
    def __init__(self, secret: str) -> None:
        self._secret = secret

    def token(self) -> str:
        return self._secret

    def refresh(self) -> bool:
        return False


class OidcCredential:
    def __init__(
        self,
        request_url: str,
        request_token: str,
        audience: str,
        *,
        on_token: Callable[[str], None] = lambda _token: None,
        transport: httpx.BaseTransport | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        timeout: float = 15.0,
    ) -> None:
        self._request_url = request_url
        self._request_token = request_token
        self.audience = audience
        self._on_token = on_token
        self._transport = transport
        self._monotonic = monotonic
        self._timeout = timeout
        self._current: str | None = None
        self._fetched_at = 0.0

    def token(self) -> str:
        if self._current is None or self._monotonic() - self._fetched_at > _OIDC_MAX_AGE:
            self._fetch()
        assert self._current is not None
        return self._current

    def refresh(self) -> bool:
        self._fetch()
        return True

    def _fetch(self) -> None:
        separator = "&" if "?" in self._request_url else "?"
        url = self._request_url + separator + urlencode({"audience": self.audience})
        headers = {"Authorization": f"bearer {self._request_token}", "Accept": "application/json"}
        where = "the Actions ID token service (ACTIONS_ID_TOKEN_REQUEST_URL)"
        try:
            with httpx.Client(transport=self._transport, timeout=self._timeout) as client:
                response = client.get(url, headers=headers)
        except httpx.HTTPError as exc:
            raise CredentialError(f"{where} is unreachable ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise CredentialError(
                f"{where} answered {response.status_code}; does the job have "
                "`permissions: id-token: write`?"
            )
        try:
            value = response.json().get("value")
        except (ValueError, AttributeError):
            value = None
        if not isinstance(value, str) or not value:
            raise CredentialError(f"{where} answered without a token")
        self._on_token(value)
        self._current = value
        self._fetched_at = self._monotonic()
