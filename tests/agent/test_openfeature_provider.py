"""The OpenFeature provider: local evaluation from a polled snapshot, ETag polling, code
defaults whenever the hub cannot be reached, and a refresher that survives fork()."""

from __future__ import annotations

import json
import os
import uuid

import httpx
from openfeature import api
from openfeature.event import EventDetails, ProviderEvent
from openfeature.flag_evaluation import Reason

from bounceback.agent.openfeature_provider import BouncebackProvider


class FakeHub:
    """The bulk OFREP endpoint as a transport: ``flags`` is what it serves; ``down`` fails."""

    def __init__(self) -> None:
        self.flags: dict[str, object] = {"feature.search.enabled": False, "ratelimit.api.rps": 50}
        self.down = False
        self.requests: list[httpx.Request] = []

    def etag(self) -> str:
        return '"' + str(abs(hash(json.dumps(self.flags, sort_keys=True)))) + '"'

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.down:
            raise httpx.ConnectError("hub unreachable", request=request)
        assert request.url.path == "/ofrep/v1/evaluate/flags"
        if request.headers.get("if-none-match") == self.etag():
            return httpx.Response(304, headers={"ETag": self.etag()})
        flags = [
            {
                "key": k,
                "value": v,
                "reason": "TARGETING_MATCH",
                "variant": "degraded",
                "metadata": {},
            }
            for k, v in self.flags.items()
        ]
        return httpx.Response(200, json={"flags": flags}, headers={"ETag": self.etag()})


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def provider(hub: FakeHub, ticks: Ticks | None = None) -> BouncebackProvider:
    return BouncebackProvider(
        "http://hub.test",
        "bbt_viewer",
        poll_interval=10,
        transport=httpx.MockTransport(hub.handle),
        monotonic=ticks or Ticks(),
    )


def test_flags_evaluate_locally_from_the_snapshot() -> None:
    hub = FakeHub()
    flags = provider(hub)
    assert flags.refresh() is True
    requests = len(hub.requests)
    for _ in range(100):
        assert flags.resolve_boolean_details("feature.search.enabled", True).value is False
    assert len(hub.requests) == requests
    details = flags.resolve_integer_details("ratelimit.api.rps", 0)
    assert (details.value, details.reason, details.variant) == (50, "TARGETING_MATCH", "degraded")
    assert hub.requests[0].headers["authorization"] == "Bearer bbt_viewer"


def test_polling_sends_the_etag_and_a_304_changes_nothing() -> None:
    hub = FakeHub()
    flags = provider(hub)
    flags.refresh()
    assert flags.refresh() is False
    assert hub.requests[-1].headers["if-none-match"] == hub.etag()
    hub.flags["feature.search.enabled"] = True
    assert flags.refresh() is True
    assert flags.resolve_boolean_details("feature.search.enabled", False).value is True


def test_code_defaults_apply_before_the_hub_answers_and_for_wrong_types() -> None:
    hub = FakeHub()
    hub.down = True
    flags = provider(hub)
    assert flags.refresh() is False
    details = flags.resolve_boolean_details("feature.search.enabled", True)
    assert (details.value, details.reason, details.error_code) == (True, Reason.DEFAULT, None)
    hub.down = False
    flags.refresh()
    mismatch = flags.resolve_string_details("ratelimit.api.rps", "none")
    assert mismatch.value == "none"
    assert mismatch.error_code == "TYPE_MISMATCH"
    unknown = flags.resolve_boolean_details("no.such.flag", True)
    assert (unknown.value, unknown.error_code) == (True, "FLAG_NOT_FOUND")


def test_a_hub_outage_returns_the_app_to_its_defaults_after_stale_after() -> None:
    hub, ticks = FakeHub(), Ticks()
    flags = provider(hub, ticks)
    flags.refresh()
    hub.down = True
    ticks.now = 25.0  # a blip: the last snapshot stays in use
    flags.refresh()
    assert flags.resolve_boolean_details("feature.search.enabled", True).value is False
    ticks.now = 31.0  # longer than three poll intervals: normal operation
    flags.refresh()
    assert flags.resolve_boolean_details("feature.search.enabled", True).value is True
    hub.down = False
    flags.refresh()
    assert flags.resolve_boolean_details("feature.search.enabled", True).value is False


def test_the_openfeature_client_sees_changes_and_gets_an_event() -> None:
    hub = FakeHub()
    flags = provider(hub)
    domain = f"app-{uuid.uuid4().hex[:8]}"
    api.set_provider_and_wait(flags, domain)
    client = api.get_client(domain)
    changed: list[EventDetails] = []
    client.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, changed.append)
    try:
        assert client.get_boolean_value("feature.search.enabled", True) is False
        hub.flags["feature.search.enabled"] = True
        flags.refresh()
        assert client.get_boolean_value("feature.search.enabled", False) is True
        assert changed and changed[-1].flags_changed == ["feature.search.enabled"]
    finally:
        flags.shutdown()


def test_the_refresher_restarts_in_a_forked_child() -> None:
    hub = FakeHub()
    flags = provider(hub)
    flags.start()
    parent_thread = flags._thread
    try:
        pid = os.fork()
        if pid == 0:  # the child: a new refresher thread must be running
            thread = flags._thread
            ok = thread is not None and thread.is_alive() and thread is not parent_thread
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        flags.shutdown()
