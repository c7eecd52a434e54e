"""release history and name banks (issue 6: account-level patterns)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 02:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import compliance.storage.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UTC = compliance.storage.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "history_releases",
        sa.Column("release_id", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("upload_ts", UTC(timezone=True), nullable=False),
        sa.Column("account_created_ts", UTC(timezone=True), nullable=True),
        sa.Column("account_country", sa.String(length=8), nullable=True),
        sa.Column("artist_name", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("genre", sa.String(length=128), nullable=True),
        sa.Column("label_name", sa.Text(), nullable=True),
        sa.Column("audio_key", sa.String(length=128), nullable=True),
        sa.Column("explicit", sa.Boolean(), nullable=True),
        sa.Column("isrc", sa.String(length=32), nullable=True),
        sa.Column("upc", sa.String(length=32), nullable=True),
        sa.Column("release_date", sa.String(length=10), nullable=True),
        sa.Column("contains_ai", sa.String(length=16), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("recorded_at", UTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("release_id", name=op.f("pk_history_releases")),
    )
    with op.batch_alter_table("history_releases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_history_releases_account_id_upload_ts", ["account_id", "upload_ts"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_history_releases_audio_key"), ["audio_key"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_history_releases_isrc"), ["isrc"], unique=False)
    op.create_table(
        "bank_names",
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("added_at", UTC(timezone=True), nullable=False),
        sa.Column("added_by", sa.String(length=256), nullable=True),
        sa.PrimaryKeyConstraint("kind", "name", name=op.f("pk_bank_names")),
    )


def downgrade() -> None:
    op.drop_table("bank_names")
    with op.batch_alter_table("history_releases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_history_releases_isrc"))
        batch_op.drop_index(batch_op.f("ix_history_releases_audio_key"))
        batch_op.drop_index("ix_history_releases_account_id_upload_ts")
    op.drop_table("history_releases")
