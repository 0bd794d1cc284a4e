"""A's round-one crypto in a child process, so that the exponentiations, which hold the
GIL in gmpy2, never stall submissions or event streams in the server's process.

The child builds its own copy of A's half (:class:`~server_a.comparison_mode.ModeSpec`)
with its own noise pools and filler thread, and exits when server A does.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Collection, Sequence
from multiprocessing.synchronize import Event
from typing import Any

from protocol.modes.base import Job, ModeA
from protocol.paillier import NoiseScheme
from server_a.comparison_mode import ModeSpec
from service_common.noise import NoisePoolCache

_mode: ModeA[Any] | None = None


def init_process(
    spec: ModeSpec,
    noise_pool_size: int,
    noise_scheme: NoiseScheme,
    comparing: Event,
    niceness: int = 0,
) -> None:
    """Initializer of the crypto process: its own mode, pools and filler thread, at a
    lower CPU priority (``niceness``): the comparison is background work, and a device
    waiting for its acknowledgement must not queue behind it for a core. The filler
    defers while ``comparing`` is set (server A's worker has a batch in flight)."""
    global _mode
    if niceness:
        os.nice(niceness)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    noise = NoisePoolCache(noise_pool_size, scheme=noise_scheme, defer=comparing.is_set)
    noise.start()
    noise.pool(spec.share.public_key)
    _mode = spec.build(noise.take)


def _exit_with_parent(parent_pid: int) -> None:
    """A killed server A (SIGKILL: no shutdown hook) must not leave its crypto process behind."""
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    os._exit(0)


def prepare_in_process(jobs: Sequence[Job], isolate: Collection[str]) -> Any:
    """``mode.prepare`` in the crypto process."""
    if _mode is None:
        raise RuntimeError("crypto process not initialised")
    return _mode.prepare(jobs, isolate)


def warm_up() -> bool:
    """A no-op task that makes the pool start its process (and run the initializer) now."""
    return _mode is not None
