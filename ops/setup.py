"""``hrmon setup``: make the system key, split its secret into two shares, and forget it.

Writes the files listed at the bottom of docs/api.md; every secret is 0600.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import cli_help
from client.errors import ConfigError, InputError, run_command
from client.system_key import SystemPublicKey
from protocol import dgk
from protocol.keys import generate_system_key
from protocol.params import DEFAULT_KEY_BITS, MIN_KEY_BITS
from service_common.key_dir import (
    SHARE_A,
    SHARE_B,
    SYSTEM_FILES,
    write_dgk_key_files,
    write_system_files,
)
from service_common.tls import write_tls_files


@dataclass(frozen=True)
class SetupResult:
    """What setup made: where, and the public fingerprint to pin."""

    directory: Path
    system_key: SystemPublicKey


def run_setup(
    directory: Path,
    bits: int = DEFAULT_KEY_BITS,
    *,
    insecure: bool = False,
    force: bool = False,
    zero_leakage: bool = False,
    tls: bool = False,
) -> SetupResult:
    """Make the system key and the services' secrets in ``directory``.

    Args:
        directory: where to write the files (created if missing).
        bits: |N|; at least 2048 unless ``insecure``.
        insecure: allow small keys (tests only).
        force: overwrite existing key files.
        zero_leakage: also make the DGK key pair of the zero-leakage mode (B's secret
            ``dgk_b.json``, A's ``dgk_public.json``); slow, so done here, once, offline.
        tls: also make the mutual-TLS files of the A-B channel (``service_common.tls``).

    Raises:
        InputError: key size refused.
        ConfigError: key files already exist and ``force`` is False.
    """
    if bits < MIN_KEY_BITS and not insecure:
        raise InputError(
            f"--bits {bits} is below {MIN_KEY_BITS}; such keys are for tests only "
            "(--insecure-test-keys)"
        )
    if bits < 512 or bits % 2:
        raise InputError(f"--bits {bits} is not a usable even modulus size (>= 512)")
    existing = [name for name in SYSTEM_FILES if (directory / name).exists()]
    if existing and not force:
        raise ConfigError(
            f"{directory} already holds {', '.join(existing)}; refusing to overwrite keys "
            "(--force replaces them, and every enrolled device and physician with them)"
        )
    keys = generate_system_key(bits)
    system = SystemPublicKey.from_public_key(keys[0])
    try:
        write_system_files(directory, keys, overwrite=force)
    except FileExistsError as exc:  # made between the check above and now
        raise ConfigError(f"{exc} already exists; refusing to overwrite it") from None
    del keys
    if tls:
        write_tls_files(directory)
    if zero_leakage:
        # DGK modulus as large as the system modulus; small only with small test keys.
        subgroup_bits = dgk.DGK_SUBGROUP_BITS if bits >= MIN_KEY_BITS else 160
        write_dgk_key_files(directory, dgk.generate_dgk_keypair(bits, subgroup_bits))
    return SetupResult(directory, system)


def _parser() -> argparse.ArgumentParser:
    parser = cli_help.parser(
        prog="hrmon setup", description="Make the system key and split it into two shares."
    )
    parser.add_argument("--dir", type=Path, required=True, help="directory for the key files")
    parser.add_argument("--bits", type=int, default=DEFAULT_KEY_BITS, help="modulus size |N|")
    parser.add_argument(
        "--insecure-test-keys", action="store_true", help="allow keys under 2048 bits (tests)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing key files")
    parser.add_argument(
        "--tls",
        action="store_true",
        help="also make a CA and certificates for mutual TLS between A and B",
    )
    parser.add_argument(
        "--zero-leakage",
        action="store_true",
        help="also make the DGK keys of the zero-leakage comparison mode (takes up to a minute)",
    )
    return parser


@run_command
def main(argv: list[str]) -> int:
    """Entry point of ``hrmon setup``."""
    args = _parser().parse_args(argv)
    result = run_setup(
        args.dir,
        args.bits,
        insecure=args.insecure_test_keys,
        force=args.force,
        zero_leakage=args.zero_leakage,
        tls=args.tls,
    )
    print(f"system key {result.system_key.key_id} ({result.system_key.bits} bits) in {args.dir}")
    print(f"  give {SHARE_A} to server A only, {SHARE_B} to server B only")
    print(f"  pin key_id {result.system_key.key_id} on every device and physician")
    return 0
