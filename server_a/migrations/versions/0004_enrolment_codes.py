"""One-time enrolment codes: a new device redeems one for the patient's device token.

The code is stored as its SHA-256 (like device tokens) with its expiry; both columns are
nullable, so existing patients simply have no code. Unique, so one code names one patient.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the code columns (plain ADD COLUMN: a batch copy of ``patients`` would trip the
    readings' foreign keys on SQLite) and a unique index in place of a constraint."""
    op.add_column("patients", sa.Column("enrolment_code_hash", sa.String(64), nullable=True))
    op.add_column(
        "patients",
        sa.Column("enrolment_code_expires_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_patients_enrolment_code_hash", "patients", ["enrolment_code_hash"], unique=True
    )


def downgrade() -> None:
    """Drop them again."""
    op.drop_index("ix_patients_enrolment_code_hash", table_name="patients")
    with op.batch_alter_table("patients") as batch:
        batch.drop_column("enrolment_code_expires_at")
        batch.drop_column("enrolment_code_hash")
