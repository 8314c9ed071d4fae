"""Roles and what each may do."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"  # reads everything
    OPERATOR = "operator"  # acknowledges, resolves, resets, activates, tests, rolls back
    ADMIN = "admin"  # enables, disables, configures
    AGENT = "agent"  # one host: its own reports and commands
    GUARD = "guard"  # deployments only


_RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}


def satisfies(held: Role, required: Role) -> bool:
    """Whether a token of role ``held`` may call a route that requires ``required``.

    viewer < operator < admin form a ladder; agent and guard only match themselves (admins may
    act for both, which makes manual repair possible).
    """
    if held == required:
        return True
    if required in _RANK:
        return held in _RANK and _RANK[held] >= _RANK[required]
    return held == Role.ADMIN
