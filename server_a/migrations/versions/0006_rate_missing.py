"""Readings without a heart rate: E(rate_missing) per reading.

Nullable: rows stored before this revision, and readings from devices older than the
field, have none, and server A reads a missing flag as E(0), "the device had a heart
rate" (``server_a.comparison_mode.jobs_of``), which is what those readings meant.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the ciphertext column."""
    op.add_column("readings", sa.Column("rate_missing", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop it again."""
    with op.batch_alter_table("readings") as batch:
        batch.drop_column("rate_missing")
