"""``hrmon demo``: the whole private flow on loopback, with real recordings and real servers.

Plays every party in turn, each through its own code path: the operator runs setup, both
servers start as separate processes, the physician makes a key pair, enrols and adds
patients with healthy ranges, each patient's device analyses shipped PhysioNet
recordings (heart sounds; for one patient, single-lead ECG with atrial fibrillation) and
submits ciphertexts, and the physician decrypts the results. Then it shows
what each party ended up knowing. It exits 0 only when every step completed and every
decrypted bit equals the clear-text check the demo can make because it plays all parties.

One module on purpose (about 500 lines): the demo is one story told in order (keys,
servers, enrolment, readings, what each party sees), and each step is a short method of
one runner.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

import cli_help
from client.device_config import DeviceConfig
from client.encrypt import EncodedRange, encode_range, expected_result
from client.errors import HrmonError
from client.system_key import SystemPublicKey
from device import SAMPLES_DIR, analysis
from device.cli import reading_from, submit
from device.sending import connect
from ops import setup as setup_keys
from physician import cli as physician_cli
from protocol.params import DEFAULT_KEY_BITS
from service_common.key_dir import ENROLMENT_TOKEN
from signals.rhythm import DEFAULT_IRREGULARITY_THRESHOLD

ECG_SAMPLES_DIR = SAMPLES_DIR / "ecg"
TEST_KEY_BITS = 1024
RESULT_TIMEOUT_S = 120.0
USERNAME = "dr.demo"


@dataclass(frozen=True)
class Sample:
    """A shipped recording and what PhysioNet says about it."""

    file: str
    record: str
    label: str
    hr_ecg_bpm: float | None


@dataclass(frozen=True)
class PatientPlan:
    """A demo patient: range set by the physician and the recordings their device sends."""

    label: str
    low: float
    high: float
    samples: tuple[Sample, ...]
    note: str


@dataclass
class ReadingRecord:
    """One recording's journey, from every party's point of view."""

    file: str
    record: str
    physionet_label: str
    device: dict[str, Any]
    sent: bool
    hr_ecg_bpm: float | None = None
    reading_id: str | None = None
    status: str | None = None
    abnormal: bool | None = None
    expected_abnormal: bool | None = None


@dataclass
class PatientRecord:
    """A demo patient after the flow."""

    label: str
    patient_id: str
    low: float
    high: float
    threshold: float
    irregularity_threshold: float
    note: str
    readings: list[ReadingRecord] = field(default_factory=list)
    tally_count: int = 0
    tally_abnormal: int = 0


class DemoFailed(HrmonError):
    """The flow did not complete, or a decrypted result disagrees with the clear-text check."""


def load_samples(directory: Path = SAMPLES_DIR) -> list[Sample]:
    """The shipped recordings listed in ``samples.json``.

    Raises:
        DemoFailed: the samples are missing.
    """
    index = directory / "samples.json"
    try:
        entries = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DemoFailed(f"shipped samples missing or unreadable at {index}: {exc}") from None
    if isinstance(entries, dict):
        entries = entries.get("samples", [])
    samples = [
        Sample(
            file=str(e["file"]),
            record=str(e.get("source_record", e.get("record", e["file"]))),
            label=_label(e.get("label")),
            hr_ecg_bpm=None if e.get("hr_ecg_bpm") is None else float(e["hr_ecg_bpm"]),
        )
        for e in entries
    ]
    if not samples:
        raise DemoFailed(f"{index} lists no recordings")
    return samples


def load_ecg_samples(directory: Path = ECG_SAMPLES_DIR) -> list[Sample]:
    """The shipped single-lead ECG records (PhysioNet/CinC 2017) in ``REFERENCE.csv``:
    label ``A`` is atrial fibrillation, ``N`` normal sinus rhythm."""
    index = directory / "REFERENCE.csv"
    try:
        rows = [line.split(",") for line in index.read_text(encoding="utf-8").split()]
    except OSError as exc:
        raise DemoFailed(f"shipped ECG samples missing at {index}: {exc}") from None
    names = {"A": "atrial fibrillation", "N": "normal rhythm"}
    return [
        Sample(
            str((directory / f"{name}.hea").relative_to(SAMPLES_DIR)),
            f"cinc2017/{name}",
            names.get(label, label),
            None,
        )
        for name, label in rows
    ]


def _label(value: Any) -> str:
    text = str(value).strip().lower()
    return "abnormal" if text in ("abnormal", "1", "true") else "normal"


def plan_patients(samples: list[Sample], ecg: list[Sample]) -> list[PatientPlan]:
    """Four patients: normal recordings, abnormal recordings, a narrow heart-rate range,
    and an ECG wearable whose recordings include atrial fibrillation.

    The third patient's range (60-70 bpm) is narrower than most resting rates, so some of
    their readings are abnormal by heart rate alone, whatever the CNN says. The fourth
    patient's rates are in range: only the rhythm check can flag their AF recordings.
    """
    normal = tuple(s for s in samples if s.label == "normal")
    abnormal = tuple(s for s in samples if s.label == "abnormal")
    plans = [
        PatientPlan("patient-1", 50, 110, normal or tuple(samples), "normal recordings"),
        PatientPlan("patient-2", 50, 110, abnormal or tuple(samples), "abnormal recordings"),
        PatientPlan("patient-3", 60, 70, tuple(samples), "narrow heart-rate range 60-70 bpm"),
        PatientPlan("patient-4", 40, 150, tuple(ecg), "ECG wearable; irregular rhythm (AF)"),
    ]
    return [p for p in plans if p.samples]


def _start_servers(stack: ExitStack, key_dir: Path, workdir: Path, insecure: bool) -> str:
    """Both servers as real processes on free loopback ports; returns A's URL."""
    from ops.launcher import launch_servers

    servers = stack.enter_context(
        launch_servers(
            key_dir,
            database_url=f"sqlite:///{workdir / 'server_a.db'}",
            log_dir=workdir / "logs",
            insecure_test_keys=insecure,
        )
    )
    url: str = servers.a_url
    return url


