"""A burst of 50 devices submitting at once over loopback: every reading is acknowledged and
decided exactly once with the right bit. Latencies are printed (p50/p95), not asserted."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

import httpx
import pytest

from tests.fault_support import (
    assert_exactly_once_with_right_bits,
    make_readings,
    running_world,
    stored_readings,
)
from tests.service_helpers import bearer

pytestmark = [pytest.mark.faults, pytest.mark.slow]
DEVICES = 50


def _p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def test_burst_of_50_devices_is_answered_and_decided(tmp_path: Path) -> None:
    readings = make_readings(DEVICES)
    with running_world(tmp_path, f"sqlite:///{tmp_path / 'a.sqlite3'}", patients=DEVICES) as world:

        async def burst() -> tuple[list[float], dict[str, float], float]:
            start = asyncio.Event()
            limits = httpx.Limits(max_connections=DEVICES)
            async with httpx.AsyncClient(base_url=world.a_url, timeout=60, limits=limits) as c:

                async def device(index: int) -> float:
                    await start.wait()
                    began = time.perf_counter()
                    response = await c.post(
                        "/v1/readings",
                        json=readings[index].body,
                        headers=bearer(world.patients[index].device_token),
                    )
                    assert response.status_code == 202, response.text
                    return time.perf_counter() - began

                tasks = [asyncio.create_task(device(i)) for i in range(DEVICES)]
                await asyncio.sleep(0.1)  # every device is waiting at the line
                t0 = time.perf_counter()
                start.set()
                acks = list(await asyncio.gather(*tasks))
            decided_at: dict[str, float] = {}
            while len(decided_at) < DEVICES:
                assert time.perf_counter() - t0 < 180, f"{len(decided_at)} decided after 180 s"
                rows = await asyncio.to_thread(stored_readings, world.database_url)
                for row in rows:
                    if row["status"] != "pending" and row["id"] not in decided_at:
                        decided_at[row["id"]] = time.perf_counter() - t0
                await asyncio.sleep(0.05)
            return acks, decided_at, t0

        acks, decided, _ = asyncio.run(burst())
        assert_exactly_once_with_right_bits(stored_readings(world.database_url), readings)
    done = list(decided.values())
    print(
        f"\nburst of {DEVICES} devices (1024-bit test keys, loopback): "
        f"ack p50 {_p(acks, 50) * 1000:.0f} ms, p95 {_p(acks, 95) * 1000:.0f} ms; "
        f"decided p50 {_p(done, 50):.2f} s, p95 {_p(done, 95):.2f} s, last {max(done):.2f} s"
    )
