"""``hrmon bench``: measure the protocol and its peer on this machine, in one command.

Sections run in order for each key size; each is one function of a :class:`Context` in
:data:`SECTIONS`, and comparison modes come from :mod:`bench.modes`, so a new mode or
section is one registration. Results go to ``--out`` (report.md, results.csv,
results.json, PNG plots); ``--json`` prints the headline object as the last stdout line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

import cli_help
from bench import modes
from bench.keys import INSECURE_KEYS_ENV, BenchKeys, InsecureKeySize, check_key_bits, make_keys
from bench.leakage import estimate_leakage, independent_view
from bench.results import EndToEnd, KeySizeResults
from protocol.comparison import readings_per_pack

DEFAULT_OUT = Path("bench-out")


@dataclass(frozen=True)
class BenchConfig:
    """How much of everything to run."""

    quick: bool
    primitive_repeats: int
    step_repeats: int
    check_repeats: int
    batch_packs: tuple[int, ...]
    throughput_rounds: int
    leakage_checks: int
    bit_guess_trials: int
    zero_leakage_readings: int
    peer_repeats: int
    e2e_readings: int
    ingest_devices: int
    scale_readings: int
    peer: bool
    e2e: bool

    @classmethod
    def make(cls, quick: bool, peer: bool = True, e2e: bool = True) -> BenchConfig:
        """The quick (< 1 minute with small keys) or the full configuration."""
        if quick:
            return cls(True, 5, 5, 5, (1, 2), 1, 600, 400, 2, 1, 5, 20, 24, peer, e2e)
        return cls(False, 30, 20, 15, (1, 4, 16), 3, 6000, 4000, 14, 10, 40, 200, 96, peer, e2e)


@dataclass
class Context:
    """One key size's keys, the configuration, and the results being filled in."""

    keys: BenchKeys
    config: BenchConfig
    results: KeySizeResults


def primitives_section(ctx: Context) -> None:
    """Each cryptographic primitive."""
    from bench.primitives import measure_primitives

    ctx.results.primitives = measure_primitives(ctx.keys, ctx.config.primitive_repeats)


def steps_section(ctx: Context) -> None:
    """Each protocol step of one reading, then whole range checks."""
    from bench.steps import measure_checks, measure_steps

    ctx.results.steps = measure_steps(ctx.keys, ctx.config.step_repeats)
    ctx.results.checks = measure_checks(ctx.keys, ctx.config.check_repeats)


def throughput_section(ctx: Context) -> None:
    """Batched readings per second, serial and over a process pool."""
    from bench.throughput import measure_throughput

    per_pack = ctx.results.readings_per_pack
    sizes = sorted({1, *(per_pack * p for p in ctx.config.batch_packs)})
    ctx.results.throughput = measure_throughput(ctx.keys, sizes, ctx.config.throughput_rounds)


def wire_section(ctx: Context) -> None:
    """Body bytes of each message, each direction."""
    from bench.wire import measure_wire

    ctx.results.wire = measure_wire(ctx.keys)


def zero_leakage_section(ctx: Context) -> None:
    """The zero-leakage mode's range check, pools pre-filled and r^N inline, and its
    sustained rate over as many processes as the baseline's; importing
    bench.zero_leakage also registers the mode for the leakage section."""
    from bench.throughput import SUSTAINED_SETTINGS, measure_throughput
    from bench.zero_leakage import measure_zero_leakage
    from protocol import zero_leakage as zl

    readings, repeats = ctx.config.zero_leakage_readings, ctx.config.check_repeats
    ctx.results.zero_leakage = {
        "single": measure_zero_leakage(ctx.keys, 1, repeats, prefilled=True),
        "prefilled": measure_zero_leakage(ctx.keys, readings, repeats, prefilled=True),
        "inline": measure_zero_leakage(ctx.keys, readings, repeats, prefilled=False),
        "inline_djn": measure_zero_leakage(
            ctx.keys, readings, repeats, prefilled=False, noise_scheme="djn"
        ),
    }
    per_pack = zl.readings_per_pack(ctx.keys.pk)
    batch = per_pack * max(ctx.config.batch_packs)  # a pack or more per worker
    ctx.results.zero_leakage_throughput = measure_throughput(
        ctx.keys,
        [batch],
        ctx.config.throughput_rounds,
        mode="zero-leakage",
        settings=SUSTAINED_SETTINGS,
    )


def leakage_section(ctx: Context) -> None:
    """Every registered mode's leakage, and the same estimator on an independent view."""
    for name, mode in modes.MODES.items():
        views, distances = mode.record_view(ctx.keys, ctx.config.leakage_checks)
        ctx.results.leakage[name] = estimate_leakage(views, distances)
        if name == "baseline":
            ctx.results.leakage["random"] = estimate_leakage(independent_view(views), distances)
    trials = ctx.config.bit_guess_trials
    ctx.results.bit_guess_accuracy = modes.baseline_bit_guess_accuracy(ctx.keys, trials)


def peer_section(ctx: Context) -> None:
    """TNO's secure comparison, four comparisons per check, at the same key size."""
    from bench.peer import PeerResult, measure_peer
    from bench.pipeline import HIGH, IRREGULARITY_THRESHOLD, LOW, THRESHOLD

    if not ctx.config.peer:
        ctx.results.peer = PeerResult(False, reason="skipped (--no-peer)")
        return
    # the same four questions as a range check: lo <= hr, hr <= hi, tau <= s, rho <= q
    comparisons = [(LOW, 724), (724, HIGH), (THRESHOLD, 1234), (IRREGULARITY_THRESHOLD, 321)]
    ctx.results.peer = measure_peer(ctx.keys.bits, ctx.config.peer_repeats, comparisons)


