"""history releases by duration (issue 6: re-encoded copies across accounts)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 17:40:00.000000
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_history_releases_duration_s_upload_ts",
        "history_releases",
        ["duration_s", "upload_ts"],
    )


def downgrade() -> None:
    op.drop_index("ix_history_releases_duration_s_upload_ts", table_name="history_releases")
