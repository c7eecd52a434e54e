"""SQLAlchemy tables. Plain values leave the store as the dataclasses in ``records``."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class CatalogueTrackRow(Base):
    __tablename__ = "catalogue_tracks"

    id: Mapped[str] = mapped_column(String(512), primary_key=True)
    title: Mapped[str | None] = mapped_column(Text)
    artist: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(80), unique=True, nullable=False)
    source_path: Mapped[str | None] = mapped_column(Text)
    duration_s: Mapped[float] = mapped_column(Float, nullable=False)
    bank: Mapped[str] = mapped_column(String(64), default="catalogue", nullable=False)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    added_by: Mapped[str | None] = mapped_column(String(256))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IndexSegmentRow(Base):
    __tablename__ = "index_segments"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    signal: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    signal_version: Mapped[str] = mapped_column(String(32), nullable=False)
    track_ids: Mapped[list] = mapped_column(JSON, nullable=False)
    n_hashes: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SignalRow(Base):
    __tablename__ = "signals"

    content_hash: Mapped[str] = mapped_column(String(80), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(32), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    meta: Mapped[dict] = mapped_column(JSON, default=dict)


class ScanRow(Base):
    __tablename__ = "scans"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    file: Mapped[str] = mapped_column(Text, nullable=False)
    content_hash: Mapped[str] = mapped_column(String(80), index=True, nullable=False)
    decision: Mapped[str] = mapped_column(String(16), nullable=False)
    policy_id: Mapped[str] = mapped_column(String(128), nullable=False)
    policy_version: Mapped[str] = mapped_column(String(64), nullable=False)
    policy_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    evidence: Mapped[list] = mapped_column(JSON, nullable=False)
    rules_fired: Mapped[list] = mapped_column(JSON, nullable=False)
    detectors: Mapped[dict] = mapped_column(JSON, nullable=False)
    thresholds: Mapped[dict] = mapped_column(JSON, nullable=False)
    release_metadata: Mapped[dict] = mapped_column("metadata", JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
