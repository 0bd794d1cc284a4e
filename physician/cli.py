"""``hrmon physician keygen|enrol|add-patient|set-range|results|tally``.

Each command has a function usable from Python (the demo calls them) and a ``*_main(argv)``
entry point. Results and tallies are decrypted here, with the physician's own key; the
servers never see anything but ciphertexts.

About 460 lines: each physician sub-command is a small function plus its parser; kept
together so ``hrmon physician --help`` reads from one place.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import cli_help
from client import device_config
from client.api import NewPatient, ServerAClient
from client.device_config import DeviceConfig
from client.encrypt import EncodedRange, encode_range, encrypt_range
from client.errors import ConfigError, InputError, ServerUnavailable, run_command
from client.local_files import read_json, read_secret_text
from client.system_key import SystemPublicKey, check_pinned
from physician import keys as physician_keys
from physician import profile as physician_profile
from physician.keys import PhysicianKeyPair
from physician.profile import PhysicianProfile
from protocol.messages import ResultOut
from protocol.params import DEFAULT_KEY_BITS, MIN_KEY_BITS
from signals.rhythm import DEFAULT_IRREGULARITY_THRESHOLD


@dataclass(frozen=True)
class DecryptedResult:
    """One reading as the physician sees it: abnormal yes/no (None while pending/invalid)."""

    reading_id: str
    taken_at: str
    status: str
    abnormal: bool | None

    @property
    def verdict(self) -> str:
        if self.abnormal is None:
            return self.status
        return "ABNORMAL" if self.abnormal else "normal"


@dataclass(frozen=True)
class DecryptedTally:
    """The number of abnormal readings among ``count`` decided ones."""

    patient_id: str
    count: int
    abnormal: int


# -- library functions -----------------------------------------------------------------


def keygen(
    home: Path, bits: int = DEFAULT_KEY_BITS, *, insecure: bool = False, force: bool = False
) -> PhysicianKeyPair:
    """Make and store the physician key pair in ``home``.

    Raises:
        InputError: key size refused.
        ConfigError: a key exists and ``force`` is False.
    """
    if bits < MIN_KEY_BITS and not insecure:
        raise InputError(f"--bits {bits} is below {MIN_KEY_BITS} (tests: --insecure-test-keys)")
    if (home / physician_keys.PRIVATE_FILE).exists() and not force:
        raise ConfigError(f"a physician key already exists in {home}; refusing to overwrite it")
    pair = physician_keys.generate(bits)
    physician_keys.save(pair, home, overwrite=force)
    return pair


def enrol(
    home: Path,
    server: str,
    username: str,
    password: str,
    pinned: SystemPublicKey,
    enrolment_token: str,
) -> str:
    """Register the physician's public key with A, after checking A serves the pinned key.

    Returns:
        The physician id.

    Raises:
        KeyMismatch: A's system key is not ``pinned``.
    """
    pair = physician_keys.load(home)
    with ServerAClient(server) as api:
        check_pinned(api.system_key(), pinned.key_id)
        physician_id = api.enrol_physician(enrolment_token, username, password, pair.public_json())
    physician_profile.save(PhysicianProfile(server, username, pinned.key_id), home)
    return physician_id


def login(home: Path, password: str) -> tuple[ServerAClient, PhysicianProfile]:
    """A logged-in client for the profile in ``home`` (caller closes it)."""
    profile = physician_profile.load(home)
    api = ServerAClient(profile.server)
    try:
        api.login(profile.username, password)
    except BaseException:
        api.close()
        raise
    return api, profile


def pinned_system_key(api: ServerAClient, profile: PhysicianProfile) -> SystemPublicKey:
    """A's system key, refused unless it is the one pinned at enrolment."""
    system = api.system_key()
    check_pinned(system, profile.system_key_id)
    return system


def add_patient(home: Path, password: str, label: str, config_path: Path) -> DeviceConfig:
    """Enrol a patient and write their device's configuration file (0600)."""
    return _new_device_file(home, password, config_path, lambda api: api.add_patient(label))


def replace_device(home: Path, password: str, patient: str, config_path: Path) -> DeviceConfig:
    """A new device token for ``patient`` (id or label), written to a new device file; the
    old device's token is refused from now on."""

    def replace(api: ServerAClient) -> NewPatient:
        return api.replace_device_token(resolve_patient(api, patient))

    return _new_device_file(home, password, config_path, replace)


def _new_device_file(
    home: Path, password: str, config_path: Path, make: Callable[[ServerAClient], NewPatient]
) -> DeviceConfig:
    device_config.refuse_existing(config_path)
    api, profile = login(home, password)
    with api:
        system = pinned_system_key(api, profile)
        patient = make(api)
    config = DeviceConfig(profile.server, patient.patient_id, patient.device_token, system)
    device_config.save(config, config_path)
    return config