def e2e_section(ctx: Context) -> None:
    """Both servers as processes on loopback; device submit to physician-readable, in
    each comparison mode."""
    if not ctx.config.e2e:
        ctx.results.e2e = EndToEnd(False, reason="skipped (--no-e2e)")
        ctx.results.e2e_zero_leakage = ctx.results.e2e
        return
    try:
        from bench.e2e import measure_e2e
    except ImportError as exc:
        ctx.results.e2e = EndToEnd(False, reason=f"end-to-end harness unavailable: {exc}")
        ctx.results.e2e_zero_leakage = ctx.results.e2e
        return
    ctx.results.e2e = measure_e2e(ctx.keys, ctx.config.e2e_readings)
    ctx.results.e2e_zero_leakage = measure_e2e(
        ctx.keys, ctx.config.e2e_readings, mode="zero-leakage"
    )


def ingest_section(ctx: Context) -> None:
    """Many devices at once while the comparison runs: acknowledgement latency and rate."""
    if not ctx.config.e2e:
        return
    from bench.ingest import measure_ingest

    ctx.results.ingest = measure_ingest(ctx.keys, ctx.config.ingest_devices, INGEST_PER_DEVICE)


def scale_section(ctx: Context) -> None:
    """1 and 2 comparison workers (and B replicas) as real processes: sustained checks/s."""
    if not ctx.config.e2e:
        return
    from bench.scale import READINGS_PER_PATIENT, measure_scale

    readings = ctx.config.scale_readings
    patients = max(1, readings // READINGS_PER_PATIENT)
    ctx.results.scale = measure_scale(ctx.keys, patients, readings)


Section = tuple[str, Callable[[Context], None]]
SECTIONS: list[Section] = [
    ("primitives", primitives_section),
    ("protocol steps", steps_section),
    ("throughput", throughput_section),
    ("bytes on the wire", wire_section),
    ("zero-leakage mode", zero_leakage_section),
    ("leakage", leakage_section),
    ("TNO peer", peer_section),
    ("end to end (HTTP)", e2e_section),
    ("ingestion under load (HTTP)", ingest_section),
    ("scale out (processes)", scale_section),
]
INGEST_PER_DEVICE = 5


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = cli_help.parser(
        prog="hrmon bench",
        description="Benchmark the private comparison protocol and the TNO peer.",
        epilog=f"Keys under 2048 bits are refused unless {INSECURE_KEYS_ENV}=1 (tests only).",
    )
    parser.add_argument("--quick", action="store_true", help="few repetitions (< 1 minute)")
    parser.add_argument(
        "--key-bits", default="2048", help="comma-separated key sizes (default 2048)"
    )
    parser.add_argument("--json", action="store_true", help="print the JSON summary last")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--no-peer", action="store_true", help="skip the TNO peer")
    parser.add_argument("--no-e2e", action="store_true", help="skip the HTTP end-to-end run")
    parser.add_argument(
        "--ingest-devices",
        type=int,
        default=None,
        metavar="N",
        help="devices sending at once in the ingestion run (default 200; 20 with --quick)",
    )
    return parser.parse_args(list(argv))


def _key_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InsecureKeySize(
            f"--key-bits must be comma-separated integers, got {text!r}"
        ) from None
    if not sizes:
        raise InsecureKeySize("--key-bits names no key size")
    return [check_key_bits(bits) for bits in sizes]


def main(argv: Sequence[str]) -> int:
    """Run every section at every key size, write the report, return an exit code."""
    args = parse_args(argv)
    console = Console(stderr=True)
    try:
        sizes = _key_sizes(args.key_bits)
    except InsecureKeySize as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    config = BenchConfig.make(args.quick, peer=not args.no_peer, e2e=not args.no_e2e)
    if args.ingest_devices is not None:
        if not 1 <= args.ingest_devices <= 10_000:
            console.print("[red]error:[/red] --ingest-devices must be between 1 and 10000")
            return 2
        config = dataclasses.replace(config, ingest_devices=args.ingest_devices)
    all_results: list[KeySizeResults] = []
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("starting", total=len(sizes) * (len(SECTIONS) + 1))
        for bits in sizes:
            progress.update(task, description=f"{bits} bits: key generation")
            keys = make_keys(bits)
            results = KeySizeResults(bits, readings_per_pack(keys.pk))
            progress.advance(task)
            ctx = Context(keys, config, results)
            for name, section in SECTIONS:
                progress.update(task, description=f"{bits} bits: {name}")
                section(ctx)
                progress.advance(task)
            all_results.append(results)
        progress.update(task, description="done")
    from bench.report import write_all

    command = shlex.join(["hrmon", "bench", *argv])
    document = write_all(all_results, args.out, command)
    console.print(f"report: {args.out / 'report.md'}  (CSV, JSON and plots beside it)")
    for key in ("per_check_ms", "peer_per_check_ms", "speedup_vs_peer",
                "throughput_checks_per_s", "e2e_p50_ms", "baseline_leakage_bits",
                "random_leakage_bits", "baseline_bit_guess_accuracy", "zero_leakage_per_check_ms",
                "zero_leakage_speedup_vs_peer", "zero_leakage_leakage_bits"):  # fmt: skip
        console.print(f"  {key}: {document.get(key)}")
    if args.json:
        sys.stdout.write(json.dumps(document) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
