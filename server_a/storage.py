"""Server A's storage, the one module that talks to the database (SQLAlchemy 2).

SQLite file by default, PostgreSQL by URL (``postgresql+psycopg://...``). The schema is
made by the alembic migrations in ``server_a/migrations``, run by :meth:`Storage.migrate`
at start-up on either database. Every write commits before the caller answers.

About 400 lines: every query of server A in one place, so the schema's invariants (one
reading once, decisions recorded atomically) are checked in one file.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, func, or_, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from server_a.group_commit import GroupCommit
from server_a.models import Patient, Physician, Reading

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class Conflict(ValueError):
    """A unique value is taken (username) or a reading id was replayed with other content."""


@dataclass(frozen=True)
class NewReading:
    """A reading as submitted, before it is stored."""

    reading_id: str
    patient_id: str
    key_id: str
    taken_at: datetime
    heart_rate: str
    score: str
    irregularity: str
    rate_missing: str | None = None
    """None from a device older than the field: it always had a heart rate."""


@dataclass(frozen=True)
class StoredRange:
    """A patient's E(lo), E(hi), E(tau), E(rho) as stored (base64 ciphertexts)."""

    low: str
    high: str
    threshold: str
    irregularity_threshold: str


@dataclass(frozen=True)
class WorkItem:
    """A pending reading with everything the comparison needs (all ciphertexts)."""

    reading_id: str
    patient_id: str
    physician_id: str
    physician_n: str
    physician_key_id: str
    heart_rate: str
    score: str
    irregularity: str | None
    rate_missing: str | None
    low: str
    high: str
    threshold: str
    irregularity_threshold: str | None
    """irregularity and its threshold are None in rows stored before the rhythm check
    existed (migration 0002), rate_missing in rows before migration 0006 or from older
    devices; :func:`server_a.comparison_mode.jobs_of` fills them in."""


DECIDED_CHANNEL = "hrmon_decided"
"""PostgreSQL LISTEN/NOTIFY channel: "origin;id,id,..." when readings are decided."""
NOTIFY_IDS = 150