class Demo:
    """State shared by the demo's steps."""

    def __init__(self, workdir: Path, bits: int, insecure: bool, console: Console) -> None:
        self.workdir = workdir
        self.bits = bits
        self.insecure = insecure
        self.console = console
        self.key_dir = workdir / "keys"
        self.physician_home = workdir / "physician"
        self.password = secrets.token_urlsafe(18)
        self.patients: list[PatientRecord] = []
        self.system: SystemPublicKey | None = None
        self.server_url = ""

    def step(self, text: str) -> None:
        self.console.print(f"[bold cyan]>[/] {text}")

    def run(self) -> None:
        """All steps; raises on the first failure."""
        self.step(f"operator: hrmon setup ({self.bits}-bit system key, split into two shares)")
        self.system = setup_keys.run_setup(
            self.key_dir, self.bits, insecure=self.insecure
        ).system_key
        with ExitStack() as stack:
            self.step("operator: starting server B and server A as separate processes")
            self.server_url = _start_servers(stack, self.key_dir, self.workdir, self.insecure)
            self.step(f"server A ready at {self.server_url}")
            self.enrol_physician()
            plans = plan_patients(load_samples(), load_ecg_samples())
            threshold = analysis.model_threshold()
            for plan in plans:
                self.add_patient(plan, threshold)
            for plan, patient in zip(plans, self.patients, strict=True):
                self.run_device(plan, patient)
            for patient in self.patients:
                self.read_results(patient)
            self.show()
        self.check()

    def enrol_physician(self) -> None:
        assert self.system is not None
        self.step("physician: key pair made locally; enrolling its public half with server A")
        physician_cli.keygen(self.physician_home, self.bits, insecure=self.insecure)
        token = (self.key_dir / ENROLMENT_TOKEN).read_text().strip()
        physician_cli.enrol(
            self.physician_home, self.server_url, USERNAME, self.password, self.system, token
        )

    def add_patient(self, plan: PatientPlan, threshold: float) -> None:
        rho = DEFAULT_IRREGULARITY_THRESHOLD
        bounds = encode_range(plan.low, plan.high, threshold, rho)
        config_path = self.workdir / "devices" / f"{plan.label}.json"
        config = physician_cli.add_patient(
            self.physician_home, self.password, plan.label, config_path
        )
        physician_cli.set_range(self.physician_home, self.password, config.patient_id, bounds)
        self.step(
            f"physician: {plan.label} ({plan.note}): range {plan.low:g}-{plan.high:g} bpm, "
            f"CNN threshold {threshold:.4f}, irregularity threshold {rho:g}, encrypted "
            "before it left"
        )
        self.patients.append(
            PatientRecord(
                plan.label, config.patient_id, plan.low, plan.high, threshold, rho, plan.note
            )
        )

    def run_device(self, plan: PatientPlan, patient: PatientRecord) -> None:
        from client import device_config

        config: DeviceConfig = device_config.load(self.workdir / "devices" / f"{plan.label}.json")
        start = datetime.now(UTC) - timedelta(minutes=len(plan.samples))
        self.step(f"device of {plan.label}: analysing {len(plan.samples)} recordings locally")
        with connect(config) as api:
            for i, sample in enumerate(plan.samples):
                result = analysis.analyse_file(SAMPLES_DIR / sample.file)
                record = ReadingRecord(
                    sample.file,
                    sample.record,
                    sample.label,
                    {**asdict(result), "score_only": result.score_only},
                    result.sendable,
                    sample.hr_ecg_bpm,
                )
                if result.sendable:
                    reading = reading_from(result, None, None)
                    sent = submit(api, config, reading, start + timedelta(minutes=i))
                    record.reading_id, record.status = sent.reading_id, sent.status
                    record.expected_abnormal = expected_result(reading, self.bounds(patient))
                patient.readings.append(record)

    def bounds(self, patient: PatientRecord) -> EncodedRange:
        return encode_range(
            patient.low, patient.high, patient.threshold, patient.irregularity_threshold
        )

    def read_results(self, patient: PatientRecord) -> None:
        sent = [r for r in patient.readings if r.sent]
        self.step(f"physician: waiting for {len(sent)} results of {patient.label}, decrypting")
        results = physician_cli.fetch_results(
            self.physician_home,
            self.password,
            patient.patient_id,
            wait_for=len(sent),
            timeout_s=RESULT_TIMEOUT_S,
        )
        by_id = {r.reading_id: r for r in results}
        for record in sent:
            got = by_id.get(str(record.reading_id))
            if got is None:
                raise DemoFailed(f"server A lost reading {record.reading_id} of {patient.label}")
            record.status, record.abnormal = got.status, got.abnormal
        tally = physician_cli.fetch_tally(self.physician_home, self.password, patient.patient_id)
        patient.tally_count, patient.tally_abnormal = tally.count, tally.abnormal

    # -- what each party knows ------------------------------------------------------------

    def show(self) -> None:
        self.console.print()
        self.console.print(self.physician_view())
        self.console.print(self.device_view())
        self.console.print(self.server_a_view())
        self.console.print(self.server_b_view())

    def physician_view(self) -> Panel:
        table = Table(expand=True)
        for column in ("patient", "range (physician's own)", "recording", "reading id", "result"):
            table.add_column(column)
        for patient in self.patients:
            for i, record in enumerate(patient.readings):
                if not record.sent:
                    verdict = "[dim]not sent (unusable)[/]"
                elif record.abnormal is None:
                    verdict = f"[yellow]{record.status}[/]"
                else:
                    verdict = "[red]ABNORMAL[/]" if record.abnormal else "[green]normal[/]"
                first = i == 0
                table.add_row(
                    patient.label if first else "",
                    f"{patient.low:g}-{patient.high:g} bpm, tau {patient.threshold:.3f}, "
                    f"rho {patient.irregularity_threshold:g}"
                    if first
                    else "",
                    record.file,
                    (record.reading_id or "-")[:8],
                    verdict,
                )
            table.add_row(
                "",
                "",
                "",
                "[bold]tally[/]",
                f"[bold]{patient.tally_abnormal} abnormal of {patient.tally_count}[/]",
                end_section=True,
            )
        return Panel(
            table,
            title="physician: decrypted locally with sk_D — one bit per reading, and the tally",
            subtitle="no heart rate, no score, not which test failed",
        )

    def device_view(self) -> Panel:
        table = Table(expand=True)
        for column in (
            "device of",
            "recording",
            "PhysioNet label",
            "heart rate",
            "ECG (truth)",
            "score",
            "irregularity",
            "sent",
        ):
            table.add_column(column)
        for patient in self.patients:
            for record in patient.readings:
                device = record.device
                bpm = "-" if device["bpm"] is None else f"{device['bpm']:.1f} bpm"
                score = "-" if device["score"] is None else f"{device['score']:.4f}"
                rhythm = "-" if device["irregularity"] is None else f"{device['irregularity']:.3f}"
                sent = "yes" if record.sent else f"no: {device['reason']}"
                if record.sent and device.get("score_only"):
                    sent = "yes, score only (no rate: its range is not checked)"
                ecg = "-" if record.hr_ecg_bpm is None else f"{record.hr_ecg_bpm:.1f} bpm"
                table.add_row(
                    patient.label, record.file, record.physionet_label, bpm, ecg, score,
                    rhythm, sent,
                )  # fmt: skip
        return Panel(
            table,
            title="each device: its own heart rate, CNN score and rhythm irregularity "
            "(never the range or result)",
        )

    def server_a_view(self) -> Panel:
        return Panel(
            server_a_storage(self.workdir / "server_a.db"),
            title="server A stored: ciphertexts (prefixes shown) and metadata — no value",
        )

    def server_b_view(self) -> Panel:
        assert self.system is not None
        lines = [
            "no database and no readings: B is stateless apart from its key share.",
            f"holds share_b.json: SK2 for system key {self.system.key_id} "
            f"({self.system.bits} bits), and the A-B HMAC secret.",
            "saw per pack only blinded, sign-flipped differences and answered one table "
            "entry per reading, re-randomised under the physician's key.",
        ]
        return Panel("\n".join(lines), title="server B stored: nothing but its share")

    # -- the demo's own assertion -------------------------------------------------------------

    def check(self) -> None:
        """Every usable recording decided, and every bit equal to the clear-text expectation.

        Raises:
            DemoFailed: naming the first disagreement.
        """
        sent_total = 0
        for patient in self.patients:
            sent = [r for r in patient.readings if r.sent]
            sent_total += len(sent)
            for record in sent:
                if record.status != "done" or record.abnormal is None:
                    raise DemoFailed(f"{patient.label}/{record.file}: status {record.status}")
                if record.abnormal != record.expected_abnormal:
                    raise DemoFailed(
                        f"{patient.label}/{record.file}: decrypted result "
                        f"{record.abnormal} differs from the clear-text check"
                    )
            abnormal = sum(bool(r.abnormal) for r in sent)
            if (patient.tally_count, patient.tally_abnormal) != (len(sent), abnormal):
                raise DemoFailed(
                    f"{patient.label}: tally {patient.tally_abnormal}/{patient.tally_count} "
                    f"does not match the {abnormal}/{len(sent)} decrypted results"
                )
        if sent_total == 0:
            raise DemoFailed("no recording was usable; nothing went through the protocol")

    def report(self) -> dict[str, Any]:
        """Machine-readable outcome (for ``--report``)."""
        assert self.system is not None
        return {
            "system_key_id": self.system.key_id,
            "key_bits": self.system.bits,
            "samples_dir": str(SAMPLES_DIR),
            "patients": [asdict(p) for p in self.patients],
        }


