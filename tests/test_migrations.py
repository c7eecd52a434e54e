"""Alembic migrations build exactly the schema of the models, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from compliance.storage.models import Base


def test_migrations_match_the_models_and_are_idempotent(migrated_store):
    store = migrated_store
    store.migrate()  # a second run changes nothing
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert ctx.get_current_revision() is not None
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def test_an_unversioned_store_that_matches_is_adopted(tmp_path):
    from compliance.storage import Store
    from compliance.storage.store import SCHEMA_HEAD

    s = Store(f"sqlite:///{tmp_path / 'old.db'}")
    s.create_all()  # as stores were made before migrations existed
    s.migrate()
    with s.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == SCHEMA_HEAD
    s.close()


def test_schema_head_is_the_newest_migration():
    from alembic.script import ScriptDirectory

    from compliance.storage.store import SCHEMA_HEAD, alembic_config

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == SCHEMA_HEAD


def test_a_store_at_head_is_recognised_and_an_older_one_upgraded(tmp_path):
    from sqlalchemy import text

    from compliance.storage import Store

    s = Store(f"sqlite:///{tmp_path / 'c.db'}")
    assert not s._at_head()
    s.migrate()
    assert s._at_head()
    old = Store(f"sqlite:///{tmp_path / 'old.db'}")
    old.migrate("0001")  # a store of the first release
    s.close()
    s = old
    with s.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0001"
    assert not s._at_head()
    s.migrate()
    assert s._at_head()
    with s.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, Base.metadata) == []
    s.close()


def test_0005_adds_a_nullable_key_rate_and_keeps_existing_keys(migrated_store):
    """From 0004 (keys without a rate column) to 0005 and back, on both backends."""
    from alembic import command
    from sqlalchemy import inspect, text

    from compliance.storage.store import SCHEMA_HEAD, alembic_config

    def run(fn, revision):
        with migrated_store.engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            fn(cfg, revision)

    def columns():
        with migrated_store.engine.connect() as conn:
            return {c["name"] for c in inspect(conn).get_columns("api_keys")}

    run(command.downgrade, "0004")
    assert "rate_limit" not in columns()
    with migrated_store.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO api_keys (id, name, scopes, secret_sha256, created_at) "
            "VALUES ('k1', 'old', '[\"read\"]', :sha, CURRENT_TIMESTAMP)"
        ), {"sha": "0" * 64})  # fmt: skip
    run(command.upgrade, SCHEMA_HEAD)
    assert "rate_limit" in columns()

    def keys():
        with migrated_store.engine.connect() as conn:
            return conn.execute(text("SELECT id, rate_limit FROM api_keys")).all()

    assert [tuple(r) for r in keys()] == [("k1", None)]  # NULL: the settings default
    with migrated_store.engine.begin() as conn:
        conn.execute(text("UPDATE api_keys SET rate_limit = '600/min'"))
    assert [tuple(r) for r in keys()] == [("k1", "600/min")]
    run(command.downgrade, "0004")  # the downgrade drops the column, keeps the key
    assert "rate_limit" not in columns()
    run(command.upgrade, SCHEMA_HEAD)
    assert [tuple(r) for r in keys()] == [("k1", None)]


def test_0008_settles_submissions_accepted_before_it_as_without_account_evidence(
    migrated_store,
):
    """Old submissions must not be recorded in the history on their next read."""
    from datetime import UTC, datetime

    from alembic import command
    from sqlalchemy import insert, select

    from compliance.storage.models import JobRow, ReleaseFileRow, ReleaseRow
    from compliance.storage.store import SCHEMA_HEAD, alembic_config

    def run(fn, revision):
        with migrated_store.engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            fn(cfg, revision)

    run(command.downgrade, "0007")
    now = datetime.now(UTC)
    with migrated_store.engine.begin() as conn:  # Core inserts name only 0007's columns
        conn.execute(insert(JobRow.__table__).values(
            id="j1", kind="scan", payload={}, state="done", attempts=1, max_attempts=3,
            available_at=now, created_at=now, updated_at=now))  # fmt: skip
        conn.execute(insert(ReleaseRow.__table__).values(id="r1", metadata={}, created_at=now))
        conn.execute(insert(ReleaseFileRow.__table__).values(
            id="s1", release_id="r1", position=0, file="a.wav", content_hash="sha256:x",
            size_bytes=1, job_id="j1", created_at=now))  # fmt: skip
    run(command.upgrade, SCHEMA_HEAD)
    with migrated_store.engine.connect() as conn:
        got = conn.execute(select(ReleaseFileRow.__table__.c.account_evidence)).scalar_one()
    assert got == []
