"""``hrmon device submit|stream|flush|analyse``: the patient device.

The device analyses a recording locally (heart rate and rhythm irregularity from heart
sounds, ECG or PPG; the CNN score from heart sounds), bound-checks and encrypts the three
numbers under the pinned system key, and sends only the
ciphertexts to server A. It never learns the healthy range, the threshold or the result.
``submit`` and ``stream`` put every encrypted reading in the device's outbox
(:mod:`device.outbox`) first and then send the outbox in order, so a reading made while
A is away is kept and goes out with the next one, or with ``hrmon device flush``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cli_help
from client import device_config
from client.api import ServerAClient
from client.device_config import DeviceConfig
from client.encrypt import EncodedReading, encode_reading, encrypt_reading
from client.errors import InputError, ServerUnavailable, run_command
from device import analysis
from device.analysis import Analysis
from device.history import DeviceHistory, history_path
from device.outbox import Outbox, outbox_path
from device.sending import (
    SUBMIT_RETRIES,
    OutboxSender,
    Refused,
    deliver,
    keep,
    queued_note,
    send_body,
)


@dataclass(frozen=True)
class Submitted:
    """A reading A acknowledged (its id lets the device retry without duplicates)."""

    reading_id: str
    status: str
    taken_at: str


def submit(
    api: ServerAClient,
    config: DeviceConfig,
    reading: EncodedReading,
    taken_at: datetime,
    *,
    retries: int = SUBMIT_RETRIES,
) -> Submitted:
    """Encrypt and send one reading; retry the *same* body if A is briefly unreachable."""
    body = encrypt_reading(config.system_key, reading, taken_at=taken_at)
    answer = send_body(api, body, retries)
    return Submitted(str(answer.reading_id), answer.status, body["taken_at"])


def _outbox(args: argparse.Namespace) -> Outbox:
    return Outbox(outbox_path(args.config or device_config.default_path()))


def _history(args: argparse.Namespace) -> DeviceHistory:
    return DeviceHistory(history_path(args.config or device_config.default_path()))


def _report_refused(dropped: Refused, own: str | None = None) -> None:
    """Say which queued readings A refused for good; this command's own one is an error."""
    for reading_id, exc in dropped:
        if reading_id == own:
            raise exc
        print(f"server A refused queued reading {reading_id} for good: {exc}", file=sys.stderr)


def reading_from(result: Analysis, heart_rate: float | None, score: float | None) -> EncodedReading:
    """The reading to send: the analysis, with explicit overrides where given.

    Raises:
        InputError: unusable recording (and no override), or a value out of its bound.
    """
    bpm = heart_rate if heart_rate is not None else result.bpm
    probability = score if score is not None else result.score
    if heart_rate is None and result.score_only and probability is not None:
        # too short for a rate, or a clean heart recording whose rate cannot be read:
        # judged on its score alone (never a stand-in rate)
        return encode_reading(None, probability, result.irregularity)
    if heart_rate is None and not result.usable:
        if result.too_poor and result.score is not None:
            raise InputError(
                f"{result.source}: {result.reason}. Its abnormality score "
                f"{result.score:.4f} was computed on this device; nothing was sent"
            )
        if result.score is not None and result.bpm is None:
            # Honest refusal (no quality gate shipped): a recording too poor for a rate
            # cannot be told from noise, whose score (above the threshold) would be a
            # false alarm; a stand-in rate would be a made-up number.
            raise InputError(
                f"{result.source}: no usable heart rate ({result.reason}); its abnormality "
                f"score {result.score:.4f} was computed on this device, but the recording "
                "is too poor to trust it, so nothing was sent (record again, still and "
                "with the stethoscope firmly placed)"
            )
        raise InputError(f"{result.source}: recording unusable ({result.reason}); nothing sent")
    if probability is None and result.kind != "heart_sound":
        probability = 0.0  # ECG and PPG have no heart-sound score (device.analysis)
    if bpm is None or probability is None:
        raise InputError(f"{result.source}: no heart rate or score ({result.reason}); nothing sent")
    return encode_reading(bpm, probability, result.irregularity)


def _manual(source: str, heart_rate: float, score: float) -> Analysis:
    return Analysis(source, 0.0, 0.0, heart_rate, True, "given on the command line", score)


