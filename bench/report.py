"""Write a run's results: Markdown tables, CSV of every timing, JSON, and PNG plots."""

from __future__ import annotations

import csv
import json
import os
import platform
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.results import KeySizeResults
from bench.stats import Summary
from bench.throughput import ThroughputResult

HEADLINE = {
    "per_check_ms": "range check, one reading, pools pre-filled (ms)",
    "per_check_packed_ms": "range check per reading, full pack (ms)",
    "per_check_cold_ms": "range check, one reading, noise computed inline (ms)",
    "per_check_sequential_pdec_ms": "one reading, PDec_1 then PDec_2 (before the lever, ms)",
    "per_check_cold_djn_ms": "one reading, DJN noise computed inline (ms)",
    "peer_per_check_ms": "TNO peer, four comparisons (ms)",
    "speedup_vs_peer": "speed-up against the peer, one reading",
    "speedup_vs_peer_packed": "speed-up against the peer, full pack",
    "speedup_vs_peer_cold": "speed-up against the peer, noise inline",
    "speedup_vs_peer_cold_djn": "speed-up against the peer, DJN noise inline",
    "throughput_checks_per_s": "throughput, burst (checks/s)",
    "throughput_sustained_checks_per_s": "throughput, sustained (checks/s)",
    "throughput_sustained_djn_checks_per_s": "throughput, sustained, DJN noise (checks/s)",
    "e2e_p50_ms": "device to physician-readable, readings paced, median (ms)",
    "e2e_p95_ms": "device to physician-readable, readings paced, p95 (ms)",
    "e2e_back_to_back_p50_ms": "device to physician-readable, readings back to back, median (ms)",
    "baseline_leakage_bits": "B's view vs distance, baseline (bits)",
    "random_leakage_bits": "same estimator on an independent view (bits)",
    "baseline_bit_guess_accuracy": "B guessing the bit next to a bound (0.5 = coin)",
    "distance_entropy_bits": "entropy of the distance (bits)",
    "zero_leakage_per_check_ms": "zero-leakage mode, one reading, pools pre-filled (ms)",
    "zero_leakage_per_check_packed_ms": "zero-leakage mode, per reading, full packs (ms)",
    "zero_leakage_throughput_sustained_checks_per_s": "zero-leakage, sustained",
    "zero_leakage_throughput_sustained_djn_checks_per_s": "the same with DJN noise",
    "zero_leakage_e2e_p50_ms": "zero-leakage, device to physician-readable, paced, median (ms)",
    "zero_leakage_e2e_back_to_back_p50_ms": (
        "zero-leakage, device to physician-readable, back to back, median (ms)"
    ),
    "scale_out_speedup": "sustained checks/s, 2 server A workers (real processes) over 1",
    "pool_speedup": "sustained checks/s, in-process pool of 2 over 1 process",
    "ingest_ack_p95_ms": "devices at once: acknowledgement p95 (ms)",
    "ingest_acks_per_s": "devices at once: acknowledgements per second",
    "zero_leakage_per_check_cold_ms": "zero-leakage mode, noise inline (ms)",
    "zero_leakage_speedup_vs_peer": "zero-leakage speed-up against the peer",
    "zero_leakage_speedup_vs_peer_cold": "zero-leakage speed-up, noise inline",
    "zero_leakage_leakage_bits": "B's view vs distance, zero-leakage (bits)",
}
"""The headline rows: JSON key -> what it measures, in words."""


