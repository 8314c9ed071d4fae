"""An OpenFeature provider for Python applications that reads Bounceback's degradation flags.

It keeps a snapshot of every flag, fetched from the hub's bulk OFREP endpoint
(``POST /ofrep/v1/evaluate/flags``) and refreshed by a background thread that polls with
``If-None-Match`` (an unchanged snapshot costs a 304). Evaluations are local dictionary look-ups.

A hub outage never degrades an application by itself: before the first snapshot, for an unknown
flag, for a value of the wrong type, and once no refresh has succeeded for ``stale_after``
seconds, the application gets the default it passed in its code, which must mean "normal
operation". Pre-fork servers (gunicorn ``--preload``, uWSGI) lose threads at ``fork()``: the
provider restarts its refresher in each child (``os.register_at_fork``).

Install with ``pip install "bounceback[flags]"``::

    from openfeature import api
    from bounceback.agent.openfeature_provider import BouncebackProvider

    api.set_provider(BouncebackProvider("https://hub.example.net", token="bbt_..."))
    flags = api.get_client()
    if flags.get_boolean_value("feature.recommendations.enabled", True):
        ...
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEventDetails
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType, Reason
from openfeature.provider import AbstractProvider, Metadata

log = logging.getLogger("bounceback.flags")

BULK_PATH = "/ofrep/v1/evaluate/flags"
T = TypeVar("T")


@dataclass(frozen=True)
class _Flag:
    value: Any
    reason: str
    variant: str | None
    metadata: Mapping[str, bool | int | float | str]


def _parse(document: Any) -> dict[str, _Flag]:
    """The bulk answer's flags; entries that are evaluation errors are left out."""
    if not isinstance(document, dict) or not isinstance(document.get("flags"), list):
        raise ValueError("not an OFREP bulk evaluation response")
    flags: dict[str, _Flag] = {}
    for entry in document["flags"]:
        if not isinstance(entry, dict) or "key" not in entry or "value" not in entry:
            continue
        metadata = entry.get("metadata") or {}
        flags[str(entry["key"])] = _Flag(
            entry["value"],
            str(entry.get("reason") or Reason.STATIC),
            entry.get("variant"),
            {k: v for k, v in metadata.items() if isinstance(v, bool | int | float | str)},
        )
    return flags


_providers: weakref.WeakSet[BouncebackProvider] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for provider in list(_providers):
        provider._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class BouncebackProvider(AbstractProvider):
    def __init__(
        self,
        hub_url: str,
        token: str,
        *,
        poll_interval: float = 10.0,
        stale_after: float | None = None,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``token``: a Bounceback token with the viewer role. ``stale_after`` (default three
        poll intervals): how long the last snapshot stays in use while refreshes fail."""
        super().__init__()
        self._url = hub_url.rstrip("/") + BULK_PATH
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._interval = poll_interval
        self._stale_after = 3 * poll_interval if stale_after is None else stale_after
        self._timeout = timeout
        self._transport = transport
        self._monotonic = monotonic
        self._flags: dict[str, _Flag] = {}
        self._etag: str | None = None
        self._fetched_at: float | None = None  # monotonic time of the last successful contact
        self._stale_reported = False
        self._new_runtime()
        _providers.add(self)

    def _new_runtime(self) -> None:
        """Lock, client and refresher state: made again in a forked child."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = httpx.Client(timeout=self._timeout, transport=self._transport)

    # -- lifecycle ------------------------------------------------------------------------------

    def get_metadata(self) -> Metadata:
        return Metadata(name="bounceback")

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        """Fetch once (a failure is not an error: code defaults apply), then keep refreshing."""
        self.refresh()
        self.start()

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="bounceback-flags", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self._timeout + 1)
        self._thread = None
        self._client.close()

    def _after_fork(self) -> None:
        running = self._thread is not None and not self._stop.is_set()
        self._new_runtime()
        if running:
            self.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.refresh()

    # -- refreshing -----------------------------------------------------------------------------

    def refresh(self) -> bool:
        """Poll the hub once; True when the flags changed. Never raises."""
        headers = dict(self._headers)
        if self._etag is not None and self._flags_usable():
            headers["If-None-Match"] = self._etag
        try:
            response = self._client.post(self._url, json={"context": {}}, headers=headers)
            if response.status_code == 304:
                self._contact(None, None)
                return False
            response.raise_for_status()
            flags = _parse(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            log.warning(
                "bounceback flags: refresh failed (%s); code defaults apply when stale", exc
            )
            self._report_stale()
            return False
        return self._contact(flags, response.headers.get("etag"))

    def _contact(self, flags: dict[str, _Flag] | None, etag: str | None) -> bool:
        with self._lock:
            self._fetched_at = self._monotonic()
            self._stale_reported = False
            if flags is None:
                return False
            changed = sorted(
                key
                for key in set(flags) | set(self._flags)
                if flags.get(key) != self._flags.get(key)
            )
            self._flags, self._etag = flags, etag
        if changed and hasattr(self, "_on_emit"):
            self.emit_provider_configuration_changed(
                ProviderEventDetails(flags_changed=changed, message="flags changed on the hub")
            )
        return bool(changed)

    def _flags_usable(self) -> bool:
        if self._fetched_at is None:
            return False
        return self._monotonic() - self._fetched_at <= self._stale_after

    def _report_stale(self) -> None:
        if self._stale_reported or self._flags_usable() or not hasattr(self, "_on_emit"):
            return
        self._stale_reported = True
        self.emit_provider_stale(
            ProviderEventDetails(message="the hub cannot be reached: code defaults apply")
        )

    # -- evaluation -----------------------------------------------------------------------------

    def _resolve(
        self, key: str, default: T, accepts: Callable[[Any], bool], cast: Callable[[Any], T]
    ) -> FlagResolutionDetails[T]:
        with self._lock:
            flag = self._flags.get(key) if self._flags_usable() else None
            known = self._fetched_at is not None and self._flags_usable()
        if flag is None:
            if not known:  # never reached the hub, or not for too long: quietly normal
                return FlagResolutionDetails(default, reason=Reason.DEFAULT)
            return FlagResolutionDetails(
                default,
                reason=Reason.DEFAULT,
                error_code=ErrorCode.FLAG_NOT_FOUND,
                error_message=f"the hub has no flag {key!r}",
            )
        if not accepts(flag.value):
            return FlagResolutionDetails(
                default,
                reason=Reason.ERROR,
                error_code=ErrorCode.TYPE_MISMATCH,
                error_message=f"flag {key!r} is {type(flag.value).__name__}",
            )
        return FlagResolutionDetails(
            cast(flag.value),
            reason=flag.reason,
            variant=flag.variant,
            flag_metadata=flag.metadata,
        )

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        return self._resolve(flag_key, default_value, lambda v: isinstance(v, bool), bool)

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        return self._resolve(flag_key, default_value, lambda v: isinstance(v, str), str)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        def accepts(value: Any) -> bool:
            return isinstance(value, int) and not isinstance(value, bool)

        return self._resolve(flag_key, default_value, accepts, int)

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        def accepts(value: Any) -> bool:
            return isinstance(value, int | float) and not isinstance(value, bool)

        return self._resolve(flag_key, default_value, accepts, float)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        def accepts(value: Any) -> bool:
            return isinstance(value, dict | list)

        return self._resolve(flag_key, default_value, accepts, lambda v: v)
