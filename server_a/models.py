"""Server A's tables. Values are ciphertexts (base64 text) and metadata only: no plaintext."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Index, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes stored as UTC; SQLite (which forgets the zone) reads back as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: every stored time must carry its zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base; the schema itself is made by the alembic migrations."""


class Physician(Base):
    """A physician and their public key pk_D; the password only as an argon2 hash."""

    __tablename__ = "physicians"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    public_key_n: Mapped[str] = mapped_column(Text)
    public_key_id: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Patient(Base):
    """A patient of one physician; the device token only as its SHA-256."""

    __tablename__ = "patients"
    __table_args__ = (Index("ix_patients_enrolment_code_hash", "enrolment_code_hash", unique=True),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    physician_id: Mapped[str] = mapped_column(ForeignKey("physicians.id"), index=True)
    label: Mapped[str] = mapped_column(String(100))
    device_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    range_key_id: Mapped[str | None] = mapped_column(String(16))
    range_low: Mapped[str | None] = mapped_column(Text)
    range_high: Mapped[str | None] = mapped_column(Text)
    range_threshold: Mapped[str | None] = mapped_column(Text)
    # None in ranges stored before the rhythm check (migration 0002): see jobs_of
    range_irregularity_threshold: Mapped[str | None] = mapped_column(Text)
    range_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # a one-time enrolment code for a new device (migration 0004), as its SHA-256
    enrolment_code_hash: Mapped[str | None] = mapped_column(String(64))
    enrolment_code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def has_range(self) -> bool:
        return self.range_low is not None


class Reading(Base):
    """A device's reading: E(hr), E(score), E(irregularity), E(rate_missing), and once
    decided Enc_pkD(bit)."""

    __tablename__ = "readings"
    __table_args__ = (Index("ix_readings_patient_taken", "patient_id", "taken_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"))
    key_id: Mapped[str] = mapped_column(String(16))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    heart_rate: Mapped[str] = mapped_column(Text)
    score: Mapped[str] = mapped_column(Text)
    # None in readings stored before the rhythm check (migration 0002): see jobs_of
    irregularity: Mapped[str | None] = mapped_column(Text)
    # None before migration 0006 and from devices older than the field: "had a rate"
    rate_missing: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)
    result: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # a comparison worker's lease on a pending reading (migration 0003; Storage.claim_work)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RateBucket(Base):
    """A token bucket shared by the replicas (migration 0005; server_a.shared_ratelimit)."""

    __tablename__ = "rate_buckets"
    __table_args__ = (Index("ix_rate_buckets_scope_updated", "scope", "updated_s"),)

    bucket: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of scope:key
    scope: Mapped[str] = mapped_column(String(16))  # "device", "login-user", ...
    tokens: Mapped[float] = mapped_column(Float)
    updated_s: Mapped[float] = mapped_column(Float)  # unix seconds
    allowed: Mapped[bool] = mapped_column(Boolean)  # whether the last take got a token
