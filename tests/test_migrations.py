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

    s = Store(f"sqlite:///{tmp_path / 'old.db'}")
    s.create_all()  # as stores were made before migrations existed
    s.migrate()
    with s.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0004"
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
