"""The agent's hub credentials (``bounceback-agent enroll``): a TOML file readable only by us."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PATH = Path("/etc/bounceback/agent-credentials.toml")


class CredentialsError(Exception):
    pass


@dataclass(frozen=True)
class Credentials:
    hub_url: str
    agent_id: str
    token: str


def save(path: Path, credentials: Credentials) -> None:
    """Write atomically with mode 0600 (the token is a secret)."""
    import tomli_w  # only `enroll` writes; the daemon reads with tomllib

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        tomli_w.dump(
            {
                "hub_url": credentials.hub_url,
                "agent_id": credentials.agent_id,
                "token": credentials.token,
            },
            out,
        )
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def load(path: Path) -> Credentials:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CredentialsError(
            f"{path}: no credentials; run `bounceback-agent enroll --hub URL --token TOKEN`"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise CredentialsError(f"{path}: not valid TOML: {exc}") from None
    missing = [key for key in ("hub_url", "agent_id", "token") if not data.get(key)]
    if missing:
        raise CredentialsError(f"{path}: missing key(s) {', '.join(missing)}")
    if path.stat().st_mode & 0o077:
        raise CredentialsError(f"{path}: readable by others; run `chmod 600 {path}`")
    return Credentials(str(data["hub_url"]), str(data["agent_id"]), str(data["token"]))
