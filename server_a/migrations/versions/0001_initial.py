"""Initial schema: physicians, patients, readings.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the three tables and their indexes."""
    op.create_table(
        "physicians",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("public_key_n", sa.Text(), nullable=False),
        sa.Column("public_key_id", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "patients",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("physician_id", sa.String(36), sa.ForeignKey("physicians.id"), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("device_token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("range_key_id", sa.String(16), nullable=True),
        sa.Column("range_low", sa.Text(), nullable=True),
        sa.Column("range_high", sa.Text(), nullable=True),
        sa.Column("range_threshold", sa.Text(), nullable=True),
        sa.Column("range_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_patients_physician_id", "patients", ["physician_id"])
    op.create_table(
        "readings",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("patient_id", sa.String(36), sa.ForeignKey("patients.id"), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heart_rate", sa.Text(), nullable=False),
        sa.Column("score", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_readings_status", "readings", ["status"])
    op.create_index("ix_readings_patient_taken", "readings", ["patient_id", "taken_at"])


def downgrade() -> None:
    """Drop everything (test databases only)."""
    op.drop_table("readings")
    op.drop_table("patients")
    op.drop_table("physicians")