def _preview(value: Any) -> str:
    """A stored value as the operator of A could see it, long strings cut to a prefix."""
    if isinstance(value, bytes):
        value = value.hex()
    text = str(value)
    return text if len(text) <= 40 else f"{text[:16]}… ({len(text)} chars)"


_HIDDEN = ("hash", "password", "secret", "token")


def server_a_storage(database: Path, rows_per_table: int = 2) -> Table:
    """Every table in A's database (through A's own storage), a few rows each."""
    from server_a.snapshot import snapshot
    from server_a.storage import Storage

    storage = Storage(f"sqlite:///{database}")
    try:
        tables = snapshot(storage, rows_per_table)
    finally:
        storage.close()
    table_view = Table(expand=True, show_lines=False)
    table_view.add_column("table (rows)")
    table_view.add_column("columns: values as stored")
    for table in tables:
        shown = [
            ", ".join(
                f"{col}=<hidden>"
                if any(word in col for word in _HIDDEN)
                else f"{col}={_preview(val)}"
                for col, val in row.items()
            )
            for row in table.rows
        ]
        table_view.add_row(
            f"{table.name} ({table.count})", "\n".join(shown) or "-", end_section=True
        )
    return table_view


def _parser() -> argparse.ArgumentParser:
    parser = cli_help.parser(
        prog="hrmon demo",
        description="Run the whole private flow on loopback with shipped real recordings.",
    )
    parser.add_argument("--dir", type=Path, help="working directory (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--report", type=Path, help="write the outcome as JSON here")
    parser.add_argument(
        "--insecure-test-keys",
        action="store_true",
        help=f"{TEST_KEY_BITS}-bit keys, for the test suite only",
    )
    return parser


