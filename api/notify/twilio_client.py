"""The twilio library's REST client, over ``httpx``, with an overridable base URL; shared by
the SMS and voice channels, with the mapping of Twilio's errors to retry policies.

twilio's own async client opens an aiohttp session at construction (outside any event loop in
the hub's start-up); its ``AsyncHttpClient`` is a small interface, so it is implemented here on
``httpx`` like every other outbound call of the hub, which also lets tests pass a transport.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from twilio.base.exceptions import TwilioRestException
from twilio.http import AsyncHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.rest import Client

from bounceback.api.notify.channel import NotifyError

# Twilio error codes that no retry can fix: bad or unreachable number, opted out, not allowed.
PERMANENT_CODES = frozenset(
    {20003, 20404, 21211, 21214, 21217, 21408, 21606, 21610, 21612, 21614, 30003, 30004, 30005}
)


class HttpxTwilioClient(AsyncHttpClient):  # type: ignore[misc]
    def __init__(self, transport: httpx.AsyncBaseTransport | None = None, timeout: float = 10):
        super().__init__(logging.getLogger("bounceback.notify.twilio"), True, timeout)
        self._transport = transport

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - twilio's interface
        allow_redirects: bool = False,
    ) -> TwilioResponse:
        async with httpx.AsyncClient(
            transport=self._transport, timeout=timeout or self.timeout
        ) as client:
            response = await client.request(
                method,
                url,
                params=params,  # type: ignore[arg-type]
                data=data,
                headers=headers,
                auth=auth,
                follow_redirects=allow_redirects,
            )
        return TwilioResponse(response.status_code, response.text, response.headers)


def make_client(
    account_sid: str,
    auth_token: str,
    api_url: str,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Any:
    client = Client(account_sid, auth_token, http_client=HttpxTwilioClient(transport))
    # Edges and regions rewrite the host; the base URL is what this hub configures.
    client.edge = client.region = None
    client.api.base_url = api_url.rstrip("/")
    return client


def twilio_error(exc: Exception) -> NotifyError:
    if isinstance(exc, TwilioRestException):
        status, code = int(exc.status), exc.code
        text = f"Twilio {status} (error {code}): {exc.msg}"
        if status == 429 or code == 20429:
            return NotifyError(text, retry_after=30)
        if status >= 500:
            return NotifyError(text)
        permanent = status in (400, 401, 403, 404) or code in PERMANENT_CODES
        return NotifyError(text, permanent=permanent)
    if isinstance(exc, httpx.HTTPError | OSError | TimeoutError):
        return NotifyError(f"Twilio unreachable: {type(exc).__name__}: {exc}")
    return NotifyError(f"Twilio: {type(exc).__name__}: {exc}")
