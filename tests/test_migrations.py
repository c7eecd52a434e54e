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
    with s.engine.begin() as conn:
        conn.execute(text("DROP TABLE jobs"))
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    assert not s._at_head()
    s.migrate()
    assert s._at_head()
    with s.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, Base.metadata) == []
    s.close()


def test_a_new_sqlite_store_gets_exactly_the_migrated_schema(tmp_path):
    """The Alembic-free creation of a new SQLite store gives the schema that
    ``alembic upgrade head`` gives, statement for statement."""
    from sqlalchemy import text

    from compliance.storage import Store
    from compliance.storage.store import SCHEMA_HEAD

    def schema(store):
        with store.engine.connect() as conn:
            rows = conn.execute(text("SELECT type, name, tbl_name, sql FROM sqlite_master"))
            return sorted(tuple(r) for r in rows)

    fast = Store(f"sqlite:///{tmp_path / 'fast.db'}")
    assert fast._create_new_sqlite()
    assert not fast._create_new_sqlite()  # only ever on an empty database
    assert fast._at_head()
    slow = Store(f"sqlite:///{tmp_path / 'slow.db'}")
    slow.migrate(SCHEMA_HEAD)  # an explicit revision always runs Alembic
    assert schema(fast) == schema(slow)
    fast.migrate()  # and Alembic agrees that it is at head
    with fast.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert ctx.get_current_revision() == SCHEMA_HEAD
        assert compare_metadata(ctx, Base.metadata) == []
    fast.close()
    slow.close()
