"""api intake: keys, releases, release files

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 19:00:15.360250
"""

import sqlalchemy as sa
from alembic import op

import compliance.storage.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at", compliance.storage.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("revoked_at", compliance.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
    )
    op.create_table(
        "releases",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("api_key_id", sa.String(length=32), nullable=True),
        sa.Column(
            "created_at", compliance.storage.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_releases")),
    )
    with op.batch_alter_table("releases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_releases_created_at"), ["created_at"], unique=False)

    op.create_table(
        "release_files",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("release_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("file", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=80), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column(
            "created_at", compliance.storage.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_release_files_job_id_jobs")),
        sa.ForeignKeyConstraint(
            ["release_id"], ["releases.id"], name=op.f("fk_release_files_release_id_releases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_release_files")),
    )
    with op.batch_alter_table("release_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_release_files_job_id"), ["job_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_release_files_release_id"), ["release_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("release_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_release_files_release_id"))
        batch_op.drop_index(batch_op.f("ix_release_files_job_id"))

    op.drop_table("release_files")
    with op.batch_alter_table("releases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_releases_created_at"))

    op.drop_table("releases")
    op.drop_table("api_keys")
