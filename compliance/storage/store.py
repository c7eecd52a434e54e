"""The store: narrow repository methods over SQLAlchemy (SQLite default, PostgreSQL).

Each method is one short transaction and returns plain values from ``records``; no ORM
object or session leaves this module (``session()`` exists for migrations and tests).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import create_engine, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from compliance.errors import CatalogueError, ConfigError
from compliance.storage.models import (
    Base,
    CatalogueTrackRow,
    IndexSegmentRow,
    ScanRow,
    SignalRow,
)
from compliance.storage.records import (
    CatalogueTrack,
    CatalogueTrackIn,
    ScanRecord,
    Segment,
    SegmentIn,
)

__all__ = ["CatalogueTrack", "CatalogueTrackIn", "ScanRecord", "Segment", "SegmentIn", "Store"]

SQLITE_BUSY_TIMEOUT_S = 30


def _track(row: CatalogueTrackRow) -> CatalogueTrack:
    return CatalogueTrack(
        id=row.id, content_hash=row.content_hash, duration_s=row.duration_s, title=row.title,
        artist=row.artist, source_path=row.source_path, added_by=row.added_by,
        added_at=row.added_at, bank=row.bank, disabled=row.disabled,
        disabled_reason=row.disabled_reason, disabled_at=row.disabled_at,
    )  # fmt: skip


def _segment(row: IndexSegmentRow) -> Segment:
    return Segment(
        name=row.name, signal=row.signal, signal_version=row.signal_version,
        track_ids=list(row.track_ids), n_hashes=row.n_hashes, created_at=row.created_at,
    )  # fmt: skip


def _segment_row(seg: SegmentIn) -> IndexSegmentRow:
    return IndexSegmentRow(
        name=seg.name, signal=seg.signal, signal_version=seg.signal_version,
        track_ids=[str(t) for t in seg.track_ids], n_hashes=int(seg.n_hashes),
    )  # fmt: skip


def _scan(row: ScanRow) -> ScanRecord:
    return ScanRecord(
        id=row.id, file=row.file, content_hash=row.content_hash, decision=row.decision,
        policy_id=row.policy_id, policy_version=row.policy_version,
        policy_hash=row.policy_hash, evidence=row.evidence, rules_fired=row.rules_fired,
        detectors=row.detectors, thresholds=row.thresholds,
        release_metadata=row.release_metadata, created_at=row.created_at,
    )  # fmt: skip


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """Per-connection SQLite setup: WAL (readers never block the writer), FK checks, waits."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    cur.close()


#: A pooled connection idle this long is pinged before use (see :class:`Store`).
PING_IDLE_S = 10.0


def _checked_in(_dbapi_conn: Any, record: Any) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(engine):
    def checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        at = record.info.get("checked_in_at")
        if at is None or time.monotonic() - at < PING_IDLE_S:
            return  # just connected, or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # the pool discards it and connects again
            raise DisconnectionError(f"stale pooled connection: {exc}") from exc

    return checkout


SCHEMA_HEAD = "0010"
"""The newest migration's revision (a test checks it against the migrations folder)."""


def alembic_config():
    """Alembic configuration pointing at the packaged migrations (no alembic.ini)."""
    from pathlib import Path

    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return cfg


