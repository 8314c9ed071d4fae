"""Configuration shapes of the provider channels, and where their secrets come from.

A secret setting (``SLACK_BOT_TOKEN``) is read from the environment or hub.toml like any other;
when it is unset, the file named by the same variable with ``_FILE`` appended is read instead
(``SLACK_BOT_TOKEN_FILE=/run/secrets/slack-bot-token``), the convention of container secrets.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class WebhookTarget(BaseModel):
    """One receiver of outbound webhooks. Its signing secret comes from the environment variable
    ``secret_env`` (default ``BOUNCEBACK_WEBHOOK_SECRET_<NAME>``) or from ``secret_file``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    url: str = Field(pattern=r"^https?://\S+$", max_length=2000)
    secret_env: str | None = Field(None, pattern=r"^[A-Z_][A-Z0-9_]{0,127}$")
    secret_file: Path | None = None
    timeout_seconds: float = Field(10, gt=0, le=60)

    @property
    def secret_variable(self) -> str:
        return self.secret_env or "BOUNCEBACK_WEBHOOK_SECRET_" + self.name.upper().replace("-", "_")


class MissingSecret(ValueError):
    """A channel is configured but its secret is nowhere; says which variable to set."""


def secret(
    value: SecretStr | None, variable: str, environ: Mapping[str, str] | None = None
) -> str | None:
    """The setting's value, else the contents of the file ``<variable>_FILE`` names."""
    if value is not None and value.get_secret_value():
        return value.get_secret_value()
    env = os.environ if environ is None else environ
    path = env.get(f"{variable}_FILE")
    if path:
        return Path(path).read_text().strip()
    return None


def webhook_secret(target: WebhookTarget, environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    found = env.get(target.secret_variable)
    if not found and target.secret_file is not None:
        found = target.secret_file.read_text().strip()
    if not found:
        raise MissingSecret(
            f"webhook {target.name!r} has no signing secret: set {target.secret_variable} "
            "or 'secret_file'"
        )
    return found
