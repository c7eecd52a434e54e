"""SQLAlchemy tables. Plain values leave the store as the dataclasses in ``records``.

Written for migrations: every constraint and index gets a deterministic name from the
metadata's naming convention (Alembic can then alter or drop it on every backend),
defaults that matter to rows written outside the ORM are also server defaults, and
timestamps use :class:`~compliance.storage.types.UTCDateTime`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from compliance.storage.types import UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

__all__ = [
    "NAMING_CONVENTION",
    "ApiKeyRow",
    "BankNameRow",
    "Base",
    "CatalogueTrackRow",
    "HistoryReleaseRow",
    "IndexSegmentRow",
    "JobRow",
    "ReleaseFileRow",
    "ReleaseRow",
    "ScanRow",
    "SignalRow",
    "VoicePrintRow",
    "VoiceReferenceRow",
    "WebhookAttemptRow",
    "WebhookDeliveryRow",
    "WebhookRow",
    "utcnow",
]


class Base(DeclarativeBase):
    """Declarative base; ``Base.metadata`` is the target for Alembic autogenerate."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class CatalogueTrackRow(Base):
    """A reference track of a bank (``catalogue`` by default), with provenance."""

    __tablename__ = "catalogue_tracks"

    id: Mapped[str] = mapped_column(String(512), primary_key=True)
    title: Mapped[str | None] = mapped_column(Text)
    artist: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(80), unique=True, nullable=False)
    source_path: Mapped[str | None] = mapped_column(Text)
    duration_s: Mapped[float] = mapped_column(Float, nullable=False)
    bank: Mapped[str] = mapped_column(
        String(64), default="catalogue", server_default="catalogue", nullable=False, index=True
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    added_by: Mapped[str | None] = mapped_column(String(256))
    disabled: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(), nullable=False
    )
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IndexSegmentRow(Base):
    """A live index segment file; recorded in the same transaction as its catalogue rows."""

    __tablename__ = "index_segments"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    signal: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    signal_version: Mapped[str] = mapped_column(String(32), nullable=False)
    track_ids: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    n_hashes: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class SignalRow(Base):
    """A cached extracted signal of some audio, per (content hash, signal, version)."""

    __tablename__ = "signals"

    content_hash: Mapped[str] = mapped_column(String(80), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(32), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)


class ScanRow(Base):
    """One decision, with the policy identity and evidence that explain it."""

    __tablename__ = "scans"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    file: Mapped[str] = mapped_column(Text, nullable=False)
    content_hash: Mapped[str] = mapped_column(String(80), index=True, nullable=False)
    decision: Mapped[str] = mapped_column(String(16), nullable=False)
    policy_id: Mapped[str] = mapped_column(String(128), nullable=False)
    policy_version: Mapped[str] = mapped_column(String(64), nullable=False)
    policy_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    rules_fired: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    detectors: Mapped[dict[str, str]] = mapped_column(JSON, nullable=False)
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    # "metadata" is reserved on declarative classes: the column keeps its name.
    release_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, index=True, nullable=False
    )


class JobRow(Base):
    """A durable unit of work (a scan, a re-scan...), leased by one worker at a time."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class ApiKeyRow(Base):
    """An API key: only the SHA-256 of its secret is kept; revoked keys stay for audit."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    scopes: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    secret_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The key's own rate in the COMPLIANCE_RATE_LIMIT format ("10/s", "600/min", "off");
    # NULL = the process's COMPLIANCE_RATE_LIMIT.
    rate_limit: Mapped[str | None] = mapped_column(String(32))


class ReleaseRow(Base):
    """A submission through the API: its declared metadata and who sent it."""

    __tablename__ = "releases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    release_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, nullable=False)
    api_key_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, index=True
    )


class ReleaseFileRow(Base):
    """One file of a release: the API's scan id, pointing at the (shared) scan job.

    The same audio under the same policy is one job; every submission of it gets its
    own row here (its own scan id, file name and declared metadata via the release).
    """

    __tablename__ = "release_files"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    release_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("releases.id"), nullable=False, index=True
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    file: Mapped[str] = mapped_column(Text, nullable=False)
    content_hash: Mapped[str] = mapped_column(String(80), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    job_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("jobs.id"), nullable=False, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    # The submitter's account evidence (evidence dicts), computed once the audio is
    # analysed; NULL until then. Not in the shared job result: it is this submission's.
    account_evidence: Mapped[list[dict[str, Any]] | None] = mapped_column(
        JSON(none_as_null=True), nullable=True
    )


class WebhookRow(Base):
    """A client's webhook: where to POST events, and the secret that signs them.

    The secret is stored as given (not hashed): every delivery is signed with it.
    Deleting a webhook sets ``deleted_at``; its delivery log stays.
    """

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    api_key_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("api_keys.id"), nullable=False, index=True
    )
    url: Mapped[str] = mapped_column(Text, nullable=False)
    secret: Mapped[str] = mapped_column(String(256), nullable=False)
    events: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookDeliveryRow(Base):
    """One event for one webhook (its ``Webhook-Id``), sent by a ``webhook`` job.

    ``body`` is fixed at the first attempt, so every retry sends the same bytes.
    """

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("webhooks.id"), nullable=False, index=True
    )
    job_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("jobs.id"), nullable=False, index=True
    )
    event: Mapped[str] = mapped_column(String(64), nullable=False)
    scan_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("release_files.id"), nullable=False, index=True
    )
    body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, index=True
    )


