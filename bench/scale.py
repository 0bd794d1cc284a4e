"""Scale out over real processes: sustained checks per second with 1 and with 2 server A
comparison workers on this machine (issue #15's ``scale_out_speedup``).

For each worker count k: k server B replicas and k server A comparison workers as real
processes (``python -m server_a`` / ``server_b``, as a deployment runs them), one API-only
server A for the physician, one SQLite database in WAL mode (the workers claim readings
from it as they would from PostgreSQL). Every worker uses every B in turn. Noise pools are
off in A and B (``NOISE_POOL_SIZE=0``): every r^N is computed when needed, so the rate is
the sustained one, refill counted. Once every process is ready, ``readings`` readings of
``patients`` patients are written at once and the clock runs until none is pending.

Beside the rate, the CPU seconds all those processes (and their children, such as A's
crypto process) spent in that window, over wall time x cores: how busy the machine was.
One worker already keeps more than one core busy, because A's and B's halves of the work
overlap; a second worker can only add what is left.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import pipeline as pl
from bench.e2e import enrolled_physician, range_body, reading_body
from bench.keys import BenchKeys
from protocol.paillier import NoisePool
from protocol.params import MIN_KEY_BITS

DECIDE_TIMEOUT_S = 900.0
WORKER_COUNTS = (1, 2)
READINGS_PER_PATIENT = 12
"""A patient's backlog, as the in-process throughput rows batch it."""


@dataclass(frozen=True)
class ScaleRow:
    """One worker count's run: readings decided per second of wall time, and the share
    of the machine's CPU its server processes used meanwhile (None off Linux)."""

    workers: int
    readings: int
    seconds: float
    cpu_busy: float | None = None

    @property
    def checks_per_s(self) -> float:
        return self.readings / self.seconds


@dataclass(frozen=True)
class ScaleResult:
    """Every worker count's row, or why the section did not run."""

    available: bool
    reason: str = ""
    rows: tuple[ScaleRow, ...] = ()

    @property
    def speedup(self) -> float | None:
        """Checks/s of the most workers over one worker."""
        rates = {row.workers: row.checks_per_s for row in self.rows}
        if 1 not in rates or len(rates) < 2:
            return None
        return rates[max(rates)] / rates[1]


def _cpu_seconds(sessions: set[int]) -> float | None:
    """User + system CPU seconds of every live process in ``sessions`` (Linux /proc; each
    server runs in a session of its own, its children in the same one)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended meanwhile
        if int(fields[3]) in sessions:  # field 6 of stat: the session id
            total += int(fields[11]) + int(fields[12])  # fields 14, 15: utime, stime
    return total / ticks


def _env(keys: BenchKeys) -> dict[str, str]:
    from ops.launcher import server_env

    extra = {
        "HRMON_A_NOISE_POOL_SIZE": "0",
        "HRMON_B_NOISE_POOL_SIZE": "0",
        "HRMON_A_POLL_INTERVAL_S": "0.05",  # no NOTIFY on SQLite: workers poll
    }
    return server_env(extra, insecure_test_keys=keys.bits < MIN_KEY_BITS)


def _run(keys: BenchKeys, workers: int, patients: int, readings: int, tmp: Path) -> ScaleRow:
    from client.web.basics import free_port
    from ops.launcher import ServerProcess, write_key_dir
    from server_a.storage import NewReading, Storage

    key_dir = write_key_dir(tmp / "keys", system=(keys.pk, keys.share_a, keys.share_b))
    database = f"sqlite:///{tmp / 'a.sqlite3'}"
    env = _env(keys)
    bs = [
        ServerProcess("server_b", free_port(), ["--key-dir", str(key_dir)], env, tmp / f"b{i}.log")
        for i in range(workers)
    ]
    a_args = ["--key-dir", str(key_dir), "--database-url", database]
    b_urls = ",".join(b.url for b in bs)
    api = ServerProcess(
        "server_a",
        free_port(),
        a_args,
        {**env, "HRMON_A_COMPARISON_WORKER": "false"},
        tmp / "a_api.log",
    )
    comparing = [
        ServerProcess(
            "server_a",
            free_port(),
            [*a_args, "--server-b-url", b_urls],
            {**env, "HRMON_A_COMPARISON_WORKER": "true"},
            tmp / f"a_worker{i}.log",
        )
        for i in range(workers)
    ]
    storage = Storage(database)
    try:
        api.start()  # migrates the database first
        for server in (*bs, *comparing):
            server.start()
        physician = enrolled_physician(keys, api.url, key_dir)
        ids = []
        for i in range(patients):
            patient = physician.add_patient(f"scale patient {i}")
            physician.set_range(patient.patient_id, range_body(keys))
            ids.append(patient.patient_id)
        physician.close()
        noise = NoisePool(keys.pk, 0)
        noise.fill(4 * readings)  # the devices encrypted beforehand
        news = []
        for n, plain in enumerate(pl.sample_readings(readings)):
            body = reading_body(keys, plain, noise)
            news.append(
                NewReading(
                    reading_id=body["reading_id"],
                    patient_id=ids[n % patients],
                    key_id=body["key_id"],
                    taken_at=datetime.now(UTC),
                    heart_rate=body["heart_rate"],
                    score=body["score"],
                    irregularity=body["irregularity"],
                    rate_missing=body["rate_missing"],
                )
            )
        sessions = {s.process.pid for s in (*bs, api, *comparing) if s.process is not None}
        cpu_before = _cpu_seconds(sessions)
        started = time.perf_counter()
        for new in news:
            storage.add_reading(new)
        deadline = time.monotonic() + DECIDE_TIMEOUT_S
        while storage.count_pending():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{storage.count_pending()} readings still pending")
            time.sleep(0.02)
        seconds = time.perf_counter() - started
        cpu_after = _cpu_seconds(sessions)
        busy = None
        if cpu_before is not None and cpu_after is not None:
            busy = (cpu_after - cpu_before) / (seconds * (os.cpu_count() or 1))
        return ScaleRow(workers, readings, seconds, busy)
    finally:
        storage.close()
        for server in (*comparing, api, *bs):
            server.stop()


def measure_scale(keys: BenchKeys, patients: int, readings: int) -> ScaleResult:
    """Each of :data:`WORKER_COUNTS`; see the module docstring."""
    rows = []
    try:
        for workers in WORKER_COUNTS:
            with tempfile.TemporaryDirectory(prefix="hrmon-scale-") as tmp:
                rows.append(_run(keys, workers, patients, readings, Path(tmp)))
    except Exception as exc:  # report why, never a number
        return ScaleResult(False, reason=f"{type(exc).__name__}: {exc}"[:300])
    return ScaleResult(True, rows=tuple(rows))
