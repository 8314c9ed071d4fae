"""Who is calling: a token holder with a role, or an alert source holding an integration key."""

from __future__ import annotations

from dataclasses import dataclass

from bounceback.api.auth.roles import Role


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role | None = None  # set for tokens
    integration_kind: str | None = None  # set for integration keys
    oidc: bool = False  # a GitHub Actions workflow; its name is github:<owner/repo>[@<env>]

    @property
    def actor(self) -> str:
        if self.oidc:
            return self.name
        if self.integration_kind is not None:
            return f"integration:{self.name}"
        return f"token:{self.name}"