def set_range(home: Path, password: str, patient: str, bounds: EncodedRange) -> str:
    """Encrypt the (already bound-checked) range under the pinned key and store it on A.

    Returns:
        The patient id.
    """
    api, profile = login(home, password)
    with api:
        system = pinned_system_key(api, profile)
        patient_id = resolve_patient(api, patient)
        api.set_range(patient_id, encrypt_range(system, bounds))
    return patient_id


def resolve_patient(api: ServerAClient, patient: str) -> str:
    """Accept a patient id or a label of one of the physician's patients.

    Raises:
        InputError: no such patient, or an ambiguous label.
    """
    patients = api.list_patients()
    if any(str(p.patient_id) == patient for p in patients):
        return patient
    matches = [str(p.patient_id) for p in patients if p.label == patient]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise InputError(f"several patients are labelled {patient!r}; use the patient id")
    raise InputError(f"no patient {patient!r} among yours")


def decrypt_results(pair: PhysicianKeyPair, rows: list[ResultOut]) -> list[DecryptedResult]:
    """Decrypt each decided reading's Enc_pkD(bit)."""
    return [
        DecryptedResult(
            str(row.reading_id),
            row.taken_at.isoformat(),
            row.status,
            pair.decrypt_bit(row.result) if row.status == "done" and row.result else None,
        )
        for row in rows
    ]


def wait_for_results(
    api: ServerAClient,
    patient_id: str,
    *,
    expected: int,
    timeout_s: float,
    poll_s: float = 0.25,
) -> list[ResultOut]:
    """Poll until ``expected`` readings are no longer pending, or raise at the deadline.

    Raises:
        ServerUnavailable: still pending at the deadline (is server B up?).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        rows = api.results(patient_id)
        decided = [r for r in rows if r.status != "pending"]
        if len(decided) >= expected:
            return rows
        if time.monotonic() > deadline:
            raise ServerUnavailable(
                f"{len(decided)} of {expected} expected readings decided after "
                f"{timeout_s:.0f} s ({len(rows)} stored; is server B running and reachable "
                "from A?)"
            )
        time.sleep(poll_s)


def fetch_results(
    home: Path,
    password: str,
    patient: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
    wait_for: int = 0,
    timeout_s: float = 60.0,
) -> list[DecryptedResult]:
    """A patient's results, decrypted locally, newest first."""
    pair = physician_keys.load(home)
    api, _ = login(home, password)
    with api:
        patient_id = resolve_patient(api, patient)
        if wait_for:
            wait_for_results(api, patient_id, expected=wait_for, timeout_s=timeout_s)
        rows = api.results(patient_id, since=since, until=until, limit=limit)
    return decrypt_results(pair, rows)


