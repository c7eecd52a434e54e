"""account evidence per API submission (issue 6: history for the HTTP intake)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 06:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("release_files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_evidence", sa.JSON(), nullable=True))
    # Submissions accepted before this revision are settled as having no account
    # evidence: computing it on their next read would record them in the history as
    # uploads of today (false bursts).
    op.execute("UPDATE release_files SET account_evidence = '[]'")


def downgrade() -> None:
    with op.batch_alter_table("release_files", schema=None) as batch_op:
        batch_op.drop_column("account_evidence")
