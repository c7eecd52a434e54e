"""Shared fixtures: a Store on SQLite and, when reachable, on PostgreSQL."""

from __future__ import annotations

import os
import uuid

import pytest

PG_URL = os.environ.get(
    "COMPLIANCE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _pg_reason() -> str | None:
    try:
        import sqlalchemy as sa

        eng = sa.create_engine(PG_URL, connect_args={"connect_timeout": 2})
        with eng.connect() as c:
            c.execute(sa.text("select 1"))
        eng.dispose()
        return None
    except Exception as exc:  # any failure means: skip, and say why
        return f"PostgreSQL not reachable at {PG_URL}: {type(exc).__name__}"


_PG_SKIP = _pg_reason()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """A fresh, empty Store; PostgreSQL tests use a schema of their own, dropped after."""
    from compliance.storage import Store

    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'test.db'}")
        s.create_all()
        yield s
        s.close()
        return
    if _PG_SKIP:
        pytest.skip(_PG_SKIP)
    import sqlalchemy as sa

    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as c:
        c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    s = Store(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    s.create_all()
    try:
        yield s
    finally:
        s.close()
        with admin.begin() as c:
            c.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
