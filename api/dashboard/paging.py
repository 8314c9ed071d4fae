"""Paging a dashboard list with the API's cursors: reading ``cursor`` and ``limit`` from the
query (a bad one is a problem line, never an error page) and the links to older and newest."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

from bounceback.api.errors import ApiError
from bounceback.api.pagination import decode_cursor, encode_cursor, parse_limit


@dataclass
class Paging:
    before: int | None
    cursor: str | None
    limit: int
    default_limit: int
    problems: list[str] = field(default_factory=list)

    def links(
        self, path: str, values: Mapping[str, str], last_id: int | None, count: int
    ) -> tuple[str | None, str | None]:
        """(older, newest): the next page when this one is full, the first when on a later one."""
        kept = {name: value for name, value in values.items() if value}
        if self.limit != self.default_limit:
            kept["limit"] = str(self.limit)
        older = None
        if count == self.limit and last_id is not None:
            older = f"{path}?" + urlencode({**kept, "cursor": encode_cursor(last_id)})
        newest = f"{path}?" + urlencode(kept) if self.cursor else None
        return older, newest


def read_paging(query: Mapping[str, str], default_limit: int, bad_cursor: str) -> Paging:
    """The page asked for; ``bad_cursor`` is the problem line for a cursor this hub did not make."""
    cursor = query.get("cursor")
    problems: list[str] = []
    try:
        before = decode_cursor(cursor)
    except ApiError:
        before, cursor = None, None
        problems.append(bad_cursor)
    try:
        limit = parse_limit(query.get("limit"), default_limit)
    except ApiError as exc:
        limit = default_limit
        problems.append(exc.message)
    return Paging(before, cursor, limit, default_limit, problems)
