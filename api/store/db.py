"""The database handle: one async engine per backend, write and read transactions.

SQLite allows one writer at a time. Write transactions there take turns in the hub (a lock, then
``BEGIN IMMEDIATE`` on a single pooled connection), so writers queue instead of failing with
"database is locked"; reads use their own connections and see the last commit (WAL).

Batch writers (alert intake) run synchronous code in one transaction with ``run_batch``. Through
the async SQLite driver every statement is a round trip to its thread, several per statement; a
batch of a few statements per alert would spend most of its time there. So on SQLite a batch uses
a blocking connection to the same file, in its turn among the hub's writers: BEGIN and COMMIT
(which may wait for a lock, sync the disk, checkpoint) in a thread, the statements between them,
which only compute and read under the write lock, directly on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import time
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pydantic_core
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.compiler import SQLCompiler

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_S = 30
# FULL: each commit syncs the WAL to disk before it returns, so an acknowledged write survives a
# power cut, not only a crash of the hub (NORMAL). Group commit makes it one sync per batch.
SQLITE_SYNCHRONOUS = "FULL"
# The topics each open transaction changes, by its connection (not in the connection's
# ``info``: reading that touches a connection that may have just broken).
_changed: weakref.WeakKeyDictionary[sa.Connection, set[str]] = weakref.WeakKeyDictionary()


def _sync(conn: AsyncConnection | sa.Connection) -> sa.Connection | None:
    return conn.sync_connection if isinstance(conn, AsyncConnection) else conn


def mark_changed(conn: AsyncConnection | sa.Connection, topic: str) -> None:
    """Note that this transaction changes ``topic`` ("incident", "agent", …): once it commits,
    the database's ``on_commit`` hears of it (the hub tells dashboards on every replica)."""
    sync = _sync(conn)
    if sync is not None:
        _changed.setdefault(sync, set()).add(topic)


def _take_changed(conn: AsyncConnection | sa.Connection) -> set[str] | None:
    sync = _sync(conn)
    return _changed.pop(sync, None) if sync is not None else None


def to_json(value: Any) -> str:
    """JSON columns' serializer: pydantic-core's, several times faster than ``json.dumps`` on
    the small objects the hub stores, with the same output for them (ASCII escaping aside)."""
    return pydantic_core.to_json(value).decode()


# A pooled PostgreSQL connection unused this long is checked with a ping before use (it may
# have died in a failover or behind a proxy meanwhile); busy connections skip the round trip.
PING_AFTER_IDLE_S = 10.0


