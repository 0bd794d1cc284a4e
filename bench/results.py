"""What one benchmark run measured at one key size, and its JSON summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench import steps
from bench.leakage import LeakageEstimate
from bench.peer import PeerResult
from bench.primitives import PrimitiveResult
from bench.stats import Summary
from bench.steps import CheckResult, StepResult
from bench.throughput import ThroughputResult

if TYPE_CHECKING:  # bench.ingest imports bench.e2e, which imports this module
    from bench.ingest import IngestResult
    from bench.scale import ScaleResult
from bench.wire import WireRow


@dataclass(frozen=True)
class EndToEnd:
    """Device -> physician-readable latency over loopback HTTP, or why it was not measured.

    Attributes:
        available: whether it ran.
        reason: why not.
        latency: submit to the result being readable by the physician, ms, readings
            paced (``bench.e2e.PACE_S`` apart: servers idle when each arrives).
        submit: the device's POST alone, ms.
        readings: how many readings were timed in each sequence.
        back_to_back: the same latency with each reading sent right after the last
            result (its refill running beside it).
    """

    available: bool
    reason: str = ""
    latency: Summary | None = None
    submit: Summary | None = None
    readings: int = 0
    back_to_back: Summary | None = None


@dataclass
class KeySizeResults:
    """Every section's results at one key size (filled section by section)."""

    key_bits: int
    readings_per_pack: int = 0
    primitives: list[PrimitiveResult] = field(default_factory=list)
    steps: list[StepResult] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    throughput: list[ThroughputResult] = field(default_factory=list)
    wire: list[WireRow] = field(default_factory=list)
    leakage: dict[str, LeakageEstimate] = field(default_factory=dict)
    peer: PeerResult | None = None
    e2e: EndToEnd | None = None
    e2e_zero_leakage: EndToEnd | None = None
    ingest: IngestResult | None = None
    scale: ScaleResult | None = None
    zero_leakage: dict[str, Summary] = field(default_factory=dict)
    zero_leakage_throughput: list[ThroughputResult] = field(default_factory=list)
    bit_guess_accuracy: float | None = None

    def check(self, name: str) -> Summary | None:
        """The per-check summary named ``name`` (see steps.measure_checks), if measured."""
        return next((c.summary for c in self.checks if c.name == name), None)

    def summary_json(self) -> dict[str, Any]:
        """The headline numbers; a missing measurement is null, never invented."""
        peer_ms = self.peer.per_check.median_ms if self.peer and self.peer.per_check else None

        def ms(name: str) -> float | None:
            found = self.check(name)
            return None if found is None else round(found.median_ms, 3)

        def speedup(ours: float | None) -> float | None:
            return None if peer_ms is None or not ours else round(peer_ms / ours, 2)

        burst = [t.readings_per_s for t in self.throughput if t.prefilled]
        sustained = [
            t.readings_per_s for t in self.throughput if not t.prefilled and t.noise == "full"
        ]
        sustained_djn = [t.readings_per_s for t in self.throughput if t.noise == "djn"]
        wire = {
            f"{w.direction} {w.message} ({w.note})": round(w.bytes_per_reading, 1)
            for w in self.wire
        }
        # every message of one reading alone, the device's POST included
        unbatched = [w for w in self.wire if w.readings_per_message == 1]
        summary: dict[str, Any] = {
            "key_bits": self.key_bits,
            "readings_per_pack": self.readings_per_pack,
            "per_check_ms": ms("unbatched"),
            "per_check_packed_ms": ms("packed"),
            "per_check_cold_ms": ms("unbatched_cold"),
            "per_check_sequential_pdec_ms": ms("unbatched_sequential_pdec"),
            "per_check_cold_djn_ms": ms("unbatched_cold_djn"),
            "per_check_packed_cold_djn_ms": ms("packed_cold_djn"),
            "peer_per_check_ms": None if peer_ms is None else round(peer_ms, 3),
            "peer_missing_reason": self.peer.reason if self.peer and not self.peer.available
            else None,
            "speedup_vs_peer": speedup(ms("unbatched")),
            "speedup_vs_peer_packed": speedup(ms("packed")),
            "speedup_vs_peer_cold": speedup(ms("unbatched_cold")),
            "speedup_vs_peer_cold_djn": speedup(ms("unbatched_cold_djn")),
            "throughput_checks_per_s": round(max(burst), 1) if burst else None,
            "throughput_sustained_checks_per_s": round(max(sustained), 1) if sustained else None,
            "throughput_sustained_djn_checks_per_s": (
                round(max(sustained_djn), 1) if sustained_djn else None
            ),
            "e2e_p50_ms": None,
            "e2e_p95_ms": None,
            "e2e_back_to_back_p50_ms": None,
            "e2e_missing_reason": None,
            "bytes_per_reading": {
                "total_unbatched": round(sum(w.bytes_per_reading for w in unbatched), 1),
                **wire,
            },
        }  # fmt: skip
        if self.e2e is not None:
            if self.e2e.latency is not None:
                summary["e2e_p50_ms"] = round(self.e2e.latency.median_ms, 2)
                summary["e2e_p95_ms"] = round(self.e2e.latency.p95_ms, 2)
            else:
                summary["e2e_missing_reason"] = self.e2e.reason
            if self.e2e.back_to_back is not None:
                summary["e2e_back_to_back_p50_ms"] = round(self.e2e.back_to_back.median_ms, 2)
        for mode, estimate in self.leakage.items():
            summary[f"{mode}_leakage_bits"] = round(estimate.mutual_information_bits, 3)
            summary[f"{mode}_guess_error_bits"] = round(estimate.guess_error_bits, 3)
        rhythm = {s.step: s.summary.median_ms for s in self.steps}
        if {steps.RHYTHM_STEP, steps.NO_RHYTHM_STEP} <= rhythm.keys():
            # the fourth comparison's share of A's per-reading work (#14)
            added = rhythm[steps.RHYTHM_STEP] - rhythm[steps.NO_RHYTHM_STEP]
            summary["rhythm_check_added_ms"] = round(added, 3)
            summary["rhythm_check_cost_ratio"] = round(
                rhythm[steps.RHYTHM_STEP] / rhythm[steps.NO_RHYTHM_STEP], 3
            )
        if self.bit_guess_accuracy is not None:  # 0.5: B cannot read the bit at a bound
            summary["baseline_bit_guess_accuracy"] = round(self.bit_guess_accuracy, 4)
        zl = {name: round(s.median_ms, 3) for name, s in self.zero_leakage.items()}
        # like the baseline's: one reading alone in its pack; the batch of full packs and
        # the inline-noise rows are one process's work; the sustained rates, like the
        # baseline's, the best of one process and one per core
        summary["zero_leakage_per_check_ms"] = zl.get("single")
        summary["zero_leakage_per_check_packed_ms"] = zl.get("prefilled")
        summary["zero_leakage_per_check_cold_ms"] = zl.get("inline")
        summary["zero_leakage_per_check_cold_djn_ms"] = zl.get("inline_djn")
        summary["zero_leakage_speedup_vs_peer"] = speedup(zl.get("single"))
        summary["zero_leakage_speedup_vs_peer_packed"] = speedup(zl.get("prefilled"))
        summary["zero_leakage_speedup_vs_peer_cold"] = speedup(zl.get("inline"))
        for key, noise in (("", "full"), ("_djn", "djn")):
            rates = [t.readings_per_s for t in self.zero_leakage_throughput if t.noise == noise]
            summary[f"zero_leakage_throughput_sustained{key}_checks_per_s"] = (
                round(max(rates), 1) if rates else None
            )
        summary["zero_leakage_e2e_p50_ms"] = None
        summary["zero_leakage_e2e_back_to_back_p50_ms"] = None
        zl_e2e = self.e2e_zero_leakage
        if zl_e2e is not None and zl_e2e.latency is not None:
            summary["zero_leakage_e2e_p50_ms"] = round(zl_e2e.latency.median_ms, 2)
        if zl_e2e is not None and zl_e2e.back_to_back is not None:
            summary["zero_leakage_e2e_back_to_back_p50_ms"] = round(
                zl_e2e.back_to_back.median_ms, 2
            )
        # a second worker process: the in-process pool (one process per core doing A's
        # and B's work) and, from real servers, 1 and 2 A workers with as many B replicas
        summary["pool_speedup"] = _pool_speedup(self.throughput)
        summary["scale_out_speedup"] = None
        if self.scale is not None:
            scale = self.scale
            summary["scale_out_missing_reason"] = None if scale.available else scale.reason
            for run in scale.rows:
                summary[f"scale_out_{run.workers}_workers_checks_per_s"] = round(
                    run.checks_per_s, 2
                )
                summary[f"scale_out_{run.workers}_workers_cpu_busy"] = (
                    None if run.cpu_busy is None else round(run.cpu_busy, 2)
                )
            gain = scale.speedup
            summary["scale_out_speedup"] = None if gain is None else round(gain, 2)
        if self.ingest is not None:
            ingest = self.ingest
            summary["ingest_missing_reason"] = None if ingest.available else ingest.reason
            summary["ingest_readings"] = ingest.readings
            summary["ingest_ack_p50_ms"] = ingest.ack and round(ingest.ack.median_ms, 1)
            summary["ingest_ack_p95_ms"] = ingest.ack and round(ingest.ack.p95_ms, 1)
            summary["ingest_acks_per_s"] = round(ingest.acks_per_s, 1)
            summary["ingest_connection_errors"] = ingest.errors
            summary["ingest_all_decided_s"] = round(ingest.decided_s, 1)
        if "baseline" in self.leakage:
            summary["distance_entropy_bits"] = round(
                self.leakage["baseline"].secret_entropy_bits, 3
            )
        return summary


def _pool_speedup(rows: list[ThroughputResult]) -> float | None:
    """Sustained checks/s of the worker-process pool over one process, at the largest
    batch both ran (noise refill counted, full-size noise): what a second comparison
    worker on the same machine adds (issue #15)."""
    sustained = [t for t in rows if not t.prefilled and t.noise == "full"]
    pooled = {t.batch: t.readings_per_s for t in sustained if t.workers > 1}
    single = {t.batch: t.readings_per_s for t in sustained if t.workers == 1}
    common = sorted(pooled.keys() & single.keys())
    if not common:
        return None
    return round(pooled[common[-1]] / single[common[-1]], 2)