def main(argv: list[str]) -> int:
    """Entry point of ``hrmon demo``: 0 only when the whole flow completed and checked out."""
    args = _parser().parse_args(argv)
    # Wide enough for the tables when piped (rich assumes 80 columns without a terminal).
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
    bits = TEST_KEY_BITS if args.insecure_test_keys else DEFAULT_KEY_BITS
    if args.dir is not None:
        if args.dir.exists() and any(args.dir.iterdir()):
            print(
                f"error: {args.dir} is not empty; the demo needs a fresh directory", file=sys.stderr
            )
            return 4
        workdir = args.dir
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        workdir = Path(tempfile.mkdtemp(prefix="hrmon-demo-"))
    began = time.monotonic()
    demo = Demo(workdir, bits, args.insecure_test_keys, console)
    try:
        demo.run()
        code = 0
    except HrmonError as err:
        print(f"error: demo did not complete: {err}", file=sys.stderr)
        _print_logs(workdir)
        code = err.exit_code
    except KeyboardInterrupt:
        print("interrupted; servers stopped", file=sys.stderr)
        code = 130
    except Exception as err:  # a launcher or server failure: say what, not a traceback
        print(f"error: demo did not complete: {type(err).__name__}: {err}", file=sys.stderr)
        _print_logs(workdir)
        code = 1
    if args.report is not None:
        args.report.write_text(
            json.dumps(
                {"ok": code == 0, **demo.report()} if demo.system else {"ok": False}, indent=2
            )
        )
    if code == 0:
        console.print(
            f"\n[bold green]demo complete[/] in {time.monotonic() - began:.1f} s: every "
            "decrypted result matches the clear-text check."
        )
    if args.dir is None and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        console.print(f"working directory kept: {workdir}")
    return code


def _print_logs(workdir: Path, lines: int = 20) -> None:
    for log in sorted((workdir / "logs").glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        print(f"--- last lines of {log.name} ---", file=sys.stderr)
        print("\n".join(tail), file=sys.stderr)
