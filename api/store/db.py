"""The database handle: one async engine per backend, write and read transactions.

SQLite allows one writer at a time. Write transactions there start with ``BEGIN IMMEDIATE`` on a
single pooled connection, so writers queue in the hub instead of failing with "database is
locked"; reads use their own connections and see the last commit (WAL).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

SQLITE_BUSY_TIMEOUT_S = 30


class Database:
    def __init__(self, url: str, *, schema: str | None = None) -> None:
        self.url = url
        self.schema = schema
        self.dialect = make_url(url).get_backend_name()
        if self.dialect == "sqlite":
            database = make_url(url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            self._writer = self._sqlite_engine(url, begin="BEGIN IMMEDIATE", pool_size=1)
            self._reader = self._sqlite_engine(url, begin="BEGIN", pool_size=4)
        elif self.dialect == "postgresql":
            connect_args: dict[str, Any] = {}
            if schema:
                connect_args["server_settings"] = {"search_path": schema}
            self._writer = create_async_engine(
                url, pool_size=10, max_overflow=10, pool_pre_ping=True, connect_args=connect_args
            )
            self._reader = self._writer
        else:
            raise ValueError(f"unsupported database backend {self.dialect!r}")

    @staticmethod
    def _sqlite_engine(url: str, *, begin: str, pool_size: int) -> AsyncEngine:
        engine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=0,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S},
        )

        # The pysqlite driver's own transaction handling is turned off and the transaction
        # is begun explicitly: the recipe from SQLAlchemy's SQLite dialect documentation.
        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            conn.exec_driver_sql(begin)

        return engine

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction; committed when the block ends without error."""
        async with self._writer.begin() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self._reader.connect() as conn:
            yield conn

    async def ping(self) -> None:
        async with self.read() as conn:
            await conn.execute(sa.text("SELECT 1"))

    @property
    def engine(self) -> AsyncEngine:
        return self._writer

    async def dispose(self) -> None:
        await self._writer.dispose()
        if self._reader is not self._writer:
            await self._reader.dispose()
