"""The agent's HTTP transport: TLS is set up on the first ``https://`` request, not at start-up.

Building an httpx client loads the CA bundle into an OpenSSL context straight away, which costs
about 2 MB of resident memory per client. Most hosts probe plain ``http://`` health endpoints on
loopback, and the agent runs for months, so the context is built only when a request needs it,
and the hub client and the probes share one (the bundle is loaded once, not once per client).
Certificate checking is httpx's own: ``httpx.create_ssl_context()``, which honours
``SSL_CERT_FILE`` and ``SSL_CERT_DIR`` as a default ``AsyncClient`` does.
"""

from __future__ import annotations

import ssl

import httpx


class SharedTls:
    """One verifying TLS context for every client of the agent, made on first use."""

    def __init__(self) -> None:
        self._context: ssl.SSLContext | None = None

    @property
    def loaded(self) -> bool:
        return self._context is not None

    def context(self) -> ssl.SSLContext:
        if self._context is None:
            self._context = httpx.create_ssl_context()
        return self._context


class LazyTlsTransport(httpx.AsyncBaseTransport):
    """``httpx.AsyncHTTPTransport`` with default settings, one pool per scheme, each made on the
    first request of its scheme; ``https`` verifies certificates with ``tls``'s context."""

    def __init__(self, tls: SharedTls) -> None:
        self._tls = tls
        self._pools: dict[str, httpx.AsyncHTTPTransport] = {}

    def _pool(self, scheme: str) -> httpx.AsyncHTTPTransport:
        pool = self._pools.get(scheme)
        if pool is None:
            # A plain-HTTP pool never starts TLS, so it needs no CA bundle; an http:// URL
            # cannot reach this pool's connections for an https:// one (pools are per scheme).
            verify: ssl.SSLContext | bool = self._tls.context() if scheme == "https" else False
            pool = self._pools[scheme] = httpx.AsyncHTTPTransport(verify=verify)
        return pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._pool(request.url.scheme).handle_async_request(request)

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()
        self._pools.clear()