class Database:
    def __init__(
        self, url: str, *, schema: str | None = None, ping_after: float = PING_AFTER_IDLE_S
    ) -> None:
        self.url = url
        self.schema = schema
        self.dialect = make_url(url).get_backend_name()
        self._batch_writer: sa.Engine | None = None
        self._batch_conn: sa.Connection | None = None
        self._batch_thread: ThreadPoolExecutor | None = None
        # SQLite: whose turn it is to write, among the hub's writers.
        self._write_turn: asyncio.Lock | None = None
        # Called with the topics of each committed transaction that marked some.
        self.on_commit: Callable[[set[str]], None] | None = None
        if self.dialect == "sqlite":
            database = make_url(url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            self._writer = self._sqlite_engine(url, begin="BEGIN IMMEDIATE", pool_size=1)
            self._reader = self._sqlite_engine(url, begin="BEGIN", pool_size=4)
            self._write_turn = asyncio.Lock()
            if database and database != ":memory:":
                blocking_url = make_url(url).set(drivername="sqlite+pysqlite")
                self._batch_writer = sa.create_engine(
                    blocking_url,
                    pool_size=1,
                    max_overflow=0,
                    json_serializer=to_json,
                    # Begun and committed in a thread, used between on the event loop.
                    connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
                )
                _configure_sqlite(self._batch_writer, begin=None)  # begun by hand
        elif self.dialect == "postgresql":
            connect_args: dict[str, Any] = {}
            if schema:
                connect_args["server_settings"] = {"search_path": schema}
            # Enough connections for a busy replica: past the pool, connections are opened and
            # closed per use, and PostgreSQL starts a process for each.
            self._writer = create_async_engine(
                url,
                pool_size=20,
                max_overflow=10,
                connect_args=connect_args,
                json_serializer=to_json,
            )
            _ping_when_idle(self._writer, ping_after)
            # Reads run without BEGIN and ROLLBACK round trips: under READ COMMITTED each
            # statement sees the latest commits either way.
            self._reader = self._writer.execution_options(isolation_level="AUTOCOMMIT")
        else:
            raise ValueError(f"unsupported database backend {self.dialect!r}")

    @staticmethod
    def _sqlite_engine(url: str, *, begin: str, pool_size: int) -> AsyncEngine:
        engine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=0,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S},
            json_serializer=to_json,
        )
        _configure_sqlite(engine.sync_engine, begin=begin)
        return engine

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction; committed when the block ends without error."""
        changed: set[str] | None = None
        async with contextlib.AsyncExitStack() as turn:
            if self._write_turn is not None:
                await turn.enter_async_context(self._write_turn)
            async with self._writer.begin() as conn:
                try:
                    yield conn
                finally:
                    changed = _take_changed(conn)
        self._committed(changed)

    def _committed(self, changed: set[str] | None) -> None:
        if changed and self.on_commit is not None:
            self.on_commit(changed)

    async def run_batch(self, work: Callable[[sa.Connection], T]) -> T:
        """Run the synchronous ``work`` in one write transaction, committed when it returns.

        For writers of many statements at once; the calling task waits for the commit."""
        if self._batch_writer is None or self._write_turn is None:
            async with self.transaction() as conn:
                return await conn.run_sync(work)  # its marks are on this connection too
        await self._write_turn.acquire()
        # Once begun, a batch runs to its end and gives up the turn itself, even when the
        # caller is cancelled meanwhile: its thread work must not overlap the next writer's.
        batch = asyncio.ensure_future(self._sqlite_batch(work))
        return await asyncio.shield(batch)

    async def _sqlite_batch(self, work: Callable[[sa.Connection], T]) -> T:
        assert self._write_turn is not None and self._batch_writer is not None
        try:
            if self._batch_thread is None:
                self._batch_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-batch")
            thread, loop = self._batch_thread, asyncio.get_running_loop()
            if self._batch_conn is None:
                self._batch_conn = await loop.run_in_executor(thread, self._batch_writer.connect)
            conn = self._batch_conn
            driver = sqlite_connection(conn)
            # The transaction is begun and committed by hand, with single driver calls; the
            # SQLAlchemy connection's own begin and commit reach no further than that. BEGIN
            # IMMEDIATE waits when another process is writing: then in the thread. COMMIT writes
            # the WAL, syncs it and now and then checkpoints: always in the thread. The
            # statements between them only compute and read, holding the write lock: here, on
            # the event loop, where a round trip to the thread would cost more than they do.
            if not _begin_at_once(driver):
                await loop.run_in_executor(thread, driver.execute, "BEGIN IMMEDIATE")
            try:
                result = work(conn)
                await loop.run_in_executor(thread, driver.commit)
            except BaseException:
                self._batch_conn = None
                await loop.run_in_executor(thread, self._discard_batch_connection, conn)
                raise
            finally:
                changed = _take_changed(conn)
            conn.commit()
            self._committed(changed)
            return result
        finally:
            self._write_turn.release()

    @staticmethod
    def _discard_batch_connection(conn: sa.Connection) -> None:
        with conn:  # closed at last, whatever happens
            sqlite_connection(conn).rollback()
            conn.rollback()

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
        if self.dialect == "sqlite":  # PostgreSQL reads share the writer's pool
            await self._reader.dispose()
        if self._batch_thread is not None:
            assert self._batch_writer is not None
            thread, self._batch_thread = self._batch_thread, None
            loop = asyncio.get_running_loop()
            if self._batch_conn is not None:
                conn, self._batch_conn = self._batch_conn, None
                await loop.run_in_executor(thread, conn.close)
            await loop.run_in_executor(thread, self._batch_writer.dispose)
            thread.shutdown()


def _ping_when_idle(engine: AsyncEngine, after: float) -> None:
    """``pool_pre_ping`` for connections that sat in the pool ``after`` seconds or more: a dead
    one is replaced before use, and busy ones do not pay a round trip at every checkout."""

    @event.listens_for(engine.sync_engine, "checkin")
    def _returned(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _taken(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < after:
            return  # new, or back from use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool discards this connection and checks out another (SQLAlchemy's recipe).
            raise sa.exc.DisconnectionError(f"stale pooled connection: {exc}") from exc


def _begin_at_once(driver: sqlite3.Connection) -> bool:
    """BEGIN IMMEDIATE unless it would have to wait for the write lock."""
    driver.execute("PRAGMA busy_timeout = 0")
    try:
        driver.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
            raise
        return False
    finally:
        driver.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_S * 1000}")
    return True


def _configure_sqlite(engine: sa.Engine, *, begin: str | None) -> None:
    # The pysqlite driver's own transaction handling is turned off and the transaction
    # is begun explicitly: the recipe from SQLAlchemy's SQLite dialect documentation.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    if begin is None:
        return

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql(begin)


def insert_many(conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert the rows (each with the same keys) with one statement: ``execute_many``."""
    if rows:
        execute_many(conn, _insert(table), rows, columns=tuple(rows[0]))