class WebhookAttemptRow(Base):
    """One HTTP attempt of a delivery: when, how long, the status or the error."""

    __tablename__ = "webhook_attempts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("webhook_deliveries.id"), nullable=False, index=True
    )
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    duration_ms: Mapped[float] = mapped_column(Float, nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)


class HistoryReleaseRow(Base):
    """A release the checker has seen (imported from a past log or checked), with what
    the account-level patterns of ``compliance.history`` read."""

    __tablename__ = "history_releases"

    release_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(128), nullable=False)
    upload_ts: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    account_created_ts: Mapped[datetime | None] = mapped_column(UTCDateTime())
    account_country: Mapped[str | None] = mapped_column(String(8))
    artist_name: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    duration_s: Mapped[float | None] = mapped_column(Float)
    genre: Mapped[str | None] = mapped_column(String(128))
    label_name: Mapped[str | None] = mapped_column(Text)
    audio_key: Mapped[str | None] = mapped_column(String(128), index=True)
    explicit: Mapped[bool | None] = mapped_column(Boolean)
    isrc: Mapped[str | None] = mapped_column(String(32), index=True)
    upc: Mapped[str | None] = mapped_column(String(32))
    release_date: Mapped[str | None] = mapped_column(String(10))
    contains_ai: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


Index(
    "ix_history_releases_account_id_upload_ts",
    HistoryReleaseRow.account_id,
    HistoryReleaseRow.upload_ts,
)
Index(
    "ix_history_releases_duration_s_upload_ts",
    HistoryReleaseRow.duration_s,
    HistoryReleaseRow.upload_ts,
)


class HistoryAudioKeyRow(Base):
    """One Chromaprint lookup key of a checked release's audio
    (:func:`fingerprints.chromaprint.lookup_keys`): the fingerprint index of delivered
    audio, which finds a re-encoded copy that another account delivered."""

    __tablename__ = "history_audio_keys"

    key: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    release_id: Mapped[str] = mapped_column(
        ForeignKey("history_releases.release_id", ondelete="CASCADE"), primary_key=True,
        index=True,
    )  # fmt: skip
    account_id: Mapped[str] = mapped_column(String(128), nullable=False)


class BankNameRow(Base):
    """A name in a name bank (``protected_artist``): operators edit it from the CLI."""

    __tablename__ = "bank_names"

    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(512), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    added_by: Mapped[str | None] = mapped_column(String(256))


class VoicePrintRow(Base):
    """A protected voice: the averaged GE2E embedding of its references, who may use it,
    and the impostor statistics its similarity is calibrated with."""

    __tablename__ = "voice_prints"

    voice_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    artist_name: Mapped[str | None] = mapped_column(Text)
    authorised_accounts: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    consent: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    model_version: Mapped[str] = mapped_column(String(32), nullable=False)
    embedding: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    n_references: Mapped[int] = mapped_column(Integer, nullable=False)
    cohort_mean: Mapped[float | None] = mapped_column(Float)
    cohort_sd: Mapped[float | None] = mapped_column(Float)
    cohort_size: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    added_by: Mapped[str | None] = mapped_column(String(256))
    disabled: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(), nullable=False
    )
    disabled_reason: Mapped[str | None] = mapped_column(Text)


class VoiceReferenceRow(Base):
    """One enrolled reference recording of a protected voice, with its provenance."""

    __tablename__ = "voice_references"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    voice_id: Mapped[str] = mapped_column(
        ForeignKey("voice_prints.voice_id", ondelete="CASCADE"), nullable=False, index=True
    )
    content_hash: Mapped[str] = mapped_column(String(80), nullable=False)
    source_path: Mapped[str | None] = mapped_column(Text)
    duration_s: Mapped[float] = mapped_column(Float, nullable=False)
    voiced_s: Mapped[float] = mapped_column(Float, nullable=False)
    embedding: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    windows: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    provenance: Mapped[str | None] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    added_by: Mapped[str | None] = mapped_column(String(256))


Index(
    "ix_voice_references_voice_id_content_hash",
    VoiceReferenceRow.voice_id,
    VoiceReferenceRow.content_hash,
    unique=True,
)
