"""protected-voice bank (issue 7: voice clones)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 05:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import compliance.storage.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UTC = compliance.storage.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "voice_prints",
        sa.Column("voice_id", sa.String(length=128), nullable=False),
        sa.Column("artist_name", sa.Text(), nullable=True),
        sa.Column("authorised_accounts", sa.JSON(), nullable=False),
        sa.Column("consent", sa.JSON(), nullable=False),
        sa.Column("model_version", sa.String(length=32), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("n_references", sa.Integer(), nullable=False),
        sa.Column("cohort_mean", sa.Float(), nullable=True),
        sa.Column("cohort_sd", sa.Float(), nullable=True),
        sa.Column("cohort_size", sa.Integer(), server_default="0", nullable=False),
        sa.Column("added_at", UTC(timezone=True), nullable=False),
        sa.Column("updated_at", UTC(timezone=True), nullable=False),
        sa.Column("added_by", sa.String(length=256), nullable=True),
        sa.Column("disabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("voice_id", name=op.f("pk_voice_prints")),
    )
    op.create_table(
        "voice_references",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("voice_id", sa.String(length=128), nullable=False),
        sa.Column("content_hash", sa.String(length=80), nullable=False),
        sa.Column("source_path", sa.Text(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("voiced_s", sa.Float(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("windows", sa.LargeBinary(), nullable=False),
        sa.Column("provenance", sa.Text(), nullable=True),
        sa.Column("added_at", UTC(timezone=True), nullable=False),
        sa.Column("added_by", sa.String(length=256), nullable=True),
        sa.ForeignKeyConstraint(
            ["voice_id"],
            ["voice_prints.voice_id"],
            name=op.f("fk_voice_references_voice_id_voice_prints"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voice_references")),
    )
    with op.batch_alter_table("voice_references", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_voice_references_voice_id"), ["voice_id"], unique=False
        )
        batch_op.create_index(
            "ix_voice_references_voice_id_content_hash", ["voice_id", "content_hash"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("voice_references", schema=None) as batch_op:
        batch_op.drop_index("ix_voice_references_voice_id_content_hash")
        batch_op.drop_index(batch_op.f("ix_voice_references_voice_id"))
    op.drop_table("voice_references")
    op.drop_table("voice_prints")
