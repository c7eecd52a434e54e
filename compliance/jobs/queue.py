"""A durable job queue in the database: leases, bounded retries, deduplication.

A job is a row. A worker *claims* the oldest available job with one atomic statement
(``UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING`` on
PostgreSQL, so several workers share the queue without blocking each other; SQLite
serialises writers, so the same statement is atomic there). The claim is a *lease*: a
worker that dies (kill -9) simply stops renewing it, and once it expires another worker
claims the job again. Every claim counts as an attempt; a job whose attempts are used
up ends as ``failed`` with its last error. A ``dedup_key`` (for a scan: the content
hash and the policy) makes a second submission of the same work return the first job.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from compliance.errors import ComplianceError
from compliance.storage.models import JobRow
from compliance.storage.types import utcnow

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    kind: str
    payload: dict[str, Any]
    state: str
    attempts: int
    max_attempts: int
    lease_owner: str | None
    lease_expires_at: datetime | None
    last_error: str | None
    result: dict[str, Any] | None
    dedup_key: str | None
    created_at: datetime
    updated_at: datetime


def _new_values(
    kind: str, payload: dict[str, Any], dedup_key: str | None, max_attempts: int
) -> dict[str, Any]:
    now = utcnow()
    return {
        "id": str(uuid.uuid4()), "kind": kind, "payload": payload, "dedup_key": dedup_key,
        "state": QUEUED, "attempts": 0, "max_attempts": max_attempts, "available_at": now,
        "created_at": now, "updated_at": now,
    }  # fmt: skip


def _new_row(kind: str, payload: dict[str, Any], dedup_key: str | None, max_attempts: int):
    return JobRow(**_new_values(kind, payload, dedup_key, max_attempts))


_JOBS = JobRow.__table__


def _job(row: JobRow) -> Job:
    return Job(
        row.id, row.kind, dict(row.payload), row.state, row.attempts, row.max_attempts,
        row.lease_owner, row.lease_expires_at, row.last_error,
        dict(row.result) if row.result is not None else None, row.dedup_key,
        row.created_at, row.updated_at,
    )  # fmt: skip


class LeaseLost(ComplianceError):
    """The worker no longer holds the job (its lease expired and another took it)."""

    code = "job_lease_lost"


class JobQueue:
    """Jobs of one store.

    Parameters
    ----------
    store : compliance.storage.Store
    on_finish : callable, optional
        ``on_finish(session, row)`` for every job that reaches ``done`` or ``failed``
        (completed, failed for good, or its lease expired on the last attempt), called
        inside the transaction that ends the job: work it adds (a webhook delivery job)
        commits with the job's end or not at all.
    """

    def __init__(self, store, *, on_finish: Callable[[Any, JobRow], None] | None = None) -> None:
        self.store = store
        self.on_finish = on_finish

    def _finished(self, s, row: JobRow) -> None:
        if self.on_finish is not None:
            self.on_finish(s, row)

    def enqueue(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        dedup_key: str | None = None,
        max_attempts: int = 3,
    ) -> tuple[Job, bool]:
        """Add a job; returns ``(job, created)``. With a ``dedup_key`` already queued or
        done, the existing job comes back and nothing is added."""
        if dedup_key is not None:
            existing = self.by_dedup_key(dedup_key)
            if existing is not None:
                return existing, False
        row = _new_row(kind, payload, dedup_key, max_attempts)
        try:
            with self.store.session() as s, s.begin():
                s.add(row)
        except IntegrityError:
            if dedup_key is None:
                raise
            existing = self.by_dedup_key(dedup_key)  # lost a race with the same key
            assert existing is not None
            return existing, False
        return self.get(row.id), True

    @staticmethod
    def enqueue_in(
        s,
        kind: str,
        payload: dict[str, Any],
        *,
        dedup_key: str | None = None,
        max_attempts: int = 3,
    ) -> tuple[str, bool]:
        """Like :meth:`enqueue`, inside the caller's transaction (session ``s``), so a job
        is created together with the rows that refer to it; returns ``(job_id, created)``.

        A concurrent transaction adding the same ``dedup_key`` makes the caller's commit
        fail with ``IntegrityError``: retry the whole transaction, it then finds the job.
        """
        s.flush()  # what the caller added goes first, as an ORM autoflush would do
        conn = s.connection()  # plain SQL statements: the ORM's unit of work costs more
        if dedup_key is not None:  # CPU than the rest of a submission's transaction
            found = conn.execute(select(_JOBS.c.id).where(_JOBS.c.dedup_key == dedup_key)).scalar()
            if found is not None:
                return found, False
        values = _new_values(kind, payload, dedup_key, max_attempts)
        conn.execute(insert(_JOBS), values)
        return values["id"], True

    @staticmethod
    def new_values(
        kind: str, payload: dict[str, Any], *, dedup_key: str | None = None, max_attempts: int = 3
    ) -> dict[str, Any]:
        """The column values of a new queued job (a fresh id), for callers that insert
        it in a statement of their own (:func:`compliance.api.intake.create_release`)."""
        return _new_values(kind, payload, dedup_key, max_attempts)

    @staticmethod
    def requeue_in(s, job_id: str) -> bool:
        """Give a ``failed`` job a fresh set of attempts, inside the caller's transaction;
        False (nothing changed) if it is not failed."""
        row = s.get(JobRow, job_id, with_for_update=True)
        if row is None or row.state != FAILED:
            return False
        now = utcnow()
        row.state, row.attempts, row.available_at, row.updated_at = QUEUED, 0, now, now
        row.lease_owner, row.lease_expires_at = None, None
        return True

    def get(self, job_id: str) -> Job | None:
        with self.store.session() as s:
            row = s.get(JobRow, job_id)
            return _job(row) if row else None

    def by_dedup_key(self, key: str) -> Job | None:
        with self.store.session() as s:
            row = s.scalars(select(JobRow).where(JobRow.dedup_key == key)).first()
            return _job(row) if row else None

    def claim(
        self, worker: str, *, lease_s: float = 60.0, kinds: list[str] | None = None
    ) -> Job | None:
        """Lease the oldest available job (queued, or running with an expired lease).

        Jobs whose lease expired with no attempts left are marked failed on the way.
        """
        self._fail_exhausted()
        now = utcnow()
        available = or_(
            and_(JobRow.state == QUEUED, JobRow.available_at <= now),
            and_(
                JobRow.state == RUNNING,
                JobRow.lease_expires_at < now,
                JobRow.attempts < JobRow.max_attempts,
            ),
        )
        pick = select(JobRow.id).where(available)
        if kinds:
            pick = pick.where(JobRow.kind.in_(kinds))
        pick = pick.order_by(JobRow.available_at, JobRow.created_at).limit(1)
        if self.store.engine.dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        stmt = (
            update(JobRow)
            .where(JobRow.id == pick.scalar_subquery())
            .values(
                state=RUNNING,
                attempts=JobRow.attempts + 1,
                lease_owner=worker,
                lease_expires_at=now + timedelta(seconds=lease_s),
                updated_at=now,
            )
            .returning(JobRow.id)
        )
        with self.store.session() as s, s.begin():
            job_id = s.execute(stmt).scalar_one_or_none()
        return self.get(job_id) if job_id else None

    def _fail_exhausted(self) -> None:
        now = utcnow()
        with self.store.session() as s, s.begin():
            ended = s.scalars(
                update(JobRow)
                .where(
                    JobRow.state == RUNNING,
                    JobRow.lease_expires_at < now,
                    JobRow.attempts >= JobRow.max_attempts,
                )
                .values(
                    state=FAILED,
                    lease_owner=None,
                    updated_at=now,
                    last_error="lease expired on the last attempt (worker died or hung)",
                )
                .returning(JobRow.id)
            ).all()
            for job_id in ended if self.on_finish is not None else ():
                row = s.get(JobRow, job_id, populate_existing=True)
                if row is not None:
                    self._finished(s, row)

    def _owned(self, s, job_id: str, worker: str) -> JobRow:
        row = s.get(JobRow, job_id, with_for_update=True)
        if row is None or row.state != RUNNING or row.lease_owner != worker:
            raise LeaseLost(f"worker {worker} does not hold job {job_id}")
        return row

    def heartbeat(self, job_id: str, worker: str, *, lease_s: float = 60.0) -> None:
        """Extend the lease; :class:`LeaseLost` if the job was taken over."""
        with self.store.session() as s, s.begin():
            row = self._owned(s, job_id, worker)
            row.lease_expires_at = utcnow() + timedelta(seconds=lease_s)
            row.updated_at = utcnow()

    def complete(
        self,
        job_id: str,
        worker: str,
        result: dict[str, Any],
        *,
        also: Callable[[Any], None] | None = None,
    ) -> None:
        """Mark done with its result (only by the lease holder). ``also(session)`` writes
        what has to become visible together with the result, in the same transaction (a
        lost lease writes neither)."""
        with self.store.session() as s, s.begin():
            row = self._owned(s, job_id, worker)
            row.state, row.result, row.lease_owner = DONE, result, None
            row.lease_expires_at, row.updated_at = None, utcnow()
            if also is not None:
                also(s)
            self._finished(s, row)

    def fail(
        self,
        job_id: str,
        worker: str,
        error: str,
        *,
        retry_in_s: float = 5.0,
        permanent: bool = False,
        result: dict[str, Any] | None = None,
    ) -> Job:
        """Record an error: back to the queue after ``retry_in_s`` (doubling per attempt)
        while attempts remain, else ``failed`` for good. ``permanent`` fails it for good
        at once (an error that a retry cannot fix, such as undecodable audio), keeping
        ``result`` if given."""
        with self.store.session() as s, s.begin():
            row = self._owned(s, job_id, worker)
            now = utcnow()
            row.last_error, row.lease_owner, row.lease_expires_at = error[:2000], None, None
            row.updated_at = now
            if result is not None:
                row.result = result
            if permanent or row.attempts >= row.max_attempts:
                row.state = FAILED
                self._finished(s, row)
            else:
                row.state = QUEUED
                row.available_at = now + timedelta(seconds=retry_in_s * 2 ** (row.attempts - 1))
        job = self.get(job_id)
        assert job is not None
        return job

    def oldest_queued_age_s(self) -> float:
        """Seconds since the oldest queued job was created (0.0 when none is queued)."""
        from sqlalchemy import func

        with self.store.session() as s:
            oldest = s.execute(
                select(func.min(JobRow.created_at)).where(JobRow.state == QUEUED)
            ).scalar()
        if oldest is None:
            return 0.0
        if oldest.tzinfo is None:  # SQLite hands back naive UTC
            oldest = oldest.replace(tzinfo=UTC)
        return max(0.0, (utcnow() - oldest).total_seconds())

    def counts(self) -> dict[str, int]:
        """Jobs per state (for health and metrics)."""
        from sqlalchemy import func

        with self.store.session() as s:
            rows = s.execute(select(JobRow.state, func.count()).group_by(JobRow.state)).all()
        return {state: int(n) for state, n in rows}
