"""The peer: TNO's DGK-based secure comparison (``tno.mpc.protocols.secure_comparison``).

Initiator and KeyHolder run in this process on one event loop, talking through an
in-memory communicator (no sockets, no serialisation), at the same key size as ours, for
the same four comparisons a range check needs. Needs the ``peers`` extra; if it cannot
be imported the bench reports it missing, with the reason, and no number.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.stats import Summary, summarise

VALUE_BITS = 16
"""l: the peer compares values of up to 16 bits, as ours (DESIGN.md)."""

DGK_V_BITS = 160
"""The peer's default DGK subgroup size (KeyHolder.make_and_send_encryption_schemes)."""


@dataclass(frozen=True)
class PeerResult:
    """The peer's cost for one range check's four comparisons, or why it is missing.

    Attributes:
        available: whether the peer ran.
        reason: why not, when it did not.
        per_check: four comparisons, ms (None when missing).
        per_comparison: one comparison, ms (None when missing).
        setup_s: key generation (Paillier + DGK), seconds.
        version: the peer package's version.
    """

    available: bool
    reason: str = ""
    per_check: Summary | None = None
    per_comparison: Summary | None = None
    setup_s: float = 0.0
    version: str = ""


class _MemoryCommunicator:
    """Both parties in one loop: a message is a future keyed by its id."""

    def __init__(self) -> None:
        self._boxes: dict[str, asyncio.Future[Any]] = {}

    def _box(self, msg_id: str) -> asyncio.Future[Any]:
        if msg_id not in self._boxes:
            self._boxes[msg_id] = asyncio.get_running_loop().create_future()
        return self._boxes[msg_id]

    async def send(self, party_id: str, message: Any, msg_id: str) -> None:
        self._box(msg_id).set_result(message)

    async def recv(self, party_id: str, msg_id: str) -> Any:
        message = await self._box(msg_id)
        del self._boxes[msg_id]
        return message


def peer_version() -> str:
    """The installed peer's version.

    Raises:
        ImportError: the peer (or a dependency at the pinned version) cannot be imported.
    """
    import tno.mpc.protocols.secure_comparison as peer

    return str(getattr(peer, "__version__", "unknown"))


def measure_peer(key_bits: int, repeats: int, comparisons: Sequence[tuple[int, int]]) -> PeerResult:
    """Time ``repeats`` range checks of ``len(comparisons)`` comparisons each.

    Args:
        key_bits: Paillier and DGK modulus size.
        repeats: timed checks (one untimed warm-up check first: it boots the peer's
            randomness processes).
        comparisons: (x, y) pairs; each comparison computes [x <= y].

    Returns:
        The timings, or ``available=False`` with the reason.
    """
    try:
        version = peer_version()
        from tno.mpc.encryption_schemes.dgk import DGK
        from tno.mpc.encryption_schemes.paillier import Paillier
        from tno.mpc.encryption_schemes.utils import next_prime
        from tno.mpc.protocols.secure_comparison import Initiator, KeyHolder
    except Exception as exc:  # any import failure means the peer is missing; say why
        return PeerResult(False, reason=f"cannot import the peer: {type(exc).__name__}: {exc}")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its randomness pools warn about unused values
        start = time.perf_counter()
        paillier = Paillier.from_security_parameter(key_length=key_bits)
        dgk = DGK.from_security_parameter(
            v_bits=DGK_V_BITS,
            n_bits=key_bits,
            u=next_prime(1 << (VALUE_BITS + 2)),
            full_decryption=False,
        )
        setup_s = time.perf_counter() - start
        communicator = _MemoryCommunicator()
        initiator = Initiator(VALUE_BITS, communicator=communicator, other_party="keyholder")
        keyholder = KeyHolder(
            VALUE_BITS,
            communicator=communicator,
            other_party="initiator",
            scheme_paillier=paillier,
            scheme_dgk=dgk,
        )

        async def one(x: int, y: int) -> int:
            x_enc, y_enc = paillier.unsafe_encrypt(x), paillier.unsafe_encrypt(y)
            result, _ = await asyncio.gather(
                initiator.perform_secure_comparison(x_enc, y_enc),
                keyholder.perform_secure_comparison(),
            )
            return int(paillier.decrypt(result))

        async def check() -> list[float]:
            times = []
            for x, y in comparisons:
                begin = time.perf_counter()
                bit = await one(x, y)
                times.append((time.perf_counter() - begin) * 1000)
                if bit != int(x <= y):
                    raise AssertionError("the peer returned a wrong comparison bit")
            return times

        async def run_all() -> tuple[list[float], list[float]]:
            await check()  # warm-up
            per_check, per_comparison = [], []
            for _ in range(max(1, repeats)):
                times = await check()
                per_check.append(sum(times))
                per_comparison.extend(times)
            return per_check, per_comparison

        try:
            per_check, per_comparison = asyncio.run(run_all())
        finally:
            paillier.shut_down()
            dgk.shut_down()
    return PeerResult(
        True,
        per_check=summarise(per_check),
        per_comparison=summarise(per_comparison),
        setup_s=setup_s,
        version=version,
    )
