"""Status reads and the intake's insert on the event loop (PostgreSQL): no worker
thread, no ORM.

``GET /v1/scans/{id}`` is the API's most frequent request (an intake pipeline polls each
scan until it ends). Answered by a sync route, each read took a thread hop (a worker
thread of the pool woken, the event loop woken again through its self-pipe) and went
through SQLAlchemy's statement cache; measured on the 2-core machine of
``scripts/loadtest.py``, a read of a queued scan cost about 1.5 ms of the API's CPU, and
under load the reads were most of the API's work. Here the read is one query on an
autocommit connection of an asynchronous psycopg pool (``psycopg_pool``, the psycopg
project's own pool: reconnection, health checks and size limits are its job), awaited
on the event loop.

A submission's release of new audio is one statement as well
(:func:`compliance.api.intake.new_release_statement`), run here after the upload was
parsed and stored in a worker thread, instead of in that thread through SQLAlchemy:
the API's context switches per submission fell from 55 to 40 (``scripts/api_cpu.py``)
and the load test's median submission by 4-8 ms (``scripts/loadtest.py``, 4 alternated
pairs); see docs/benchmarks.md.

SQLite (the embedded default) keeps the sync path: its driver has no asynchronous
interface, and it has no network round trip to overlap.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from compliance.api.errors import ApiError

log = logging.getLogger(__name__)

#: Seconds a read waits for a free connection before answering 503.
POOL_TIMEOUT_S = 5.0


def libpq_conninfo(sqlalchemy_url: str) -> str:
    """The libpq URI of a SQLAlchemy PostgreSQL URL (``postgresql+psycopg://`` ->
    ``postgresql://``; the query, e.g. ``options=-csearch_path=...``, is kept)."""
    from sqlalchemy.engine import make_url

    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class AsyncReader:
    """A pool of autocommit connections for single statements on the event loop.

    Parameters
    ----------
    conninfo : str
        A libpq connection string or URI (:func:`libpq_conninfo`).
    max_size : int
        Connections at most (the reads in flight at once; more wait up to
        :data:`POOL_TIMEOUT_S`).
    """

    def __init__(self, conninfo: str, *, max_size: int) -> None:
        from psycopg_pool import AsyncConnectionPool

        # A fixed size: every connection is made when the pool opens, not by the first
        # burst of reads (each new PostgreSQL connection is a backend process to start:
        # measured, 20 concurrent first reads waited 20-29 ms for the pool to grow).
        self.pool = AsyncConnectionPool(
            conninfo, min_size=max_size, max_size=max_size, open=False, timeout=POOL_TIMEOUT_S,
            kwargs={"autocommit": True}, name="event-loop",
        )  # fmt: skip

    async def open(self) -> None:
        """Open the pool (its connections are made in the background: a database that is
        down delays the reads, not the start)."""
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    async def one(self, sql: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """The first row of ``sql`` as a dict (column name -> value), or None.

        Raises :class:`ApiError` 503 ``database_unavailable`` when the database cannot be
        reached or no connection frees up in time (as the sync routes answer).
        """
        from psycopg.rows import dict_row

        async with self._connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(sql, params)
            return await cur.fetchone()

    async def count_rows(self, sql: str, params: dict[str, Any]) -> int:
        """Run one statement (autocommit: it is its own transaction) and count the rows
        it returns: the intake's one-statement release (``new_release_statement``), whose
        ``RETURNING`` rows say whether it recorded the release. Errors as :meth:`one`."""
        async with self._connection() as conn:
            cur = conn.cursor()
            await cur.execute(sql, params)
            return len(await cur.fetchall())

    @contextlib.asynccontextmanager
    async def _connection(self):
        """A pooled connection; the database's absence is a 503, not a 500."""
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            async with self.pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            log.warning("database call on the event loop failed: %s", exc)
            raise ApiError(
                503, "database_unavailable", "the database is not reachable; retry later"
            ) from None