def _describe(result: Analysis) -> str:
    bpm = "   -  " if result.bpm is None else f"{result.bpm:6.1f}"
    score = "  -   " if result.score is None else f"{result.score:.4f}"
    rhythm = (
        f"not judged ({result.rhythm_note})"
        if result.irregularity is None
        else f"{result.irregularity:.4f}"
    )
    if result.score_only:
        state = f"score only ({result.why_score_only}): its heart-rate range is not checked"
    else:
        state = "usable" if result.usable else f"UNUSABLE: {result.reason}"
    return f"{result.source}: heart rate {bpm} bpm, score {score}, irregularity {rhythm}, {state}"


def _input_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file",
        type=Path,
        help="heart sounds (.wav, .flac), or ECG/PPG as a WFDB record (.hea), EDF or CSV",
    )
    parser.add_argument(
        "--signal",
        choices=("heart_sound", "ecg", "ppg"),
        default=None,
        help="what the file holds (default: detected from the file; a CSV must say)",
    )
    parser.add_argument("--rate", type=float, default=None, help="sample rate of a CSV, Hz")


def _config_argument(parser: argparse.ArgumentParser) -> None:
    device_config.add_path_argument(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _load_config(args: argparse.Namespace) -> DeviceConfig:
    return device_config.load(args.config or device_config.default_path())


def _taken_at(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"--taken-at {text!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _emit(payload: dict[str, Any], as_json: bool, text: str) -> None:
    print(json.dumps(payload) if as_json else text)


@run_command
def submit_main(argv: list[str]) -> int:
    """``hrmon device submit FILE``: one recording, one reading."""
    parser = cli_help.parser(
        prog="hrmon device submit", description="Analyse a recording and submit ciphertexts."
    )
    _input_arguments(parser)
    _config_argument(parser)
    parser.add_argument("--heart-rate", type=float, help="override the estimate, bpm")
    parser.add_argument("--score", type=float, help="override the CNN score, probability")
    parser.add_argument("--taken-at", help="ISO 8601 time of the recording (default now)")
    args = parser.parse_args(argv)
    config = _load_config(args)
    taken_at = _taken_at(args.taken_at)
    if args.heart_rate is not None and args.score is not None:
        result = _manual(str(args.file), args.heart_rate, args.score)
    else:
        result = analysis.analyse_file(args.file, args.signal, args.rate)
    reading = reading_from(result, args.heart_rate, args.score)  # refused before encryption
    body = encrypt_reading(config.system_key, reading, taken_at=taken_at)
    outbox = _outbox(args)
    keep(outbox, _history(args), body, reading, result)
    stored, dropped, away = deliver(config, outbox)
    reading_id = str(body["reading_id"])
    _report_refused(dropped, own=reading_id)
    sent = Submitted(reading_id, "stored" if reading_id in stored else "queued", body["taken_at"])
    text = f"{_describe(result)}\n"
    if away is None:
        text += f"sent reading {sent.reading_id} ({sent.status}); only ciphertexts left this device"
    else:
        text += f"reading {sent.reading_id} queued: " + queued_note(outbox, away)
    _emit({"analysis": asdict(result), "submitted": asdict(sent)}, args.json, text)
    return 0


@run_command
def history_main(argv: list[str]) -> int:
    """``hrmon device history``: this device's own readings (they never leave it)."""
    parser = cli_help.parser(
        prog="hrmon device history",
        description="Your own readings as this device measured them: heart rate, heart-sound "
        "score and rhythm index. They are kept on this device only; server A and your "
        "physician receive them encrypted.",
    )
    _config_argument(parser)
    parser.add_argument("--limit", type=int, default=20, help="how many, newest first (default 20)")
    args = parser.parse_args(argv)
    if not 1 <= args.limit <= 10_000:
        raise InputError("--limit must be between 1 and 10000")
    rows = _history(args).recent(args.limit)
    if args.json:
        print(json.dumps([{**asdict(r), "taken_at": r.taken_at.isoformat()} for r in rows]))
        return 0
    if not rows:
        print("no readings on this device yet")
    for r in rows:
        score = "   -  " if r.score is None else f"{r.score:6.3f}"
        rhythm = "  -  " if r.irregularity is None else f"{r.irregularity:5.3f}"
        when = r.taken_at.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
        rate = "   -  " if r.heart_rate_bpm is None else f"{r.heart_rate_bpm:6.1f}"
        print(f"{when}  {rate} bpm  score {score}  rhythm {rhythm}  ({r.kind})")
    return 0


@run_command
def enrol_main(argv: list[str]) -> int:
    """``hrmon device enrol INVITATION``: redeem the physician's one-time invitation."""
    from client import enrolment

    parser = cli_help.parser(
        prog="hrmon device enrol",
        description="Set this device up from the invitation the physician's dashboard shows "
        "(text starting hrmon-enrol:1:, also in its QR code). It works once, for 24 hours; "
        "the patient's previous device stops working.",
    )
    parser.add_argument("invitation", help="the invitation text")
    _config_argument(parser)
    args = parser.parse_args(argv)
    path = args.config or device_config.default_path()
    config = enrolment.redeem(args.invitation, path)
    _emit(
        {"patient_id": config.patient_id, "config": str(path)},
        args.json,
        f"device enrolled; its configuration is in {path} (keep it private)",
    )
    return 0


@run_command
def flush_main(argv: list[str]) -> int:
    """``hrmon device flush``: send the readings kept while server A was away."""
    parser = cli_help.parser(
        prog="hrmon device flush", description="Send the readings waiting on this device."
    )
    _config_argument(parser)
    args = parser.parse_args(argv)
    config = _load_config(args)
    outbox = _outbox(args)
    stored, dropped, away = deliver(config, outbox)
    _report_refused(dropped)
    if away is not None:
        raise ServerUnavailable(queued_note(outbox, away))
    _emit(
        {"sent": stored, "waiting": len(outbox)},
        args.json,
        f"{len(stored)} waiting reading(s) sent; {len(outbox)} still waiting",
    )
    return 0


@run_command
def stream_main(argv: list[str]) -> int:
    """``hrmon device stream FILE --window 10``: one reading per usable window."""
    parser = cli_help.parser(
        prog="hrmon device stream",
        description="Analyse a long recording window by window, as a wearable would, "
        "and submit one reading per usable window.",
    )
    _input_arguments(parser)
    _config_argument(parser)
    parser.add_argument("--window", type=float, default=10.0, help="window length, seconds")
    parser.add_argument("--hop", type=float, default=None, help="window step (default: window)")
    parser.add_argument(
        "--taken-at", help="ISO 8601 start of the recording (default: it ended just now)"
    )
    args = parser.parse_args(argv)
    config = _load_config(args)
    results = analysis.analyse_windows(args.file, args.window, args.hop, args.signal, args.rate)
    # A recording is streamed after it was made: by default it ended now, so no window is
    # stamped in the future (A refuses those, and one would stand as the latest result).
    length_s = max((r.start_s + r.duration_s for r in results), default=0.0)
    start = (
        _taken_at(args.taken_at)
        if args.taken_at
        else datetime.now(UTC) - timedelta(seconds=length_s)
    )
    sent_count = 0
    outbox = _outbox(args)
    history = _history(args)
    with OutboxSender(config, outbox) as sender:
        for result in results:
            record: dict[str, Any] = {"analysis": asdict(result), "submitted": None}
            if result.sendable:
                reading = reading_from(result, None, None)
                taken_at = start + timedelta(seconds=result.start_s)
                body = encrypt_reading(config.system_key, reading, taken_at=taken_at)
                keep(outbox, history, body, reading, result)
                stored, dropped = sender.send()
                _report_refused(dropped)
                status = "stored" if str(body["reading_id"]) in stored else "queued"
                sent = Submitted(str(body["reading_id"]), status, body["taken_at"])
                record["submitted"] = asdict(sent)
                sent_count += 1
                text = f"{_describe(result)} -> {'sent' if status == 'stored' else 'queued'} "
                text += sent.reading_id
            else:
                text = f"{_describe(result)} -> not sent"
            _emit(record, args.json, text)
    away = sender.away
    if not args.json:
        print(f"{sent_count} of {len(results)} windows sent or queued")
    if away is not None:
        print(queued_note(outbox, away), file=sys.stderr)
    if sent_count == 0:
        raise InputError(f"{args.file}: no usable window; nothing sent")
    return 0


@run_command
def analyse_main(argv: list[str]) -> int:
    """``hrmon device analyse FILE``: local only, nothing is sent."""
    parser = cli_help.parser(
        prog="hrmon device analyse", description="Analyse a recording locally; send nothing."
    )
    _input_arguments(parser)
    parser.add_argument("--window", type=float, default=None, help="analyse per window, seconds")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    if args.window:
        results = analysis.analyse_windows(args.file, args.window, None, args.signal, args.rate)
    else:
        results = [analysis.analyse_file(args.file, args.signal, args.rate)]
    for result in results:
        _emit(asdict(result), args.json, _describe(result))
    return 0 if any(r.usable for r in results) else InputError.exit_code
