"""Shared fixtures: a Store on SQLite and, when reachable, on PostgreSQL.

PostgreSQL comes from ``COMPLIANCE_TEST_PG_URL`` (default the local ``test`` database).
When it cannot be reached within 2 s its tests are skipped with the reason shown in the
``-ra`` summary. Every PostgreSQL test works in a schema of its own, dropped afterwards,
so test runs can overlap and leave nothing behind.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

PG_URL = os.environ.get(
    "COMPLIANCE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PG_CONNECT_TIMEOUT_S = 2


def _shown(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparseable URL>"


def _pg_reason() -> str | None:
    """None when PostgreSQL answers, else why its tests are skipped."""
    try:
        eng = sa.create_engine(
            PG_URL, connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S}, poolclass=sa.NullPool
        )
        try:
            with eng.connect() as c:
                c.execute(sa.text("select 1"))
        finally:
            eng.dispose()
        return None
    except Exception as exc:  # any failure means: skip, and say why
        first = (str(exc).strip().splitlines() or [""])[0][:160]
        return f"PostgreSQL not reachable at {_shown(PG_URL)}: {type(exc).__name__} {first}"


#: Skip reason for PostgreSQL tests (None when reachable); imported by other test modules.
_PG_SKIP = _pg_reason()


@contextmanager
def pg_schema(prefix: str = "test") -> Iterator[str]:
    """Create a fresh PostgreSQL schema ``{prefix}_<random>``; drop it (CASCADE) after."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL, poolclass=sa.NullPool)
    try:
        with admin.begin() as c:
            c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        try:
            yield schema
        finally:
            with admin.begin() as c:
                c.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        admin.dispose()


def _prepare(s, prepare: str) -> None:
    """``create_all``, or ``migrate`` through Alembic itself (an explicit revision: plain
    ``migrate()`` skips Alembic when the store is already at head)."""
    from compliance.storage.store import SCHEMA_HEAD

    if prepare == "migrate":
        s.migrate(SCHEMA_HEAD)
    else:
        getattr(s, prepare)()


def _fresh_store(backend: str, tmp_path, prepare: str):
    """A fresh Store on ``backend``, prepared with ``create_all`` or ``migrate``."""
    from compliance.storage import Store

    if backend == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'test.db'}")
        try:
            _prepare(s, prepare)
            yield s
        finally:
            s.close()
        return
    if _PG_SKIP:
        pytest.skip(_PG_SKIP)
    with pg_schema() as schema:
        s = Store(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
        try:
            _prepare(s, prepare)
            yield s
        finally:
            s.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path):
    """A fresh, empty Store (tables created from the models) on each backend."""
    yield from _fresh_store(request.param, tmp_path, "create_all")


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_store(request: pytest.FixtureRequest, tmp_path):
    """A fresh Store whose schema was built by the Alembic migrations."""
    yield from _fresh_store(request.param, tmp_path, "migrate")
