"""Alembic migrations of the store (run with :meth:`compliance.storage.Store.migrate`)."""
