"""Rows stored before the rhythm check (schema 0001) still decide, as they did then.

A database made at revision 0001 holds a range without rho and a reading without an
irregularity value. After server A's start-up migration (0002) both columns are NULL;
A reads the reading as "rhythm not judged" and the range as "rhythm check off", so the
old reading gets the bit the three-check protocol gave it. Its rate-missing flag (0006)
is NULL too, read as "the device had a heart rate".
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from protocol.ciphertext import decode_ciphertext, encode_ciphertext
from protocol.modes.baseline import BaselineA, BaselineB
from protocol.modes.memory import answers_in_order, compare_in_memory
from protocol.paillier import decrypt, encrypt, fresh_noise, key_id
from server_a.comparison_mode import jobs_of
from server_a.storage import MIGRATIONS_DIR, Storage
from tests.service_helpers import physician_key, system_key

LOW, HIGH, THRESHOLD = 600, 1000, 5000


def _database_at_0001(path: Path, rows: list[tuple[str, int, int]]) -> str:
    url = f"sqlite:///{path}"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    engine = create_engine(url)
    pk = system_key()[0]
    pk_d = physician_key()[0]
    now = datetime.now(UTC)

    def enc(value: int) -> str:
        return encode_ciphertext(pk, encrypt(pk, value))

    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(
            text("INSERT INTO physicians VALUES ('doc', 'dr.old', 'x', :n, :kid, :now)"),
            {"n": hex(pk_d.n), "kid": key_id(pk_d), "now": now},
        )
        connection.execute(
            text(
                "INSERT INTO patients VALUES ('pat', 'doc', 'old patient', 'h', :kid, "
                ":lo, :hi, :tau, :now, :now)"
            ),
            {"kid": key_id(pk), "lo": enc(LOW), "hi": enc(HIGH), "tau": enc(THRESHOLD), "now": now},
        )
        for reading_id, hr, score in rows:
            connection.execute(
                text(
                    "INSERT INTO readings VALUES (:id, 'pat', :kid, :now, :now, :hr, :s, "
                    "'pending', NULL, NULL)"
                ),
                {"id": reading_id, "kid": key_id(pk), "now": now, "hr": enc(hr), "s": enc(score)},
            )
    engine.dispose()
    return url


@pytest.mark.parametrize(
    ("hr", "score", "abnormal"), [(720, 100, 0), (1200, 100, 1), (720, 9000, 1)]
)
def test_a_reading_stored_before_the_rhythm_check_decides_as_before(
    tmp_path: Path, hr: int, score: int, abnormal: int
) -> None:
    storage = Storage(_database_at_0001(tmp_path / "a.db", [("r1", hr, score)]))
    storage.migrate()
    (item,) = storage.claim_work("test-worker", 10, lease_s=60)
    assert item.irregularity is None and item.irregularity_threshold is None
    assert item.rate_missing is None  # migration 0006: "the device had a heart rate"
    pk, share_a, share_b = system_key()
    pk_d, sk_d = physician_key()
    jobs, damaged = jobs_of(pk, [item], {})
    assert damaged == []
    mode_b = BaselineB(share_b, pk_d.n.bit_length(), fresh_noise)
    outcome, _ = compare_in_memory(BaselineA(share_a, fresh_noise), mode_b, jobs)
    (answer,) = answers_in_order(outcome, jobs)
    assert decrypt(sk_d, decode_ciphertext(pk_d, answer)) == abnormal
    storage.close()
