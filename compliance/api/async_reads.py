"""Status reads on the event loop (PostgreSQL): no worker thread, no ORM.

``GET /v1/scans/{id}`` is the API's most frequent request (an intake pipeline polls each
scan until it ends). Answered by a sync route, each read took a thread hop (a worker
thread of the pool woken, the event loop woken again through its self-pipe) and went
through SQLAlchemy's statement cache; measured on the 2-core machine of
``scripts/loadtest.py``, a read of a queued scan cost about 1.5 ms of the API's CPU, and
under load the reads were most of the API's work. Here the read is one query on an
autocommit connection of an asynchronous psycopg pool (``psycopg_pool``, the psycopg
project's own pool: reconnection, health checks and size limits are its job), awaited
on the event loop.

SQLite (the embedded default) keeps the sync path: its driver has no asynchronous
interface, and it has no network round trip to overlap.
"""

from __future__ import annotations

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
    """A pool of autocommit connections for single-statement reads on the event loop.

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
            kwargs={"autocommit": True}, name="status-reads",
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
        import psycopg
        from psycopg.rows import dict_row
        from psycopg_pool import PoolTimeout

        try:
            async with self.pool.connection() as conn:
                cur = conn.cursor(row_factory=dict_row)
                await cur.execute(sql, params)
                return await cur.fetchone()
        except (psycopg.OperationalError, PoolTimeout) as exc:
            log.warning("status read failed: %s", exc)
            raise ApiError(
                503, "database_unavailable", "the database is not reachable; retry later"
            ) from None
