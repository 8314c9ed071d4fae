"""The channels the hub can notify through, each behind its switch.

Adding a channel: a module in ``api/notify/`` with a class that satisfies ``channel.Channel``,
constructed in ``build`` below with what it needs from the settings, and (when the seed has
one) the name of its on/off setting in ``SWITCHES``. Policies and people name channels by
``Channel.name``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from bounceback.api.notify.channel import Channel
from bounceback.api.notify.email import EmailChannel
from bounceback.api.settings import HubSettings

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


def build(settings: HubSettings) -> ChannelRegistry:
    registry = ChannelRegistry()

    def enabled(name: str) -> bool:
        return bool(getattr(settings, SWITCHES[name], True)) if name in SWITCHES else True

    registry.register(
        EmailChannel(settings.escalation.smtp, _smtp_password(settings)), enabled=enabled("email")
    )
    return registry
