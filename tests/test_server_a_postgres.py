"""Server A on a real PostgreSQL 15: the migration makes the same schema, the flow works,
replays are stored once, and nothing stored is plaintext."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from protocol.ciphertext import decode_ciphertext
from protocol.paillier import decrypt
from tests.service_helpers import (
    bearer,
    expected_bit,
    physician_key,
    range_body,
    reading_body,
    system_key,
)
from tests.stack_helpers import all_cells, new_patient, row_counts, sign_in, wait_until_decided

pytest_plugins = ["tests.servers"]
pytestmark = [pytest.mark.anyio, pytest.mark.postgres]
LOW, HIGH, THRESHOLD = 6011, 9733, 4421


@pytest.fixture
def fresh_database(postgres_url: str) -> Iterator[str]:
    """An empty database of its own on the session's PostgreSQL server."""
    name = f"hrmon_a_{secrets.token_hex(4)}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


async def test_flow_on_postgres(key_dir: Path, fresh_database: str) -> None:
    from tests.servers import in_memory_stack  # after pytest loaded it as a plugin

    pk, _, _ = system_key()
    pk_d, sk_d = physician_key()
    async with in_memory_stack(key_dir, fresh_database) as stack:
        engine = sa.create_engine(fresh_database)
        tables = set(sa.inspect(engine).get_table_names())
        engine.dispose()
        assert {"physicians", "patients", "readings", "alembic_version"} <= tables
        token = await sign_in(stack, "dr.pg", pk_d)
        patient_id, device = await new_patient(stack, token)
        await stack.client.put(
            f"/v1/patients/{patient_id}/range",
            json=range_body(pk, LOW, HIGH, THRESHOLD),
            headers=bearer(token),
        )
        values = [(LOW - 1, 10), (7243, 4420), (HIGH + 1, 10), (7243, THRESHOLD)]
        sent = {}
        for hr, score in values:
            body = reading_body(pk, hr, score)
            assert (
                await stack.client.post("/v1/readings", json=body, headers=bearer(device))
            ).status_code == 202
            assert (
                await stack.client.post("/v1/readings", json=body, headers=bearer(device))
            ).status_code == 200
            sent[body["reading_id"]] = (hr, score)
        assert row_counts(fresh_database)["readings"] == len(values)
        results = await wait_until_decided(stack.client, token, patient_id, len(values))
        got = {
            r["reading_id"]: decrypt(sk_d, decode_ciphertext(pk_d, r["result"])) for r in results
        }
        assert got == {
            rid: expected_bit(hr, s, LOW, HIGH, THRESHOLD) for rid, (hr, s) in sent.items()
        }
        clear = {str(v) for pair in values for v in pair} | {str(LOW), str(HIGH), str(THRESHOLD)}
        assert not {str(c) for c in all_cells(fresh_database)} & clear
    async with in_memory_stack(key_dir, fresh_database) as again:  # migration is idempotent
        assert (await again.client.get("/readyz")).status_code == 200
