"""The channels the hub can notify through, each behind its switch.

Adding a channel: a module in ``api/notify/`` with a class that satisfies ``channel.Channel``,
constructed in ``build`` below with what it needs from the settings, and (when the seed has
one) the name of its on/off setting in ``SWITCHES``. Policies and people name channels by
``Channel.name``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from bounceback.api.clock import Clock, SystemClock
from bounceback.api.notify.channel import Channel
from bounceback.api.notify.config import secret, webhook_secret
from bounceback.api.notify.email import EmailChannel
from bounceback.api.notify.slack import SlackChannel
from bounceback.api.notify.sms import SmsChannel
from bounceback.api.notify.teams import TeamsChannel
from bounceback.api.notify.voice import VoiceChannel
from bounceback.api.notify.webhook import WebhookChannel
from bounceback.api.settings import HubSettings
from bounceback.api.store.db import Database

# Channel name -> the HubSettings switch that turns it on and off.
SWITCHES = {
    "email": "email_notifications_enabled",
    "slack": "slack_notifications_enabled",
    "sms": "sms_notifications_enabled",
    "phone": "phone_notifications_enabled",
}
KNOWN = ("email", "slack", "sms", "phone", "teams", "webhook")
SMTP_PASSWORD_ENV = "BOUNCEBACK_SMTP_PASSWORD"  # noqa: S105 - the name of a variable


@dataclass
class ChannelRegistry:
    channels: dict[str, Channel] = field(default_factory=dict)
    switched_off: set[str] = field(default_factory=set)

    def register(self, channel: Channel, *, enabled: bool = True) -> None:
        self.channels[channel.name] = channel
        if enabled:
            self.switched_off.discard(channel.name)
        else:
            self.switched_off.add(channel.name)

    def usable(self, name: str) -> Channel | None:
        """The channel when it exists and is switched on."""
        if name in self.switched_off:
            return None
        return self.channels.get(name)

    def why_not(self, name: str) -> str:
        if name not in self.channels:
            return f"the {name} channel is not configured on this hub"
        setting = SWITCHES.get(name, name)
        return f"the {name} channel is switched off ({setting.upper()}=false)"


def _smtp_password(settings: HubSettings) -> str | None:
    if os.environ.get(SMTP_PASSWORD_ENV):
        return os.environ[SMTP_PASSWORD_ENV]
    path = settings.escalation.smtp.password_file
    return path.read_text().strip() if path is not None else None


def build(
    settings: HubSettings, db: Database | None = None, clock: Clock | None = None
) -> ChannelRegistry:
    """Every channel whose provider is configured (its secrets are set); ``db`` lets Slack
    find an incident's earlier messages to update them."""
    registry = ChannelRegistry()

    def enabled(name: str) -> bool:
        return bool(getattr(settings, SWITCHES[name], True)) if name in SWITCHES else True

    registry.register(
        EmailChannel(settings.escalation.smtp, _smtp_password(settings)), enabled=enabled("email")
    )
    slack_token = secret(settings.slack_bot_token, "SLACK_BOT_TOKEN")
    if slack_token:
        slack = SlackChannel(
            slack_token, api_url=settings.slack_api_url, public_url=settings.public_url, db=db
        )
        registry.register(slack, enabled=enabled("slack"))
    twilio_token = secret(settings.twilio_auth_token, "TWILIO_AUTH_TOKEN")
    sid, number = settings.twilio_account_sid, settings.twilio_from_number
    if twilio_token and sid and number:
        sms = SmsChannel(sid, twilio_token, number, api_url=settings.twilio_api_url)
        registry.register(sms, enabled=enabled("sms"))
        phone = VoiceChannel(
            sid,
            twilio_token,
            number,
            public_url=settings.public_url,
            api_url=settings.twilio_api_url,
        )
        registry.register(phone, enabled=enabled("phone"))
    teams_url = secret(settings.teams_webhook_url, "TEAMS_WEBHOOK_URL")
    if teams_url:
        registry.register(TeamsChannel(teams_url))
    if settings.webhooks:
        targets = [(target, webhook_secret(target)) for target in settings.webhooks]
        registry.register(WebhookChannel(targets, clock or SystemClock()))
    return registry
