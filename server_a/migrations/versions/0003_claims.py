"""Claims on pending readings, so that several comparison workers share one database.

A worker claims a batch (``claimed_by``, ``claimed_until``) before comparing it; another
worker skips claimed readings until the lease ends, so a worker that dies mid-batch
leaves its readings to the others after at most one lease. Both columns are nullable:
existing rows are unclaimed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the claim columns."""
    op.add_column("readings", sa.Column("claimed_by", sa.String(64), nullable=True))
    op.add_column("readings", sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("readings") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
