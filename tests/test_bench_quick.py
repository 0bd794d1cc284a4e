"""``hrmon bench --quick`` end to end, with small test-only keys, in a child process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.run import main

REQUIRED = (
    "per_check_ms",
    "peer_per_check_ms",
    "speedup_vs_peer",
    "throughput_checks_per_s",
    "e2e_p50_ms",
    "bytes_per_reading",
    "baseline_leakage_bits",
    "random_leakage_bits",
    "zero_leakage_per_check_ms",
    "zero_leakage_speedup_vs_peer",
    "zero_leakage_leakage_bits",
    "per_check_sequential_pdec_ms",
    "per_check_cold_djn_ms",
    "throughput_sustained_djn_checks_per_s",
    "zero_leakage_throughput_sustained_checks_per_s",
    "zero_leakage_e2e_p50_ms",
    "ingest_ack_p95_ms",
    "ingest_acks_per_s",
    "scale_out_speedup",
    "pool_speedup",
)


@pytest.mark.slow
def test_quick_bench_writes_report_and_prints_json_last(tmp_path: Path):
    out = tmp_path / "bench"
    env = {**os.environ, "HRMON_ALLOW_INSECURE_TEST_KEYS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--key-bits", "1024", "--json",
         "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(key in summary for key in REQUIRED)
    assert summary["key_bits"] == 1024
    assert summary["per_check_ms"] > 0 and summary["throughput_checks_per_s"] > 0
    # a lone reading's bytes: every message it causes, the device's own POST included
    sizes = summary["bytes_per_reading"]
    lone = [v for k, v in sizes.items() if k != "total_unbatched" and "readings per" not in k]
    assert "device -> A ReadingIn (POST /v1/readings)" in sizes
    assert sizes["total_unbatched"] == pytest.approx(sum(lone), abs=1)
    # a missing peer or harness is reported with its reason, never with a number
    if summary["peer_per_check_ms"] is None:
        assert summary["peer_missing_reason"] and summary["speedup_vs_peer"] is None
    else:
        expected = summary["peer_per_check_ms"] / summary["per_check_ms"]
        assert summary["speedup_vs_peer"] == pytest.approx(expected, rel=0.01)
    if summary["e2e_p50_ms"] is None:
        assert summary["e2e_missing_reason"]
    assert summary["baseline_leakage_bits"] > summary["random_leakage_bits"]
    assert summary["zero_leakage_per_check_ms"] > 0
    # the zero-leakage mode's sustained rates, measured like the baseline's (both cores)
    assert summary["zero_leakage_throughput_sustained_checks_per_s"] > 0
    assert summary["zero_leakage_throughput_sustained_djn_checks_per_s"] > 0
    assert "Zero-leakage mode, measured the same way" in (out / "report.md").read_text()
    # the ingestion run: every reading acknowledged and decided, no connection lost
    assert summary["ingest_missing_reason"] is None, summary["ingest_missing_reason"]
    assert summary["ingest_readings"] == 100 and summary["ingest_connection_errors"] == 0
    assert summary["ingest_ack_p95_ms"] > 0 and summary["ingest_acks_per_s"] > 0
    assert summary["zero_leakage_e2e_p50_ms"] > 0
    # both sequences of one run: paced (the headline) and back to back
    assert summary["e2e_back_to_back_p50_ms"] > 0
    assert summary["zero_leakage_e2e_back_to_back_p50_ms"] > 0
    assert "readings back to back" in (out / "report.md").read_text()
    # real worker processes: both counts decided every reading
    assert summary["scale_out_missing_reason"] is None, summary["scale_out_missing_reason"]
    assert summary["scale_out_1_workers_checks_per_s"] > 0
    assert summary["scale_out_speedup"] == pytest.approx(
        summary["scale_out_2_workers_checks_per_s"] / summary["scale_out_1_workers_checks_per_s"],
        rel=0.02,
    )
    # short-exponent noise is cheaper than full-size noise, in the same run
    assert summary["per_check_cold_djn_ms"] < summary["per_check_cold_ms"]
    # B's view in the zero-leakage mode tells no more than the independent view
    assert summary["zero_leakage_leakage_bits"] < summary["baseline_leakage_bits"] / 4
    for name in ("report.md", "results.csv", "results.json", "cost_vs_batch.png",
                 "latency_breakdown.png"):  # fmt: skip
        assert (out / name).stat().st_size > 0, name
    report = (out / "report.md").read_text()
    assert "1024-bit keys" in report and "cpu" in report.lower()
    assert 0.0 <= summary["baseline_bit_guess_accuracy"] <= 1.0
    # every table row has its header's number of cells (a "|" in a label used to add one)
    for table in re.split(r"\n\s*\n", report):
        rows = [line for line in table.splitlines() if line.startswith("|")]
        if rows:
            widths = {len(re.split(r"(?<!\\)\|", row)) for row in rows}
            assert len(widths) == 1, rows
    assert json.loads((out / "results.json").read_text())["per_check_ms"] == summary["per_check_ms"]


def test_small_keys_are_refused_without_the_test_switch(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("HRMON_ALLOW_INSECURE_TEST_KEYS", raising=False)
    assert main(["--quick", "--key-bits", "1024", "--out", str(tmp_path)]) == 2
    assert "HRMON_ALLOW_INSECURE_TEST_KEYS=1" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_key_bits_must_be_integers(capsys, tmp_path):
    assert main(["--key-bits", "2048,big", "--out", str(tmp_path)]) == 2
    assert "2048,big" in capsys.readouterr().err