def now() -> datetime:
    """The current time, aware, UTC."""
    return datetime.now(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


SQLITE_POOL_SIZE = 48


def make_engine(database_url: str) -> Engine:
    """An engine for SQLite (shared across threads, WAL) or PostgreSQL (pre-pinged pool).

    ``hide_parameters``: an error's text (and so a traceback in a log) never carries the
    statement's values - patient ids, ciphertexts.
    """
    if database_url.startswith("sqlite"):
        engine = create_engine(
            database_url,
            connect_args={"check_same_thread": False},
            hide_parameters=True,
            # as many as the request threads (anyio's 40) and the worker's: a connection
            # beyond the pool was closed on return and reopened (three PRAGMAs) each time
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=SQLITE_POOL_SIZE,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        database_url, pool_pre_ping=True, pool_size=10, max_overflow=10, hide_parameters=True
    )


class Storage:
    """All of server A's queries; rows come back detached and read-only."""

    def __init__(self, database_url: str) -> None:
        self.engine = make_engine(database_url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._new_readings: GroupCommit[NewReading, tuple[Reading, bool]] = GroupCommit(
            self._store_readings
        )

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    def migrate(self) -> None:
        """Bring the schema to the latest migration (creates the tables on a new database)."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def ping(self) -> bool:
        """True when the database answers."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def close(self) -> None:
        """Stop the reading writer and release pooled connections."""
        self._new_readings.close()
        self.engine.dispose()

    # --- physicians -------------------------------------------------------------------

    def add_physician(
        self, username: str, password_hash: str, public_key_n: str, public_key_id: str
    ) -> Physician:
        """Store a new physician.

        Raises:
            Conflict: the username is taken.
        """
        row = Physician(
            id=str(uuid.uuid4()),
            username=username,
            password_hash=password_hash,
            public_key_n=public_key_n,
            public_key_id=public_key_id,
            created_at=now(),
        )
        with self._session() as session:
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                raise Conflict("username: already taken") from None
        return row

    def physician_by_username(self, username: str) -> Physician | None:
        with self._session() as session:
            return session.scalar(select(Physician).where(Physician.username == username))

    def physician(self, physician_id: str) -> Physician | None:
        with self._session() as session:
            return session.get(Physician, physician_id)

    # --- patients ---------------------------------------------------------------------

    def add_patient(self, physician_id: str, label: str, device_token_hash: str) -> Patient:
        """Store a new patient of ``physician_id`` with the hash of their device token.

        Raises:
            Conflict: the physician already has a patient of that label (case-blind):
                two "patient 2" rows could not be told apart on any list.
        """
        with self._session() as session:
            taken = session.scalars(
                select(Patient.label).where(Patient.physician_id == physician_id)
            ).all()
        if label.casefold() in {t.casefold() for t in taken}:
            raise Conflict(f"label: you already have a patient labelled {label!r}")
        row = Patient(
            id=str(uuid.uuid4()),
            physician_id=physician_id,
            label=label,
            device_token_hash=device_token_hash,
            created_at=now(),
        )
        with self._session() as session:
            session.add(row)
            session.commit()
        return row

    def replace_device_token(self, patient_id: str, device_token_hash: str) -> None:
        """Bind a new device token to the patient; the old one stops working at once."""
        with self._session() as session:
            session.execute(
                update(Patient)
                .where(Patient.id == patient_id)
                .values(device_token_hash=device_token_hash)
            )
            session.commit()

    def set_enrolment_code(self, patient_id: str, code_hash: str, expires_at: datetime) -> None:
        """Give the patient a new one-time enrolment code (any earlier one stops working)."""
        with self._session() as session:
            session.execute(
                update(Patient)
                .where(Patient.id == patient_id)
                .values(enrolment_code_hash=code_hash, enrolment_code_expires_at=expires_at)
            )
            session.commit()

    def redeem_enrolment_code(
        self, code_hash: str, device_token_hash: str, at: datetime
    ) -> Patient | None:
        """Bind a new device token to the patient whose live code this is, and spend the
        code, in one UPDATE: two devices racing with one code cannot both win.

        Returns:
            The patient, or None for a code that is unknown, spent or expired.
        """
        with self._session() as session:
            done = session.execute(
                update(Patient)
                .where(
                    Patient.enrolment_code_hash == code_hash,
                    Patient.enrolment_code_expires_at > at,
                )
                .values(
                    device_token_hash=device_token_hash,
                    enrolment_code_hash=None,
                    enrolment_code_expires_at=None,
                )
            )
            session.commit()
        if getattr(done, "rowcount", 0) != 1:
            return None
        return self.patient_by_device_token_hash(device_token_hash)

    def patient(self, patient_id: str) -> Patient | None:
        with self._session() as session:
            return session.get(Patient, patient_id)

    def patient_by_device_token_hash(self, token_hash: str) -> Patient | None:
        with self._session() as session:
            return session.scalar(select(Patient).where(Patient.device_token_hash == token_hash))

    def device_patient_id(self, token_hash: str) -> str | None:
        """The id of the patient a device token hash is bound to (the one column every
        reading's authentication needs, without loading the row's ciphertexts)."""
        with self.engine.connect() as connection:
            found: str | None = connection.scalar(
                select(Patient.id).where(Patient.device_token_hash == token_hash)
            )
        return found

    def patients_of(self, physician_id: str) -> list[tuple[Patient, Reading | None, int]]:
        """A physician's patients, oldest first, each with their latest reading (by
        taken_at) and how many of their readings are ``invalid``."""
        with self._session() as session:
            patients = session.scalars(
                select(Patient)
                .where(Patient.physician_id == physician_id)
                .order_by(Patient.created_at, Patient.id)
            ).all()
            counted = session.execute(
                select(Reading.patient_id, func.count())
                .join(Patient, Reading.patient_id == Patient.id)
                .where(Patient.physician_id == physician_id, Reading.status == "invalid")
                .group_by(Reading.patient_id)
            ).all()
            invalid = {patient_id: int(count) for patient_id, count in counted}
            out = []
            for patient in patients:
                latest = session.scalar(
                    select(Reading)
                    .where(Reading.patient_id == patient.id)
                    .order_by(Reading.taken_at.desc(), Reading.received_at.desc())
                    .limit(1)
                )
                out.append((patient, latest, invalid.get(patient.id, 0)))
            return out

    def set_range(self, patient_id: str, key_id: str, bounds: StoredRange) -> datetime:
        """Replace a patient's E(lo), E(hi), E(tau), E(rho); return when."""
        when = now()
        with self._session() as session:
            session.execute(
                update(Patient)
                .where(Patient.id == patient_id)
                .values(
                    range_key_id=key_id,
                    range_low=bounds.low,
                    range_high=bounds.high,
                    range_threshold=bounds.threshold,
                    range_irregularity_threshold=bounds.irregularity_threshold,
                    range_updated_at=when,
                )
            )
            session.commit()
        return when

    # --- readings ---------------------------------------------------------------------

    def add_reading(self, new: NewReading) -> tuple[Reading, bool]:
        """Store a reading once; a replay with the same content returns the stored row.
        Readings arriving together are written in one transaction (group commit,
        :mod:`server_a.group_commit`); this returns once this one is committed.

        Returns:
            The stored row and whether this call created it.

        Raises:
            Conflict: the reading id exists with other content.
        """
        return self._new_readings.submit(new)

    def _store_readings(
        self, batch: Sequence[NewReading]
    ) -> list[tuple[Reading, bool] | Exception]:
        """Insert a batch in one transaction; per reading its row and whether it is new,
        or its Conflict. A reading id sent twice in the batch is stored once."""
        with self._session() as session:
            ids = list({new.reading_id for new in batch})
            known = {r.id: r for r in session.scalars(select(Reading).where(Reading.id.in_(ids)))}
            outcomes: list[tuple[Reading, bool] | Exception] = []
            for new in batch:
                stored = known.get(new.reading_id)
                if stored is None:
                    known[new.reading_id] = row = _new_row(new)
                    session.add(row)
                    outcomes.append((row, True))
                elif _same_content(stored, new):
                    outcomes.append((stored, False))
                else:
                    outcomes.append(Conflict("reading_id: already used for a different reading"))
            try:
                session.commit()
            except IntegrityError:  # another process stored one of these ids meanwhile
                session.rollback()
                return [self._store_alone(new) for new in batch]
        return outcomes

    def _store_alone(self, new: NewReading) -> tuple[Reading, bool] | Exception:
        """One reading in its own transaction (after a batch met a concurrent insert)."""
        with self._session() as session:
            existing = session.get(Reading, new.reading_id)
            if existing is None:
                row = _new_row(new)
                session.add(row)
                try:
                    session.commit()
                    return row, True
                except IntegrityError:
                    session.rollback()
                    existing = session.get(Reading, new.reading_id)
            if existing is None:
                return Conflict("reading_id: could not be stored")
            if not _same_content(existing, new):
                return Conflict("reading_id: already used for a different reading")
            return existing, False

    def results(
        self,
        patient_id: str,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[Reading]:
        """A patient's readings in [since, until] by taken_at, newest first."""
        query = select(Reading).where(Reading.patient_id == patient_id)
        if since is not None:
            query = query.where(Reading.taken_at >= since)
        if until is not None:
            query = query.where(Reading.taken_at <= until)
        query = query.order_by(Reading.taken_at.desc(), Reading.received_at.desc()).limit(limit)
        with self._session() as session:
            return list(session.scalars(query).all())

    def decided_results(
        self, patient_id: str, since: datetime | None, until: datetime | None
    ) -> list[str]:
        """The stored Enc_pkD(bit) of every done reading in the window."""
        query = select(Reading.result).where(
            Reading.patient_id == patient_id, Reading.status == "done"
        )
        if since is not None:
            query = query.where(Reading.taken_at >= since)
        if until is not None:
            query = query.where(Reading.taken_at <= until)
        with self._session() as session:
            return [r for r in session.scalars(query).all() if r is not None]

    def claim_work(
        self, worker: str, limit: int, lease_s: float, exclude: Collection[str] = ()
    ) -> list[WorkItem]:
        """Claim up to ``limit`` pending readings of patients with a range, oldest first,
        for ``lease_s`` seconds: no other worker takes them until the lease ends (a worker
        that dies leaves them to the others after one lease).

        On PostgreSQL the candidates are locked ``FOR UPDATE SKIP LOCKED``, so workers
        claiming at once take disjoint batches without waiting on each other; SQLite has
        one writer at a time. Either way the claim is an ``UPDATE`` that re-checks the
        lease, and only the rows this worker holds afterwards come back.
        """
        moment = now()
        free = or_(Reading.claimed_until.is_(None), Reading.claimed_until < moment)
        candidates = (
            select(Reading.id)
            .join(Patient, Reading.patient_id == Patient.id)
            .where(Reading.status == "pending", Patient.range_low.is_not(None), free)
            .order_by(Reading.received_at, Reading.id)
            .limit(limit)
        )
        if exclude:
            candidates = candidates.where(Reading.id.not_in(list(exclude)))
        if self.engine.dialect.name == "postgresql":
            candidates = candidates.with_for_update(of=Reading, skip_locked=True)
        with self._session() as session:
            ids = list(session.scalars(candidates).all())
            if ids:
                session.execute(
                    update(Reading)
                    .where(Reading.id.in_(ids), Reading.status == "pending", free)
                    .values(claimed_by=worker, claimed_until=moment + timedelta(seconds=lease_s))
                )
            session.commit()
            if not ids:
                return []
            rows = session.execute(
                select(Reading, Patient, Physician)
                .join(Patient, Reading.patient_id == Patient.id)
                .join(Physician, Patient.physician_id == Physician.id)
                .where(Reading.id.in_(ids), Reading.claimed_by == worker)
                .order_by(Reading.received_at, Reading.id)
            ).all()
        return [_work_item(reading, patient, physician) for reading, patient, physician in rows]

    def release_claims(self, worker: str, reading_ids: Collection[str]) -> None:
        """Give back this worker's claim on readings it could not finish (B away), so that
        any worker may retry them at once instead of after the lease."""
        if not reading_ids:
            return
        with self._session() as session:
            session.execute(
                update(Reading)
                .where(Reading.id.in_(list(reading_ids)), Reading.claimed_by == worker)
                .values(claimed_by=None, claimed_until=None)
            )
            session.commit()

    def count_pending(self) -> int:
        with self._session() as session:
            count = session.scalar(
                select(func.count()).select_from(Reading).where(Reading.status == "pending")
            )
        return int(count or 0)

    def record_decisions(
        self, done: dict[str, str], invalid: Iterable[str] = (), origin: str = ""
    ) -> list[Reading]:
        """Mark readings done (with Enc_pkD(bit)) or invalid, in one transaction.

        Only still-pending readings change, so a retried batch never overwrites a result,
        and a reading two workers compared is decided once. On PostgreSQL the same
        transaction notifies ``DECIDED_CHANNEL`` with ``origin`` and the changed ids (no
        value), so every server A replica tells its own event streams
        (``server_a.decision_feed``).

        Returns:
            The rows that changed.
        """
        when = now()
        changed: list[str] = []
        with self._session() as session:
            for reading_id, result in done.items():
                outcome = session.execute(
                    update(Reading)
                    .where(Reading.id == reading_id, Reading.status == "pending")
                    .values(status="done", result=result, decided_at=when)
                )
                if _rowcount(outcome):
                    changed.append(reading_id)
            for reading_id in invalid:
                outcome = session.execute(
                    update(Reading)
                    .where(Reading.id == reading_id, Reading.status == "pending")
                    .values(status="invalid", result=None, decided_at=when)
                )
                if _rowcount(outcome):
                    changed.append(reading_id)
            if self.engine.dialect.name == "postgresql":
                for start in range(0, len(changed), NOTIFY_IDS):  # payloads under 8000 bytes
                    payload = f"{origin};" + ",".join(changed[start : start + NOTIFY_IDS])
                    session.execute(
                        text("SELECT pg_notify(:channel, :payload)"),
                        {"channel": DECIDED_CHANNEL, "payload": payload},
                    )
            session.commit()
            if not changed:
                return []
            return list(session.scalars(select(Reading).where(Reading.id.in_(changed))).all())

    def decided_with_owners(self, reading_ids: Collection[str]) -> list[tuple[Reading, str]]:
        """Decided readings with their physician's id, for another replica's streams."""
        if not reading_ids:
            return []
        with self._session() as session:
            rows = session.execute(
                select(Reading, Patient.physician_id)
                .join(Patient, Reading.patient_id == Patient.id)
                .where(Reading.id.in_(list(reading_ids)), Reading.status != "pending")
            ).all()
        return [(reading, physician_id) for reading, physician_id in rows]


def _work_item(reading: Reading, patient: Patient, physician: Physician) -> WorkItem:
    assert patient.range_low and patient.range_high and patient.range_threshold
    return WorkItem(
        reading_id=reading.id,
        patient_id=patient.id,
        physician_id=physician.id,
        physician_n=physician.public_key_n,
        physician_key_id=physician.public_key_id,
        heart_rate=reading.heart_rate,
        score=reading.score,
        irregularity=reading.irregularity,
        rate_missing=reading.rate_missing,
        low=patient.range_low,
        high=patient.range_high,
        threshold=patient.range_threshold,
        irregularity_threshold=patient.range_irregularity_threshold,
    )


def _rowcount(result: Any) -> int:
    count: int = result.rowcount
    return count


def _new_row(new: NewReading) -> Reading:
    return Reading(
        id=new.reading_id,
        patient_id=new.patient_id,
        key_id=new.key_id,
        taken_at=new.taken_at,
        received_at=now(),
        heart_rate=new.heart_rate,
        score=new.score,
        irregularity=new.irregularity,
        rate_missing=new.rate_missing,
        status="pending",
    )


def _same_content(stored: Reading, new: NewReading) -> bool:
    return (
        stored.patient_id == new.patient_id
        and stored.key_id == new.key_id
        and stored.taken_at == new.taken_at
        and stored.heart_rate == new.heart_rate
        and stored.score == new.score
        and stored.irregularity == new.irregularity
        and stored.rate_missing == new.rate_missing
    )
