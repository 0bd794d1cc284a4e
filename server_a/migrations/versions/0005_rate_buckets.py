"""Rate-limit buckets shared by every server A replica on one PostgreSQL.

With several API replicas behind a load balancer, per-process buckets gave a device N
times its burst and a password guesser N times its tries. On PostgreSQL the buckets live
here (``server_a.shared_ratelimit``); SQLite, one process, keeps them in memory. A
bucket's name is a SHA-256 (a typed username is never stored), its state two numbers.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """The bucket table."""
    op.create_table(
        "rate_buckets",
        sa.Column("bucket", sa.String(64), primary_key=True),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_s", sa.Float(), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_rate_buckets_scope_updated", "rate_buckets", ["scope", "updated_s"])


def downgrade() -> None:
    """Drop it."""
    op.drop_index("ix_rate_buckets_scope_updated", table_name="rate_buckets")
    op.drop_table("rate_buckets")
