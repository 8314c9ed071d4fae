"""The issuer's signing keys: fetched over HTTP, cached, refetched when a token names a key we
have not seen (GitHub rotates keys) — but never more often than ``min_refetch_interval``, so a
flood of tokens with made-up ``kid`` values cannot turn the hub into a JWKS hammer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import jwt

log = logging.getLogger(__name__)

MAX_DOCUMENT_BYTES = 1 << 20


class JwksUnavailable(Exception):
    """The keys could not be fetched and none are cached: tokens cannot be checked right now."""


class JwksCache:
    """RS256 public keys by ``kid``, loaded from ``jwks_url`` (or from the ``jwks_uri`` of
    ``discovery_url``, an OpenID configuration document whose ``issuer`` must equal ``issuer``).

    ``seconds`` is the clock (epoch seconds) used for the TTL and the refetch rate limit.
    """

    def __init__(
        self,
        *,
        seconds: Callable[[], float],
        jwks_url: str | None = None,
        discovery_url: str | None = None,
        issuer: str | None = None,
        ttl: float = 3600.0,
        min_refetch_interval: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        if (jwks_url is None) == (discovery_url is None):
            raise ValueError("pass exactly one of jwks_url and discovery_url")
        self._seconds = seconds
        self._jwks_url = jwks_url
        self._discovery_url = discovery_url
        self._issuer = issuer
        self._ttl = ttl
        self._min_refetch_interval = min_refetch_interval
        self._transport = transport
        self._timeout = timeout
        self._keys: dict[str, jwt.PyJWK] | None = None
        self._loaded_at = float("-inf")
        self._refetched_at = float("-inf")  # the last refetch caused by an unknown kid
        self._failed_at = float("-inf")
        # Concurrent requests that all miss wait for one fetch instead of starting one each.
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The key named ``kid``, or None when the issuer does not publish it (after at most one
        rate-limited refetch). Raises :class:`JwksUnavailable` when nothing usable is cached and
        the issuer cannot be reached."""
        async with self._lock:
            now = self._seconds()
            if self._keys is None or now - self._loaded_at >= self._ttl:
                await self._refresh(now)
            assert self._keys is not None
            if kid not in self._keys and now - self._refetched_at >= self._min_refetch_interval:
                self._refetched_at = now
                await self._refresh(now)
            return self._keys.get(kid)

    async def _refresh(self, now: float) -> None:
        # After a failure, wait before asking again: a struggling issuer gets no retry storm.
        if now - self._failed_at < self._min_refetch_interval:
            if self._keys is None:
                raise JwksUnavailable("the signing keys could not be fetched; retrying shortly")
            return
        try:
            keys = await self._fetch()
        except (httpx.HTTPError, ValueError) as exc:
            self._failed_at = now
            if self._keys is None:
                raise JwksUnavailable(f"the signing keys could not be fetched: {exc}") from exc
            # Keys GitHub published an hour ago still verify most tokens: keep serving them.
            log.warning("JWKS refresh failed, keeping %d cached keys: %s", len(self._keys), exc)
            return
        self._keys = keys
        self._loaded_at = now

    async def _fetch(self) -> dict[str, jwt.PyJWK]:
        async with httpx.AsyncClient(transport=self._transport, timeout=self._timeout) as client:
            jwks_url = self._jwks_url or await self._discover(client)
            document = await _get_json(client, jwks_url)
        raw_keys = document.get("keys")
        if not isinstance(raw_keys, list):
            raise ValueError(f"{jwks_url} has no 'keys' list")
        keys = {}
        for raw in raw_keys:
            parsed = _rs256_key(raw)
            if parsed is not None:
                keys[parsed[0]] = parsed[1]
        if not keys:
            raise ValueError(f"{jwks_url} publishes no RS256 signing key with a kid")
        return keys

    async def _discover(self, client: httpx.AsyncClient) -> str:
        assert self._discovery_url is not None
        config = await _get_json(client, self._discovery_url)
        if self._issuer is not None and config.get("issuer") != self._issuer:
            raise ValueError(f"{self._discovery_url} is for another issuer")
        jwks_uri = config.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise ValueError(f"{self._discovery_url} has no jwks_uri")
        return jwks_uri


async def _get_json(client: httpx.AsyncClient, url: str) -> Mapping[str, Any]:
    response = await client.get(url, headers={"Accept": "application/json"})
    response.raise_for_status()
    if len(response.content) > MAX_DOCUMENT_BYTES:
        raise ValueError(f"{url} is larger than {MAX_DOCUMENT_BYTES} bytes")
    document = response.json()
    if not isinstance(document, dict):
        raise ValueError(f"{url} is not a JSON object")
    return document


def _rs256_key(raw: object) -> tuple[str, jwt.PyJWK] | None:
    """``(kid, key)`` for an RSA signing key usable with RS256; None for anything else, so one
    odd entry (an encryption key, another algorithm) does not hide the rest."""
    if not isinstance(raw, dict):
        return None
    kid = raw.get("kid")
    if not isinstance(kid, str) or not kid or raw.get("kty") != "RSA":
        return None
    if raw.get("use", "sig") != "sig" or raw.get("alg", "RS256") != "RS256":
        return None
    try:
        return kid, jwt.PyJWK(raw, algorithm="RS256")
    except jwt.PyJWTError:
        return None