class Store:
    """Repositories over one database URL.

    Parameters
    ----------
    url : str
        SQLAlchemy URL: ``sqlite:///path`` (WAL, foreign keys, busy timeout; the folder
        must exist) or ``postgresql+psycopg://user@host/db``.
    pool_size : int
        PostgreSQL: connections kept open (plus up to 10 overflow ones, closed when
        returned). A connection idle for :data:`PING_IDLE_S` or more is pinged before use
        and replaced if dead; a busy one is not (``pool_pre_ping`` cost one round trip per
        checkout, about a tenth of a status read's). Right after a database restart a
        connection used within those seconds fails once (an error answer); the error
        makes the pool renew all its connections.
    **engine_kwargs
        Passed to :func:`sqlalchemy.create_engine` (tests set ``connect_args`` with a
        PostgreSQL ``search_path``).
    """

    def __init__(self, url: str, *, pool_size: int = 20, **engine_kwargs: Any) -> None:
        self.url = url
        self.backend = make_url(url).get_backend_name()
        if self.backend == "sqlite":
            engine_kwargs.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT_S})
        elif "poolclass" not in engine_kwargs:
            engine_kwargs.setdefault("pool_size", pool_size)
            engine_kwargs.setdefault("max_overflow", 10)
        self.engine = create_engine(url, **engine_kwargs)
        if self.backend == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        elif not engine_kwargs.get("pool_pre_ping"):
            event.listen(self.engine, "checkin", _checked_in)
            event.listen(self.engine, "checkout", _ping_if_idle(self.engine))
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def create_all(self) -> None:
        """Create missing tables directly from the models (tests and throwaway stores;
        real databases use :meth:`migrate`)."""
        Base.metadata.create_all(self.engine)

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` with the Alembic migrations in
        ``compliance/storage/migrations`` (idempotent).

        A database already at :data:`SCHEMA_HEAD` is recognised with one query, without
        importing Alembic (0.1-0.2 CPU-s of every command's start-up). New databases go
        through the migrations like any other, so the migrations are the only schema.
        """
        if revision == "head" and self._at_head():
            return
        from alembic import command
        from alembic.autogenerate import compare_metadata
        from alembic.migration import MigrationContext
        from sqlalchemy import inspect

        with self.engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            tables = set(inspect(conn).get_table_names())
            if ctx.get_current_revision() is None and "catalogue_tracks" in tables:
                # A store created without migrations (create_all): adopt it when it
                # matches the current models exactly, refuse to guess otherwise.
                if compare_metadata(ctx, Base.metadata):
                    raise ConfigError(
                        "the database has tables but no migration history and does not "
                        "match the current schema; migrate it by hand or start a new store",
                        code="database_unversioned",
                    )
                command.stamp(cfg, "head")
            command.upgrade(cfg, revision)

    def _at_head(self) -> bool:
        """Whether ``alembic_version`` holds exactly :data:`SCHEMA_HEAD`."""
        from sqlalchemy import inspect, text
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with self.engine.connect() as conn:
                if not inspect(conn).has_table("alembic_version"):
                    return False
                rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        except SQLAlchemyError:
            return False
        return [tuple(r) for r in rows] == [(SCHEMA_HEAD,)]

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def session(self) -> Session:
        """A new ORM session (for migrations and tests; repositories use their own)."""
        return self._session()

    @contextmanager
    def reader(self) -> Iterator[Session]:
        """An ORM session on an autocommit connection, for reads of one statement each
        (a statement is its own snapshot): no BEGIN and no ROLLBACK round trips, so a
        single-query read costs one round trip. Writes do not belong here."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            with Session(conn, expire_on_commit=False) as s:
                yield s

    # ---------------------------------------------------------------- catalogue
    def ingest_catalogue(
        self,
        tracks: Sequence[CatalogueTrackIn],
        *,
        segment: SegmentIn | None,
        extra_segments: Sequence[SegmentIn] = (),
    ) -> None:
        """Insert ``tracks`` and the index ``segment`` that covers them (and the segments
        of other signals in ``extra_segments``, such as the cover index), all or nothing.

        Raises
        ------
        CatalogueError
            ``catalogue_duplicate_id`` if an id is already stored or repeated in the batch;
            ``catalogue_conflict`` for any other constraint (same audio under another id,
            a segment name already recorded). Nothing is written in either case.
        """
        ids = [t.id for t in tracks]
        if len(set(ids)) != len(ids):
            raise CatalogueError(
                "duplicate catalogue id in one batch", code="catalogue_duplicate_id"
            )
        try:
            with self.session() as s, s.begin():
                taken = self._existing_ids(s, ids)
                if taken:
                    raise _duplicate_ids(taken)
                s.add_all(
                    CatalogueTrackRow(
                        id=t.id, title=t.title, artist=t.artist,
                        content_hash=t.content_hash, source_path=t.source_path,
                        duration_s=float(t.duration_s), added_by=t.added_by, bank=t.bank,
                    )
                    for t in tracks
                )  # fmt: skip
                if segment is not None:
                    s.add(_segment_row(segment))
                s.add_all(_segment_row(x) for x in extra_segments)
        except IntegrityError as exc:
            # A concurrent writer may have taken an id after our check: report it as such.
            with self.session() as s:
                taken = self._existing_ids(s, ids)
            if taken:
                raise _duplicate_ids(taken) from None
            first = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            raise CatalogueError(
                f"catalogue write refused by the database: {first}", code="catalogue_conflict"
            ) from None

    @staticmethod
    def _existing_ids(s: Session, ids: Sequence[str]) -> list[str]:
        found: list[str] = []
        for start in range(0, len(ids), 500):  # stay under bound-parameter limits
            chunk = list(ids[start : start + 500])
            found += s.scalars(
                select(CatalogueTrackRow.id).where(CatalogueTrackRow.id.in_(chunk))
            ).all()
        return sorted(found)

    def get_track(self, track_id: str) -> CatalogueTrack | None:
        """The entry with this catalogue id (disabled or not), or None."""
        with self.session() as s:
            row = s.get(CatalogueTrackRow, track_id)
            return _track(row) if row else None

    def find_track_by_hash(self, content_hash: str) -> CatalogueTrack | None:
        """The entry holding this exact audio (disabled or not), or None."""
        with self.session() as s:
            row = s.scalars(
                select(CatalogueTrackRow).where(CatalogueTrackRow.content_hash == content_hash)
            ).first()
            return _track(row) if row else None

    def list_tracks(self, *, include_disabled: bool = False) -> list[CatalogueTrack]:
        """Entries ordered by id; disabled ones only when ``include_disabled``."""
        with self.session() as s:
            q = select(CatalogueTrackRow).order_by(CatalogueTrackRow.id)
            if not include_disabled:
                q = q.where(CatalogueTrackRow.disabled.is_(False))
            return [_track(r) for r in s.scalars(q)]

    def list_tracks_page(
        self, *, after: str | None = None, limit: int = 100
    ) -> list[CatalogueTrack]:
        """Up to ``limit`` entries (disabled ones included) with an id after ``after``, by
        id (keyset pagination: stable while entries are added)."""
        with self.session() as s:
            q = select(CatalogueTrackRow).order_by(CatalogueTrackRow.id).limit(limit)
            if after is not None:
                q = q.where(CatalogueTrackRow.id > after)
            return [_track(r) for r in s.scalars(q)]

    def catalogue_state(self) -> tuple[Any, ...]:
        """A cheap token that changes whenever what a catalogue index view shows changes:
        the live segment names, and the number and latest time of disablings."""
        with self.session() as s:
            names = tuple(sorted(s.scalars(select(IndexSegmentRow.name))))
            n, last = s.execute(
                select(func.count(), func.max(CatalogueTrackRow.disabled_at)).where(
                    CatalogueTrackRow.disabled.is_(True)
                )
            ).one()
            return names, int(n or 0), last.isoformat() if last is not None else None

    def active_track_ids(self) -> set[str]:
        """Ids of the entries that may match (not disabled)."""
        with self.session() as s:
            return set(
                s.scalars(select(CatalogueTrackRow.id).where(CatalogueTrackRow.disabled.is_(False)))
            )

    def count_tracks(self) -> int:
        """Number of entries, disabled ones included."""
        with self.session() as s:
            return int(s.scalar(select(func.count()).select_from(CatalogueTrackRow)) or 0)

    def disable_track(self, track_id: str, *, reason: str) -> None:
        """Stop matching an entry; the row and past decisions stay.

        Disabling an entry that is already disabled records the new reason and time.
        Raises :class:`CatalogueError` ``catalogue_unknown_id`` for an unknown id.
        """
        with self.session() as s, s.begin():
            row = s.get(CatalogueTrackRow, track_id)
            if row is None:
                raise CatalogueError(
                    f"no catalogue entry '{track_id}'", code="catalogue_unknown_id"
                )
            row.disabled = True
            row.disabled_reason = reason
            row.disabled_at = datetime.now(UTC)

    # ---------------------------------------------------------------- index segments
    def list_segments(self, signal: str, signal_version: str) -> list[Segment]:
        """Live segments of one signal version, oldest first."""
        with self.session() as s:
            rows = s.scalars(
                select(IndexSegmentRow)
                .where(IndexSegmentRow.signal == signal)
                .where(IndexSegmentRow.signal_version == signal_version)
                .order_by(IndexSegmentRow.created_at, IndexSegmentRow.name)
            )
            return [_segment(r) for r in rows]

    def segment_names(self) -> set[str]:
        """Names of every recorded index segment, of any signal and version."""
        with self.session() as s:
            return set(s.scalars(select(IndexSegmentRow.name)))

    def replace_segments(self, old: Sequence[str], new: SegmentIn) -> None:
        """Swap compacted segments for their merge in one transaction.

        Raises :class:`CatalogueError` ``catalogue_conflict`` (nothing changed) if any of
        ``old`` is no longer recorded, i.e. another process compacted first.
        """
        with self.session() as s, s.begin():
            found = list(
                s.scalars(select(IndexSegmentRow).where(IndexSegmentRow.name.in_(list(old))))
            )
            if len(found) != len(set(old)):
                raise CatalogueError(
                    "index segments changed during compaction", code="catalogue_conflict"
                )
            for r in found:
                s.delete(r)
            s.flush()  # delete before insert: the merge may reuse a name
            s.add(_segment_row(new))

    # ---------------------------------------------------------------- signals
    def put_signal(
        self, content_hash: str, name: str, version: str, data: bytes, meta: dict[str, Any]
    ) -> None:
        """Store (or replace) the extracted signal ``name``/``version`` of some audio."""
        with self.session() as s, s.begin():
            s.merge(SignalRow(content_hash=content_hash, name=name, version=version,
                              data=bytes(data), meta=dict(meta)))  # fmt: skip

    def get_signal(
        self, content_hash: str, name: str, version: str
    ) -> tuple[bytes, dict[str, Any]] | None:
        """``(data, meta)`` of a cached signal, or None if never extracted."""
        with self.session() as s:
            row = s.get(SignalRow, (content_hash, name, version))
            return (bytes(row.data), dict(row.meta or {})) if row else None

    # ---------------------------------------------------------------- scans
    def record_scan(self, scan: ScanRecord) -> str:
        """Persist one decision; returns its id (``scan.id`` or a new UUID)."""
        scan_id = scan.id or str(uuid.uuid4())
        with self.session() as s, s.begin():
            s.add(ScanRow(
                id=scan_id, file=scan.file, content_hash=scan.content_hash,
                decision=scan.decision, policy_id=scan.policy_id,
                policy_version=scan.policy_version, policy_hash=scan.policy_hash,
                evidence=scan.evidence, rules_fired=scan.rules_fired, detectors=scan.detectors,
                thresholds=scan.thresholds, release_metadata=scan.release_metadata,
                **({"created_at": scan.created_at} if scan.created_at else {}),
            ))  # fmt: skip
        return scan_id

    def get_scan(self, scan_id: str) -> ScanRecord | None:
        """The stored decision with this id, or None."""
        with self.session() as s:
            row = s.get(ScanRow, scan_id)
            return _scan(row) if row else None

    def list_scans(self, limit: int = 100) -> list[ScanRecord]:
        """The latest ``limit`` decisions, newest first."""
        with self.session() as s:
            rows = s.scalars(
                select(ScanRow).order_by(ScanRow.created_at.desc(), ScanRow.id).limit(limit)
            )
            return [_scan(r) for r in rows]


def _duplicate_ids(taken: Sequence[str]) -> CatalogueError:
    more = f" (+{len(taken) - 5} more)" if len(taken) > 5 else ""
    return CatalogueError(
        f"catalogue id already exists: {', '.join(taken[:5])}{more}",
        code="catalogue_duplicate_id",
    )
