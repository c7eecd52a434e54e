"""The store: narrow repository methods over SQLAlchemy (SQLite default, PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import create_engine, event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from compliance.errors import CatalogueError
from compliance.storage.models import (
    Base,
    CatalogueTrackRow,
    IndexSegmentRow,
    ScanRow,
    SignalRow,
)


@dataclass(frozen=True, slots=True)
class CatalogueTrackIn:
    id: str
    content_hash: str
    duration_s: float
    title: str | None = None
    artist: str | None = None
    source_path: str | None = None
    added_by: str | None = None
    bank: str = "catalogue"


@dataclass(frozen=True, slots=True)
class CatalogueTrack:
    id: str
    content_hash: str
    duration_s: float
    title: str | None
    artist: str | None
    source_path: str | None
    added_by: str | None
    added_at: datetime | None
    bank: str
    disabled: bool
    disabled_reason: str | None


@dataclass(frozen=True, slots=True)
class SegmentIn:
    name: str
    signal: str
    signal_version: str
    track_ids: list[str]
    n_hashes: int


@dataclass(frozen=True, slots=True)
class Segment:
    name: str
    signal: str
    signal_version: str
    track_ids: list[str]
    n_hashes: int
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class ScanRecord:
    """One stored decision with everything needed to explain it later."""

    id: str | None
    file: str
    content_hash: str
    decision: str
    policy_id: str
    policy_version: str
    policy_hash: str
    evidence: list[dict[str, Any]]
    rules_fired: list[dict[str, Any]]
    detectors: dict[str, str]
    thresholds: dict[str, Any]
    release_metadata: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None


def _track(row: CatalogueTrackRow) -> CatalogueTrack:
    return CatalogueTrack(
        id=row.id, content_hash=row.content_hash, duration_s=row.duration_s, title=row.title,
        artist=row.artist, source_path=row.source_path, added_by=row.added_by,
        added_at=row.added_at, bank=row.bank, disabled=row.disabled,
        disabled_reason=row.disabled_reason,
    )  # fmt: skip


def _scan(row: ScanRow) -> ScanRecord:
    return ScanRecord(
        id=row.id, file=row.file, content_hash=row.content_hash, decision=row.decision,
        policy_id=row.policy_id, policy_version=row.policy_version,
        policy_hash=row.policy_hash, evidence=row.evidence, rules_fired=row.rules_fired,
        detectors=row.detectors, thresholds=row.thresholds,
        release_metadata=row.release_metadata, created_at=row.created_at,
    )  # fmt: skip


class Store:
    """Repositories over one database URL.

    Parameters
    ----------
    url : str
        SQLAlchemy URL: ``sqlite:///path`` (WAL, foreign keys, busy timeout) or
        ``postgresql+psycopg://...``.
    engine_kwargs : dict
        Passed to :func:`sqlalchemy.create_engine` (tests set a schema search path).
    """

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        if url.startswith("sqlite"):
            engine_kwargs.setdefault("connect_args", {"timeout": 30})
        self.engine = create_engine(url, **engine_kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    def create_all(self) -> None:
        Base.metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def session(self) -> Session:
        return self._session()

    # ---------------------------------------------------------------- catalogue
    def ingest_catalogue(
        self, tracks: Sequence[CatalogueTrackIn], *, segment: SegmentIn | None
    ) -> None:
        """Insert tracks and their index segment in one transaction (all or nothing)."""
        with self.session() as s:
            try:
                with s.begin():
                    ids = [t.id for t in tracks]
                    if len(set(ids)) != len(ids):
                        raise CatalogueError(
                            "duplicate catalogue id in one batch", code="catalogue_duplicate_id"
                        )
                    taken = s.scalars(
                        select(CatalogueTrackRow.id).where(CatalogueTrackRow.id.in_(ids))
                    ).all()
                    if taken:
                        raise CatalogueError(
                            f"catalogue id already exists: {', '.join(sorted(taken)[:5])}",
                            code="catalogue_duplicate_id",
                        )
                    for t in tracks:
                        s.add(CatalogueTrackRow(
                            id=t.id, title=t.title, artist=t.artist,
                            content_hash=t.content_hash, source_path=t.source_path,
                            duration_s=float(t.duration_s), added_by=t.added_by, bank=t.bank,
                        ))  # fmt: skip
                    if segment is not None:
                        s.add(IndexSegmentRow(
                            name=segment.name, signal=segment.signal,
                            signal_version=segment.signal_version,
                            track_ids=list(segment.track_ids), n_hashes=int(segment.n_hashes),
                        ))  # fmt: skip
            except IntegrityError as exc:
                raise CatalogueError(
                    f"catalogue write refused by the database: {exc.orig}",
                    code="catalogue_conflict",
                ) from None

    def get_track(self, track_id: str) -> CatalogueTrack | None:
        with self.session() as s:
            row = s.get(CatalogueTrackRow, track_id)
            return _track(row) if row else None

    def find_track_by_hash(self, content_hash: str) -> CatalogueTrack | None:
        with self.session() as s:
            row = s.scalars(
                select(CatalogueTrackRow).where(CatalogueTrackRow.content_hash == content_hash)
            ).first()
            return _track(row) if row else None

    def list_tracks(self, *, include_disabled: bool = False) -> list[CatalogueTrack]:
        with self.session() as s:
            q = select(CatalogueTrackRow).order_by(CatalogueTrackRow.id)
            if not include_disabled:
                q = q.where(CatalogueTrackRow.disabled.is_(False))
            return [_track(r) for r in s.scalars(q)]

    def active_track_ids(self) -> set[str]:
        with self.session() as s:
            return set(
                s.scalars(select(CatalogueTrackRow.id).where(CatalogueTrackRow.disabled.is_(False)))
            )

    def count_tracks(self) -> int:
        with self.session() as s:
            return int(s.scalar(select(func.count()).select_from(CatalogueTrackRow)) or 0)

    def disable_track(self, track_id: str, *, reason: str) -> None:
        """Stop matching an entry; the row and past decisions stay."""
        with self.session() as s, s.begin():
            row = s.get(CatalogueTrackRow, track_id)
            if row is None:
                raise CatalogueError(
                    f"no catalogue entry '{track_id}'", code="catalogue_unknown_id"
                )
            row.disabled = True
            row.disabled_reason = reason
            row.disabled_at = datetime.now(UTC)

    def list_segments(self, signal: str, signal_version: str) -> list[Segment]:
        with self.session() as s:
            rows = s.scalars(
                select(IndexSegmentRow)
                .where(IndexSegmentRow.signal == signal)
                .where(IndexSegmentRow.signal_version == signal_version)
                .order_by(IndexSegmentRow.created_at, IndexSegmentRow.name)
            )
            return [
                Segment(
                    r.name, r.signal, r.signal_version, list(r.track_ids), r.n_hashes, r.created_at
                )
                for r in rows
            ]

    def segment_names(self) -> set[str]:
        """Names of every recorded index segment, of any signal and version."""
        with self.session() as s:
            return set(s.scalars(select(IndexSegmentRow.name)))

    def replace_segments(self, old: Sequence[str], new: SegmentIn) -> None:
        """Swap compacted segments for their merge in one transaction."""
        with self.session() as s, s.begin():
            rows = s.scalars(select(IndexSegmentRow).where(IndexSegmentRow.name.in_(list(old))))
            found = list(rows)
            if len(found) != len(set(old)):
                raise CatalogueError(
                    "index segments changed during compaction", code="catalogue_conflict"
                )
            for r in found:
                s.delete(r)
            s.add(IndexSegmentRow(
                name=new.name, signal=new.signal, signal_version=new.signal_version,
                track_ids=list(new.track_ids), n_hashes=int(new.n_hashes),
            ))  # fmt: skip

    # ---------------------------------------------------------------- signals
    def put_signal(
        self, content_hash: str, name: str, version: str, data: bytes, meta: dict[str, Any]
    ) -> None:
        with self.session() as s, s.begin():
            s.merge(SignalRow(content_hash=content_hash, name=name, version=version,
                              data=data, meta=meta))  # fmt: skip

    def get_signal(self, content_hash: str, name: str, version: str) -> tuple[bytes, dict] | None:
        with self.session() as s:
            row = s.get(SignalRow, (content_hash, name, version))
            return (row.data, dict(row.meta or {})) if row else None

    # ---------------------------------------------------------------- scans
    def record_scan(self, scan: ScanRecord) -> str:
        scan_id = scan.id or str(uuid.uuid4())
        with self.session() as s, s.begin():
            s.add(ScanRow(
                id=scan_id, file=scan.file, content_hash=scan.content_hash,
                decision=scan.decision, policy_id=scan.policy_id,
                policy_version=scan.policy_version, policy_hash=scan.policy_hash,
                evidence=scan.evidence, rules_fired=scan.rules_fired, detectors=scan.detectors,
                thresholds=scan.thresholds, release_metadata=scan.release_metadata,
            ))  # fmt: skip
        return scan_id

    def get_scan(self, scan_id: str) -> ScanRecord | None:
        with self.session() as s:
            row = s.get(ScanRow, scan_id)
            return _scan(row) if row else None

    def list_scans(self, *, limit: int = 100) -> list[ScanRecord]:
        with self.session() as s:
            rows = s.scalars(select(ScanRow).order_by(ScanRow.created_at.desc()).limit(limit))
            return [_scan(r) for r in rows]


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
