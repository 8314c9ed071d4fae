"""Shared fixtures: the store on each backend, a fake clock, settings and a running hub."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from bounceback.api.clock import FakeClock
from bounceback.api.settings import HubSettings, async_database_url
from bounceback.api.store.db import Database
from bounceback.api.store.migrate import migrate

pytest_plugins = ["tests.hang_report"]

PG_URL = os.environ.get("BOUNCEBACK_TEST_DATABASE_URL")
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgres",
        id="postgres",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(not PG_URL, reason="BOUNCEBACK_TEST_DATABASE_URL is not set"),
        ],
    ),
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the environment they set themselves."""
    for name in list(os.environ):
        if name.lower() in HubSettings.model_fields or name == "BOUNCEBACK_CONFIG":
            monkeypatch.delenv(name)


async def _create_schema(name: str, *, drop: bool = False) -> None:
    assert PG_URL is not None
    engine = create_async_engine(async_database_url(PG_URL))
    async with engine.begin() as conn:
        verb = f"DROP SCHEMA IF EXISTS {name} CASCADE" if drop else f"CREATE SCHEMA {name}"
        await conn.execute(sa.text(verb))
    await engine.dispose()


@pytest.fixture
async def pg_schema() -> AsyncIterator[str]:
    """A fresh PostgreSQL schema of our own, dropped afterwards: test runs never collide."""
    name = f"bbt_{uuid.uuid4().hex[:12]}"
    await _create_schema(name)
    try:
        yield name
    finally:
        await _create_schema(name, drop=True)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
async def db_settings(backend: str, tmp_path: Path) -> AsyncIterator[HubSettings]:
    """Settings pointing at an empty, migrated store on ``backend``."""
    if backend == "sqlite":
        yield HubSettings(bounceback_data_dir=tmp_path / "data")
        return
    name = f"bbt_{uuid.uuid4().hex[:12]}"
    await _create_schema(name)
    try:
        yield HubSettings(
            bounceback_data_dir=tmp_path / "data",
            database_url=PG_URL,
            bounceback_database_schema=name,
        )
    finally:
        await _create_schema(name, drop=True)


@pytest.fixture
async def db(db_settings: HubSettings) -> AsyncIterator[Database]:
    database = Database(db_settings.sqlalchemy_url, schema=db_settings.bounceback_database_schema)
    await migrate(database)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Iterator[HubSettings]:
    yield HubSettings(bounceback_data_dir=tmp_path / "data")