def machine() -> dict[str, Any]:
    """Where the numbers were taken."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _ms(s: Summary | None) -> str:
    return "n/a" if s is None else f"{s.median_ms:.3f} | {s.iqr_ms:.3f}"


def markdown(results: Sequence[KeySizeResults], command: str) -> str:
    """The full report as Markdown: header, then one block of tables per key size."""
    info = machine()
    lines = [
        "# hrmon benchmark",
        "",
        f"Command: `{command}`  ",
        f"Machine: {info['platform']}, {info['cpu_count']} CPUs, Python {info['python']}, "
        f"{info['date']}  ",
        "Times are median | IQR over repeated runs, in ms, unless stated.",
    ]
    for r in results:
        s = r.summary_json()
        lines += [
            "",
            f"## {r.key_bits}-bit keys ({r.readings_per_pack} readings per pack)",
            "",
            "### Headline",
            "",
            "| measure | JSON key | value |",
            "|---|---|---|",
        ]
        for key, words in HEADLINE.items():
            if key in s:
                value = s[key]
                lines.append(f"| {words} | `{key}` | {'missing' if value is None else value} |")
        for key in ("peer_missing_reason", "e2e_missing_reason"):
            if s.get(key):
                lines.append(f"| why missing | `{key}` | {_cell(str(s[key]))} |")
        lines += [
            "",
            "![Cost per reading vs batch size](cost_vs_batch.png)",
            "![Latency breakdown](latency_breakdown.png)",
        ]
        lines += ["", "### Full range check, per reading", "", "| configuration | median | IQR |"]
        lines.append("|---|---|---|")
        lines += [f"| {_cell(c.label)} | {_ms(c.summary)} |" for c in r.checks]
        if r.peer is not None:
            peer = r.peer
            if peer.available:
                lines.append(f"| TNO peer {peer.version}: 4 comparisons | {_ms(peer.per_check)} |")
                lines.append(f"| TNO peer: 1 comparison | {_ms(peer.per_comparison)} |")
            else:
                lines.append(f"| TNO peer | missing: {peer.reason} | |")
        lines += [
            "",
            "### Primitives",
            "",
            "| primitive | median | IQR | use |",
            "|---|---|---|---|",
        ]
        lines += [f"| {_cell(p.name)} | {_ms(p.summary)} | {_cell(p.note)} |" for p in r.primitives]
        lines += ["", "### Steps of one reading", "", "| party | step | median | IQR |"]
        lines.append("|---|---|---|---|")
        lines += [f"| {st.party} | {_cell(st.step)} | {_ms(st.summary)} |" for st in r.steps]
        lines += ["", "### Throughput (server side, A + B)", "", *_throughput_table(r.throughput)]
        if r.zero_leakage_throughput:
            lines += ["", "Zero-leakage mode, measured the same way:", ""]
            lines += _throughput_table(r.zero_leakage_throughput)
        lines += [
            "",
            "### Bytes on the wire (JSON bodies)",
            "",
            "| direction | message | bytes/reading | note |",
        ]
        lines.append("|---|---|---|---|")
        lines += [
            f"| {w.direction} | {w.message} | {w.bytes_per_reading:.0f} | {w.note} |"
            for w in r.wire
        ]
        lines += [
            "",
            "### Leakage of B's view about the distance to the bound",
            "",
            "| view | I(view; distance), bits | best-guess error, bits | H(distance), bits | trials |",  # noqa: E501
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {mode} | {e.mutual_information_bits:.3f} | {e.guess_error_bits:.3f} "
            f"| {e.secret_entropy_bits:.3f} | {e.trials} |"
            for mode, e in r.leakage.items()
        ]
        if r.e2e is not None:
            lines += ["", "### End to end over loopback HTTP", ""]
            if r.e2e.latency is not None:
                lines += [
                    "| measure | p50 | p95 | readings |",
                    "|---|---|---|---|",
                    f"| device submit -> physician-readable, readings paced "
                    f"| {r.e2e.latency.median_ms:.1f} "
                    f"| {r.e2e.latency.p95_ms:.1f} | {r.e2e.readings} |",
                ]
                if r.e2e.back_to_back is not None:
                    lines.append(
                        f"| the same, readings back to back | {r.e2e.back_to_back.median_ms:.1f} "
                        f"| {r.e2e.back_to_back.p95_ms:.1f} | {r.e2e.readings} |"
                    )
                if r.e2e.submit is not None:
                    lines.append(
                        f"| device POST only | {r.e2e.submit.median_ms:.1f} "
                        f"| {r.e2e.submit.p95_ms:.1f} | {r.e2e.readings} |"
                    )
            else:
                lines.append(f"Not measured: {r.e2e.reason}")
            zl = r.e2e_zero_leakage
            if zl is not None and zl.latency is not None:
                lines.append(
                    f"| zero-leakage mode, paced | {zl.latency.median_ms:.1f} "
                    f"| {zl.latency.p95_ms:.1f} | {zl.readings} |"
                )
            if zl is not None and zl.back_to_back is not None:
                lines.append(
                    f"| zero-leakage mode, back to back | {zl.back_to_back.median_ms:.1f} "
                    f"| {zl.back_to_back.p95_ms:.1f} | {zl.readings} |"
                )
        if r.ingest is not None:
            lines += ["", "### Ingestion under load (devices at once, comparison running)", ""]
            g = r.ingest
            if g.ack is not None:
                lines += [
                    "| readings | ack p50 ms | ack p95 ms | acks/s | errors | all decided (s) |",
                    "|---|---|---|---|---|---|",
                    f"| {g.readings} | {g.ack.median_ms:.1f} | {g.ack.p95_ms:.1f} "
                    f"| {g.acks_per_s:.1f} | {g.errors} | {g.decided_s:.1f} |",
                ]
            else:
                lines.append(f"Not measured: {g.reason}")
        if r.scale is not None:
            lines += ["", "### Scale out: server A workers and B replicas as processes", ""]
            if r.scale.rows:
                lines += ["| A workers (= B replicas) | readings | seconds | checks/s "
                          "| CPU busy (share of all cores) |",
                          "|---|---|---|---|---|"]  # fmt: skip
                lines += [
                    f"| {row.workers} | {row.readings} | {row.seconds:.1f} "
                    f"| {row.checks_per_s:.2f} "
                    f"| {'-' if row.cpu_busy is None else f'{row.cpu_busy:.0%}'} |"
                    for row in r.scale.rows
                ]
            else:
                lines.append(f"Not measured: {r.scale.reason}")
    return "\n".join(lines) + "\n"


def csv_rows(results: Sequence[KeySizeResults]) -> list[dict[str, Any]]:
    """One row per timing: section, name, key size, median, IQR, p95, n."""
    rows: list[dict[str, Any]] = []

    def add(bits: int, section: str, name: str, s: Summary) -> None:
        rows.append({"key_bits": bits, "section": section, "name": name, **s.to_json()})

    for r in results:
        for p in r.primitives:
            add(r.key_bits, "primitive", p.name, p.summary)
        for st in r.steps:
            add(r.key_bits, f"step/{st.party}", st.step, st.summary)
        for c in r.checks:
            add(r.key_bits, "check", c.name, c.summary)
        if r.peer and r.peer.per_check and r.peer.per_comparison:
            add(r.key_bits, "peer", "4 comparisons", r.peer.per_check)
            add(r.key_bits, "peer", "1 comparison", r.peer.per_comparison)
        for t in (*r.throughput, *r.zero_leakage_throughput):
            name = f"batch={t.batch} workers={t.workers} prefilled={t.prefilled} noise={t.noise}"
            kind = "throughput_ms_per_reading" + ("" if t.mode == "baseline" else "/zero-leakage")
            add(r.key_bits, kind, name,
                Summary(t.ms_per_reading, 0.0, t.ms_per_reading, t.rounds))  # fmt: skip
        if r.e2e and r.e2e.latency:
            add(r.key_bits, "e2e", "submit -> physician-readable", r.e2e.latency)
    return rows


def _throughput_table(rows: Sequence[ThroughputResult]) -> list[str]:
    """A Markdown table of throughput rows."""
    return [
        "| batch (readings) | processes | noise pools | readings/s | ms/reading |",
        "|---|---|---|---|---|",
        *(
            f"| {t.batch} | {t.workers} | {t.pools} "
            f"| {t.readings_per_s:.1f} | {t.ms_per_reading:.2f} |"
            for t in rows
        ),
    ]


def _cell(text: str) -> str:
    """Table cell text: a ``|`` inside (``PDec_1 || PDec_2``) would end the cell."""
    return text.replace("|", "\\|")


def plots(results: Sequence[KeySizeResults], out: Path) -> list[Path]:
    """cost_vs_batch.png and latency_breakdown.png; returns the files written.

    Raises:
        ModuleNotFoundError: matplotlib is missing (``pip install -e '.[bench]'``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in results:
        for workers in sorted({t.workers for t in r.throughput}):
            for setting in sorted({t.pools for t in r.throughput}):
                points = [
                    (t.batch, t.ms_per_reading)
                    for t in r.throughput
                    if t.workers == workers and t.pools == setting
                ]
                if points:
                    xs, ys = zip(*points, strict=True)
                    label = f"{r.key_bits} bits, {workers} proc, {setting}"
                    ax.plot(xs, ys, marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size (readings per round)")
    ax.set_ylabel("wall time per reading, ms (server side)")
    ax.set_title("Cost per reading vs batch size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    written.append(out / "cost_vs_batch.png")
    fig.savefig(written[-1], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.6 * len(results)))
    parties = ["device", "A", "B", "physician"]
    colours = {"device": "#8da0cb", "A": "#66c2a5", "B": "#fc8d62", "physician": "#e78ac3"}
    for row, r in enumerate(results):
        left = 0.0
        for party in parties:
            width = sum(
                st.summary.median_ms
                for st in r.steps
                if st.party == party and not (party == "device" and "fresh" in st.step)
            )
            ax.barh(row, width, left=left, color=colours[party],
                    label=party if row == 0 else None)  # fmt: skip
            left += width
    ax.set_yticks(range(len(results)), [f"{r.key_bits} bits" for r in results])
    ax.set_xlabel("ms per reading, one reading per pack, pools pre-filled (no network)")
    ax.set_title("Latency breakdown of one range check by party")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    written.append(out / "latency_breakdown.png")
    fig.savefig(written[-1], dpi=120)
    plt.close(fig)
    return written


def write_all(results: Sequence[KeySizeResults], out: Path, command: str) -> dict[str, Any]:
    """Write report.md, results.csv, results.json and the plots into ``out``.

    Returns:
        The JSON object also written to results.json (headline first).
    """
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(markdown(results, command), encoding="utf-8")
    rows = csv_rows(results)
    with (out / "results.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=["key_bits", "section", "name", "median_ms", "iqr_ms", "p95_ms", "n"]
        )
        writer.writeheader()
        writer.writerows(rows)
    try:
        plots(results, out)
    except ModuleNotFoundError:  # the numbers stand without the pictures
        note = "plots skipped: matplotlib is not installed (pip install -e '.[bench]')\n"
        (out / "PLOTS-SKIPPED.txt").write_text(note, encoding="utf-8")
        print(note, end="", file=sys.stderr)
    primary = next((r for r in results if r.key_bits == 2048), results[0])
    document: dict[str, Any] = {
        **primary.summary_json(),
        "machine": machine(),
        "command": command,
        "by_key_bits": {str(r.key_bits): r.summary_json() for r in results},
    }
    (out / "results.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return document
