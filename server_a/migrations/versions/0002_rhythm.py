"""The rhythm check: E(irregularity) per reading, E(rho) per patient range.

Both columns are nullable: rows stored before this revision have neither, and server A
reads a missing reading value as "rhythm not judged" and a missing threshold as "rhythm
check off" (``server_a.comparison_mode.jobs_of``), so old rows keep their meaning.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the two ciphertext columns."""
    op.add_column("readings", sa.Column("irregularity", sa.Text(), nullable=True))
    op.add_column("patients", sa.Column("range_irregularity_threshold", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("patients") as batch:
        batch.drop_column("range_irregularity_threshold")
    with op.batch_alter_table("readings") as batch:
        batch.drop_column("irregularity")
