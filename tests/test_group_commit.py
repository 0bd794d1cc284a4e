"""Group commit (#17): readings from many threads written in shared transactions, each
caller still answered with its own outcome only after the commit."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from server_a.group_commit import GroupCommit
from server_a.storage import Conflict, NewReading, Storage


def _storage(tmp_path: Path) -> tuple[Storage, str]:
    storage = Storage(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    storage.migrate()
    physician = storage.add_physician(
        "dr.batch", "not-a-real-hash", "0x" + "d3" * 32, "9d1e0c55aa27b3f0"
    )
    patient = storage.add_patient(physician.id, "bed 1", "0" * 64)
    return storage, patient.id


def _reading(patient_id: str, reading_id: str | None = None, score: str = "AAAA") -> NewReading:
    return NewReading(
        reading_id=reading_id or str(uuid.uuid4()),
        patient_id=patient_id,
        key_id="4bc288a8bd1f4028",
        taken_at=datetime(2026, 12, 2, tzinfo=UTC),
        heart_rate="AAAA",
        score=score,
        irregularity="AAAA",
    )


def test_many_threads_at_once_each_stored_once_in_fewer_transactions(tmp_path: Path) -> None:
    storage, patient_id = _storage(tmp_path)
    commits = []
    sa.event.listen(storage.engine, "commit", lambda _: commits.append(1))
    readings = [_reading(patient_id) for _ in range(200)]
    with ThreadPoolExecutor(40) as pool:
        outcomes = list(pool.map(storage.add_reading, readings))
    assert all(created for _, created in outcomes)
    assert [row.id for row, _ in outcomes] == [r.reading_id for r in readings]
    with storage.engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM readings")) == 200
    assert len(commits) < 100  # shared transactions, not one commit per reading
    storage.close()


def test_a_replay_and_a_conflict_in_one_batch(tmp_path: Path) -> None:
    storage, patient_id = _storage(tmp_path)
    first = _reading(patient_id)
    other = _reading(patient_id, first.reading_id, score="BBBB")
    answers = storage._store_readings([first, first, other])  # one batch, as the writer does
    assert answers[0][1] is True and answers[1][1] is False  # type: ignore[index]
    assert isinstance(answers[2], Conflict)
    assert storage.add_reading(first)[1] is False
    with pytest.raises(Conflict, match="reading_id"):
        storage.add_reading(other)
    storage.close()


def test_a_failing_batch_fails_every_caller_and_the_writer_goes_on() -> None:
    calls: list[list[int]] = []
    gate = threading.Event()

    def write(items: list[int]) -> list[int | Exception]:
        gate.wait(5)
        calls.append(list(items))
        if 13 in items:
            raise RuntimeError("database away")
        return [i * 2 if i != 7 else ValueError("seven") for i in items]

    commit: GroupCommit[int, int] = GroupCommit(write)  # type: ignore[arg-type]
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(commit.submit, i) for i in (13, 1)]
        gate.set()
        errors = [f.exception(5) for f in futures]
    assert isinstance(errors[0], RuntimeError)  # 1 may have shared 13's batch, or not
    assert errors[1] is None or isinstance(errors[1], RuntimeError)
    assert commit.submit(2) == 4  # the writer survived the failed batch
    with pytest.raises(ValueError, match="seven"):
        commit.submit(7)
    commit.close()
