"""Failed authentications, limited per client address and per presented credential.

After ``limit`` failed authentications within ``window`` seconds from one client address (or
with one credential, from anywhere), that client's requests to guarded routes get 429 with
Retry-After before their credential is even looked at, until the oldest of those failures is
``window`` seconds old. A failure is a credential that was *presented* and refused (401: an
unknown or revoked token or key, a malformed Authorization header, an invalid OIDC token); a
request without credentials guesses nothing and is not counted, nor is a 403 (a valid
credential with too weak a role). Successes are never counted.

The address is the ASGI scope's client: behind a reverse proxy, uvicorn's proxy headers
support (on by default for proxies listed in FORWARDED_ALLOW_IPS, 127.0.0.1 unless set) puts the
X-Forwarded-For address there. The counts live in each replica's memory: N replicas behind a
load balancer allow up to N times the limit, and a restart forgets them.

The decision is pure (:func:`decide`, :func:`remember`); :class:`FailureLimiter` keeps the
state with an injected clock. :func:`limited` is what a path that raises 401 wraps around its
credential check (the token guards, intake, the deployment guard's OIDC path); a page that
renders its own refusal (the dashboard's sign-in form) calls :func:`check` before looking at
the credential and :func:`failed` when it refuses it.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from starlette.requests import Request

from bounceback.api.errors import ApiError, TooManyRequests

log = logging.getLogger("bounceback.auth")
T = TypeVar("T")

# Beyond this many remembered clients the least recently failing ones are forgotten, so a flood
# from many addresses costs bounded memory.
MAX_KEYS = 20_000


@dataclass(frozen=True)
class FailurePolicy:
    limit: int  # failures allowed within the window; 0 turns limiting off
    window: float  # seconds


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0  # whole seconds (at least 1) when refused


_ALLOWED = Verdict(allowed=True)


def decide(failures: Sequence[float], now: float, policy: FailurePolicy) -> Verdict:
    """Whether a client whose failures happened at ``failures`` (seconds, oldest first) may try."""
    recent = [at for at in failures if at > now - policy.window]
    if policy.limit <= 0 or len(recent) < policy.limit:
        return Verdict(allowed=True)
    freed_at = recent[-policy.limit] + policy.window
    return Verdict(allowed=False, retry_after=max(1, math.ceil(freed_at - now)))


def remember(failures: tuple[float, ...], now: float, policy: FailurePolicy) -> tuple[float, ...]:
    """The failures to keep after one more at ``now``: the last ``limit`` within the window."""
    recent = tuple(at for at in failures if at > now - policy.window)
    return (*recent, now)[-max(policy.limit, 1) :]


def client_keys(request: Request, credential: str | None) -> tuple[str, ...]:
    """What failures are counted against: the client address, and the presented credential
    (as a short digest: the credential itself is never kept)."""
    client = request.scope.get("client")
    keys = [f"address:{client[0] if client else 'unknown'}"]
    if credential:
        keys.append("credential:" + hashlib.sha256(credential.encode()).hexdigest()[:16])
    return tuple(keys)


class FailureLimiter:
    def __init__(
        self, policy: FailurePolicy, now: Callable[[], datetime], max_keys: int = MAX_KEYS
    ) -> None:
        self.policy = policy
        self._now = now
        self._max_keys = max_keys
        self._failures: OrderedDict[str, tuple[float, ...]] = OrderedDict()

    def _seconds(self) -> float:
        return self._now().timestamp()

    def verdict(self, keys: Sequence[str]) -> Verdict:
        """Allowed, or refused with the longest wait among ``keys``."""
        histories = [self._failures[key] for key in keys if key in self._failures]
        if not histories:  # the usual case: nothing failed lately, no clock read
            return _ALLOWED
        now = self._seconds()
        waits = [decide(failures, now, self.policy).retry_after for failures in histories]
        return Verdict(allowed=False, retry_after=max(waits)) if any(waits) else _ALLOWED

    def check(self, keys: Sequence[str]) -> None:
        """Raise 429 (with Retry-After) when any of ``keys`` has failed too often lately."""
        found = self.verdict(keys)
        if found.allowed:
            return
        message = (
            f"too many failed authentications from this client: {self.policy.limit} within "
            f"{self.policy.window:g} s; retry in {found.retry_after} s"
        )
        raise TooManyRequests(
            message,
            {
                "retry_after": found.retry_after,
                "limit": self.policy.limit,
                "window_seconds": self.policy.window,
            },
            headers={"Retry-After": str(found.retry_after)},
        )

    def failed(self, keys: Sequence[str]) -> None:
        if self.policy.limit <= 0:
            return
        now = self._seconds()
        for key in keys:
            kept = remember(self._failures.pop(key, ()), now, self.policy)
            self._failures[key] = kept
            if len(kept) == self.policy.limit and key.startswith("address:"):
                # The address only (never the credential digest), once, when the limit is hit.
                log.warning(
                    "%d failed authentications from %s within %g s: refusing it for a while",
                    self.policy.limit,
                    key.removeprefix("address:"),
                    self.policy.window,
                )
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)


def _limiter(request: Request) -> FailureLimiter:
    found: FailureLimiter = request.app.state.hub.auth_failures
    return found


def check(request: Request, credential: str | None) -> Verdict:
    """Whether this client may try ``credential`` now (for pages that answer 429 themselves)."""
    return _limiter(request).verdict(client_keys(request, credential))


def failed(request: Request, credential: str | None) -> None:
    """Count a refused ``credential`` against this client and the credential."""
    if credential:
        _limiter(request).failed(client_keys(request, credential))


async def limited(
    request: Request, credential: str | None, authenticate: Callable[[], Awaitable[T]]
) -> T:
    """Run ``authenticate`` unless the client is over the limit (429); a 401 it raises for a
    presented credential counts as a failure. The dashboard's sign-in calls this too."""
    limiter = _limiter(request)
    keys = client_keys(request, credential)
    limiter.check(keys)
    try:
        return await authenticate()
    except ApiError as exc:
        if exc.status == 401 and credential:
            limiter.failed(keys)
        raise