def execute_many(
    conn: sa.Connection,
    statement: sa.Executable,
    rows: Sequence[Mapping[str, Any]],
    *,
    columns: tuple[str, ...] | None = None,
) -> None:
    """``conn.execute(statement, rows)``: the statement once for each row's parameters.

    On SQLite it goes to the driver directly, the rows' values turned into the driver's by the same
    type processors that Core applies, and a value that repeats from row to row (a batch's
    timestamp) only once: Core's bookkeeping per row and per value would be most of the cost of a
    large batch. ``columns``: the row keys that an INSERT without values sets."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(statement, list(rows))
        return
    plan = _plan(statement, columns, conn.dialect)
    sqlite_connection(conn).executemany(plan.sql, plan.parameters(rows))


def scalar_returning(conn: sa.Connection, statement: sa.Executable, row: Mapping[str, Any]) -> Any:
    """``conn.scalar(statement, row)`` for an INSERT … RETURNING one column, as ``execute_many``
    does it; None when no row came back."""
    if conn.dialect.name != "sqlite":
        return conn.scalar(statement, dict(row))
    plan = _plan(statement, tuple(row), conn.dialect)
    [parameters] = plan.parameters([row])
    returned = sqlite_connection(conn).execute(plan.sql, parameters).fetchall()
    return returned[0][0] if returned else None


def sqlite_connection(conn: sa.Connection) -> sqlite3.Connection:
    """The driver's connection under a SQLite ``conn``."""
    driver = conn.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    return driver


_UNSEEN = object()


@dataclass(frozen=True)
class _Plan:
    sql: str
    names: tuple[str, ...]  # the parameters, in the SQL's order
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]  # by position, where there is one

    def parameters(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        names = self.names
        parameters = [[row[name] for name in names] for row in rows]
        for i, process in self.processors:
            seen: Any = _UNSEEN
            made: Any = None
            for values in parameters:
                value = values[i]
                if value is not seen:
                    seen, made = value, process(value)
                values[i] = made
        return [tuple(values) for values in parameters]


@functools.cache
def _insert(table: sa.Table) -> sa.Insert:
    return table.insert()


@functools.lru_cache(maxsize=64)
def _plan(statement: sa.Executable, columns: tuple[str, ...] | None, dialect: Dialect) -> _Plan:
    assert isinstance(statement, sa.ClauseElement)
    compiled = statement.compile(dialect=dialect, column_keys=list(columns or ()))
    assert isinstance(compiled, SQLCompiler)
    names = tuple(compiled.positiontup or ())
    processors = []
    for i, name in enumerate(names):
        process = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors.append((i, process))
    return _Plan(str(compiled), names, tuple(processors))
