"""Chromaprint lookup keys of checked releases (issue 6: duplicate_across_accounts by
fingerprint)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 18:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "history_audio_keys",
        sa.Column("key", sa.BigInteger(), nullable=False),
        sa.Column("release_id", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["release_id"], ["history_releases.release_id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("key", "release_id"),
    )
    op.create_index("ix_history_audio_keys_release_id", "history_audio_keys", ["release_id"])


def downgrade() -> None:
    op.drop_index("ix_history_audio_keys_release_id", table_name="history_audio_keys")
    op.drop_table("history_audio_keys")
