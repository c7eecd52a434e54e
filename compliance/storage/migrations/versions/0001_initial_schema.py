"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-23 00:59:54.587772
"""

import sqlalchemy as sa
from alembic import op

import compliance.storage.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalogue_tracks",
        sa.Column("id", sa.String(length=512), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("artist", sa.Text(), nullable=True),
        sa.Column("content_hash", sa.String(length=80), nullable=False),
        sa.Column("source_path", sa.Text(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("bank", sa.String(length=64), server_default="catalogue", nullable=False),
        sa.Column("added_at", compliance.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("added_by", sa.String(length=256), nullable=True),
        sa.Column("disabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column(
            "disabled_at", compliance.storage.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_tracks")),
        sa.UniqueConstraint("content_hash", name=op.f("uq_catalogue_tracks_content_hash")),
    )
    with op.batch_alter_table("catalogue_tracks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_catalogue_tracks_bank"), ["bank"], unique=False)

    op.create_table(
        "index_segments",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("signal", sa.String(length=64), nullable=False),
        sa.Column("signal_version", sa.String(length=32), nullable=False),
        sa.Column("track_ids", sa.JSON(), nullable=False),
        sa.Column("n_hashes", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", compliance.storage.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_index_segments")),
    )
    with op.batch_alter_table("index_segments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_index_segments_signal"), ["signal"], unique=False)

    op.create_table(
        "scans",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("file", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=80), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("policy_id", sa.String(length=128), nullable=False),
        sa.Column("policy_version", sa.String(length=64), nullable=False),
        sa.Column("policy_hash", sa.String(length=64), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("rules_fired", sa.JSON(), nullable=False),
        sa.Column("detectors", sa.JSON(), nullable=False),
        sa.Column("thresholds", sa.JSON(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column(
            "created_at", compliance.storage.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scans")),
    )
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scans_content_hash"), ["content_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_scans_created_at"), ["created_at"], unique=False)

    op.create_table(
        "signals",
        sa.Column("content_hash", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("content_hash", "name", "version", name=op.f("pk_signals")),
    )


def downgrade() -> None:
    op.drop_table("signals")
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scans_created_at"))
        batch_op.drop_index(batch_op.f("ix_scans_content_hash"))

    op.drop_table("scans")
    with op.batch_alter_table("index_segments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_index_segments_signal"))

    op.drop_table("index_segments")
    with op.batch_alter_table("catalogue_tracks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_catalogue_tracks_bank"))

    op.drop_table("catalogue_tracks")