def fetch_tally(
    home: Path,
    password: str,
    patient: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> DecryptedTally:
    """The homomorphic tally of abnormal readings, decrypted locally."""
    pair = physician_keys.load(home)
    api, _ = login(home, password)
    with api:
        patient_id = resolve_patient(api, patient)
        tally = api.tally(patient_id, since=since, until=until)
    abnormal = 0 if tally.tally is None else pair.decrypt_count(tally.tally, tally.count)
    return DecryptedTally(patient_id, tally.count, abnormal)


# -- command-line entry points -----------------------------------------------------------


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = cli_help.parser(prog=f"hrmon physician {prog}", description=description)
    physician_profile.add_home_argument(parser)
    return parser


def _home(args: argparse.Namespace) -> Path:
    home: Path = args.home or physician_profile.default_home()
    return home


def _moment(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None


def _window_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("patient", help="patient id or label")
    parser.add_argument("--since", type=_moment, help="ISO 8601, inclusive")
    parser.add_argument("--until", type=_moment, help="ISO 8601, exclusive")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


@run_command
def keygen_main(argv: list[str]) -> int:
    """``hrmon physician keygen``."""
    parser = _parser("keygen", "Make the physician key pair (private key never leaves here).")
    parser.add_argument("--bits", type=int, default=DEFAULT_KEY_BITS)
    parser.add_argument("--insecure-test-keys", action="store_true", help="allow < 2048 bits")
    parser.add_argument("--force", action="store_true", help="replace an existing key pair")
    args = parser.parse_args(argv)
    pair = keygen(_home(args), args.bits, insecure=args.insecure_test_keys, force=args.force)
    print(f"physician key {pair.key_id} written to {_home(args)} (private part 0600)")
    return 0


@run_command
def enrol_main(argv: list[str]) -> int:
    """``hrmon physician enrol``."""
    parser = _parser("enrol", "Register with server A and pin the system key.")
    parser.add_argument("--server", required=True, help="server A's URL")
    parser.add_argument("--username", required=True)
    parser.add_argument(
        "--system-key", type=Path, required=True, help="system_public.json from setup"
    )
    parser.add_argument(
        "--enrolment-token-file", type=Path, required=True, help="operator's enrolment token"
    )
    args = parser.parse_args(argv)
    pinned = SystemPublicKey.from_json(
        read_json(args.system_key, "system public key"), str(args.system_key)
    )
    token = read_secret_text(args.enrolment_token_file, "enrolment token")
    physician_id = enrol(
        _home(args), args.server, args.username, physician_profile.password(), pinned, token
    )
    print(f"enrolled as {args.username} ({physician_id}); pinned system key {pinned.key_id}")
    return 0


@run_command
def add_patient_main(argv: list[str]) -> int:
    """``hrmon physician add-patient``."""
    parser = _parser("add-patient", "Enrol a patient and write their device's file.")
    parser.add_argument("label", help="a name for the patient, as the physician knows them")
    parser.add_argument(
        "--device-config", type=Path, required=True, help="where to write the device file (0600)"
    )
    args = parser.parse_args(argv)
    config = add_patient(_home(args), physician_profile.password(), args.label, args.device_config)
    print(f"patient {config.patient_id} ({args.label}); device file {args.device_config}")
    return 0


@run_command
def replace_device_main(argv: list[str]) -> int:
    """``hrmon physician replace-device``."""
    parser = _parser(
        "replace-device", "Give a patient a new device token (a lost or stolen device)."
    )
    parser.add_argument("patient", help="patient id or label")
    parser.add_argument(
        "--device-config", type=Path, required=True, help="where to write the new device file"
    )
    args = parser.parse_args(argv)
    config = replace_device(
        _home(args), physician_profile.password(), args.patient, args.device_config
    )
    print(
        f"patient {config.patient_id}: new device file {args.device_config}; "
        "the old device's token no longer works"
    )
    return 0


def _threshold(text: str) -> float:
    if text == "model":
        from signals.scoring import AbnormalityScorer

        try:
            return AbnormalityScorer.from_default().threshold
        except FileNotFoundError as exc:
            raise ConfigError(f"the abnormality model is not installed: {exc}") from None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a probability: {text!r}") from None


@run_command
def set_range_main(argv: list[str]) -> int:
    """``hrmon physician set-range``."""
    parser = _parser("set-range", "Encrypt and store a patient's healthy range and threshold.")
    parser.add_argument("patient", help="patient id or label")
    parser.add_argument("--low", type=float, required=True, help="lowest healthy rate, bpm")
    parser.add_argument("--high", type=float, required=True, help="highest healthy rate, bpm")
    parser.add_argument(
        "--threshold",
        type=_threshold,
        default="model",
        help="CNN probability at or above which a reading is abnormal "
        "(default: the shipped model's decision threshold)",
    )
    parser.add_argument(
        "--irregularity",
        type=float,
        default=DEFAULT_IRREGULARITY_THRESHOLD,
        help="rhythm irregularity index (0-1) at or above which a reading is abnormal "
        "(default: %(default)s, docs/rhythm.md)",
    )
    args = parser.parse_args(argv)
    # refused before any network
    bounds = encode_range(args.low, args.high, args.threshold, args.irregularity)
    patient_id = set_range(_home(args), physician_profile.password(), args.patient, bounds)
    print(
        f"range set for {patient_id}: {args.low:g}-{args.high:g} bpm, "
        f"threshold {args.threshold:.4f}, irregularity {args.irregularity:.4f} "
        "(encrypted; A cannot read it)"
    )
    return 0


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


@run_command
def results_main(argv: list[str]) -> int:
    """``hrmon physician results``."""
    parser = _parser("results", "List a patient's readings, decrypted here: normal/abnormal.")
    _window_arguments(parser)
    parser.add_argument("--limit", type=int)
    parser.add_argument(
        "--wait-for", type=int, default=0, help="wait until this many readings are decided"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds for --wait-for")
    args = parser.parse_args(argv)
    rows = fetch_results(
        _home(args),
        physician_profile.password(),
        args.patient,
        since=args.since,
        until=args.until,
        limit=args.limit,
        wait_for=args.wait_for,
        timeout_s=args.timeout,
    )
    if args.json:
        _print_json([row.__dict__ for row in rows])
        return 0
    if not rows:
        print("no readings")
    for row in rows:
        print(f"{row.taken_at}  {row.reading_id}  {row.verdict}")
    return 0


@run_command
def tally_main(argv: list[str]) -> int:
    """``hrmon physician tally``."""
    parser = _parser("tally", "Decrypt the number of abnormal readings in a window.")
    _window_arguments(parser)
    args = parser.parse_args(argv)
    tally = fetch_tally(
        _home(args), physician_profile.password(), args.patient, since=args.since, until=args.until
    )
    if args.json:
        _print_json(tally.__dict__)
    else:
        print(f"{tally.abnormal} abnormal of {tally.count} decided readings ({tally.patient_id})")
    return 0
