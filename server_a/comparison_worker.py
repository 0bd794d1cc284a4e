"""Server A's comparison worker: pending readings -> the mode's rounds with B -> Enc_pkD(bit).

A background asyncio task (route handlers hold no crypto). It claims pending readings of
patients with a range (``Storage.claim_work``: a lease, so several workers may share one
PostgreSQL) and hands them, as one batch, to the configured mode's A half
(``protocol.modes``) through :func:`~protocol.modes.base.compare_jobs`: round one's
crypto runs in the crypto process (or a thread), the rest in a thread, the calls to B
over :class:`~server_a.b_client.HttpTransport`. It stores the answers and tells the
physicians' event streams. If B is away, slow or failing, the readings stay pending and
the worker retries with bounded exponential backoff; on start-up whatever is pending
resumes. A pack answered ``out_of_band`` has its readings re-run one per pack at once,
and the one that fails alone is marked ``invalid``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import multiprocessing
import os
import secrets
import socket
from collections.abc import Collection, Sequence
from typing import Any

import httpx

from protocol import dgk
from protocol.messages import MAX_PACKS_PER_REQUEST
from protocol.modes.base import Job, compare_jobs
from protocol.modes.zero_leakage import TERMS_PER_READING
from protocol.paillier import PublicKey
from protocol.transport import PeerError
from server_a.b_client import HttpTransport
from server_a.comparison_mode import ModeSpec, jobs_of
from server_a.core.config import Settings
from server_a.crypto_process import init_process, prepare_in_process, warm_up
from server_a.events import Broadcaster
from server_a.results import result_out
from server_a.storage import Storage, WorkItem
from service_common.noise import NoisePoolCache

__all__ = ["ComparisonWorker"]

log = logging.getLogger("hrmon.server_a.worker")

STOP_ATTEMPTS = 5
STOP_WAIT_S = 2.0


class ComparisonWorker:
    """Drives the comparison for every pending reading; one per server A process."""

    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        broadcaster: Broadcaster,
        noise: NoisePoolCache,
        transport: httpx.AsyncBaseTransport,
    ) -> None:
        self.settings = settings
        self.system_key = settings.share.public_key
        self.storage = storage
        self.broadcaster = broadcaster
        self.noise = noise
        self.spec = ModeSpec.from_settings(settings)
        # zero-leakage: round two (the DGK terms) runs in this process, so its
        # re-randomisers are pooled here, beside the answer tables' r^N
        dgk_factors = (
            None
            if self.spec.dgk_public is None
            else noise.dgk_factors(
                functools.partial(dgk.random_factors, self.spec.dgk_public), TERMS_PER_READING
            )
        )
        self.mode = self.spec.build(noise.take, dgk_factors)
        self.batch_max = min(settings.batch_max_readings, MAX_PACKS_PER_REQUEST)
        self._http_transport = transport
        self._b: HttpTransport | None = None
        self._physician_keys: dict[str, PublicKey] = {}
        self._processes: concurrent.futures.ProcessPoolExecutor | None = None
        self._spawn = multiprocessing.get_context("spawn")  # no fork of a threaded parent
        # set while a batch is in flight: the crypto process's noise filler defers to it
        self._comparing = self._spawn.Event()
        self._in_flight: set[str] = set()
        self._failures = 0
        self._backoff_until = 0.0
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._batches: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(settings.max_in_flight)
        # names this worker's claims in a shared database (Storage.claim_work)
        self.worker_id = f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(4)}"

    # --- life cycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Start the loop; pending readings from before a restart are picked up at once."""
        self._loop = asyncio.get_running_loop()
        self._b = HttpTransport(
            self.settings.server_b_url,
            self.settings.ab_secret,
            self.settings.b_timeout_s,
            self._http_transport,
        )
        if self.settings.crypto_processes == 0 or self.spec.dgk_public is not None:
            # round one here, or zero-leakage round two (answer tables under pk_D) here
            self.noise.start()
        if self.settings.crypto_processes == 0:
            self.noise.pool(self.system_key)
        else:
            self._processes = concurrent.futures.ProcessPoolExecutor(
                self.settings.crypto_processes,
                mp_context=self._spawn,
                initializer=init_process,
                initargs=(
                    self.spec,
                    self.settings.noise_pool_size,
                    self.settings.noise_scheme,
                    self._comparing,
                    self.settings.crypto_nice,
                ),
            )
            await asyncio.get_running_loop().run_in_executor(self._processes, warm_up)
        self._task = asyncio.create_task(self._run(), name="comparison-worker")
        self._wake.set()

    async def stop(self) -> None:
        """Cancel the loop and in-flight batches (their readings stay pending)."""
        tasks = [t for t in (self._task, *self._batches) if t is not None]
        pending: set[asyncio.Task[None]] = set(tasks)
        for _attempt in range(STOP_ATTEMPTS):  # a cancel can be lost in a race: re-send it
            for task in pending:
                task.cancel()
            _done, pending = await asyncio.wait(pending, timeout=STOP_WAIT_S)
            if not pending:
                break
        if pending:
            log.error("comparison worker: %d task(s) did not stop", len(pending))
        if self._b is not None:
            await self._b.aclose()
        if self._processes is not None:
            self._processes.shutdown(wait=False, cancel_futures=True)
        self.noise.stop()

    def wake(self) -> None:
        """Tell the worker there may be new work; safe from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    @property
    def in_flight(self) -> int:
        """How many readings are being compared right now."""
        return len(self._in_flight)

    @property
    def backing_off(self) -> bool:
        """True while the worker waits before retrying server B."""
        return self._failures > 0

    # --- loop -------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11, wait_for can swallow a
            # cancel that arrives as its inner wait finishes (cpython gh-86296), and the
            # loop then outlived stop() - a rare hang in the tests' teardown.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.poll_interval_s):
                    await self._wake.wait()
            self._wake.clear()
            delay = self._backoff_until - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.settings.batch_wait_ms > 0 and self._in_flight:
                await asyncio.sleep(
                    self.settings.batch_wait_ms / 1000
                )  # let a burst gather into one batch
            try:
                await self._dispatch()
            except Exception:
                log.exception("comparison dispatch failed; retrying")
                self._note_failure()

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while loop.time() >= self._backoff_until:
            await self._slots.acquire()
            try:
                items = await asyncio.to_thread(
                    self.storage.claim_work,
                    self.worker_id,
                    self.batch_max,
                    self.settings.claim_lease_s,
                    set(self._in_flight),
                )
            except BaseException:
                self._slots.release()
                raise
            if not items:
                self._slots.release()
                return
            self._in_flight.update(i.reading_id for i in items)
            self._comparing.set()
            task = asyncio.create_task(self._process(items))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)
            if len(items) < self.batch_max:
                return

    async def _process(self, items: list[WorkItem]) -> None:
        try:
            jobs, damaged = jobs_of(self.system_key, items, self._physician_keys)
            with self.noise.foreground():
                outcome = await compare_jobs(
                    self.mode,
                    jobs,
                    self._transport(),
                    prepare=self._prepare,
                    offload=asyncio.to_thread,
                )
            invalid = damaged + outcome.invalid
            rows = await asyncio.to_thread(
                self.storage.record_decisions, outcome.answers, invalid, self.worker_id
            )
            self._failures = 0
            owners = {i.reading_id: i.physician_id for i in items}
            for row in rows:
                self.broadcaster.publish(owners[row.id], result_out(row))
        except PeerError as exc:
            await self._release(items)
            delay = self._note_failure()
            log.warning(
                "server B unavailable (%s); %d readings stay pending, retry in %.2f s",
                exc,
                len(items),
                delay,
            )
        except Exception:
            await self._release(items)
            delay = self._note_failure()
            log.exception("comparison batch failed; %d readings stay pending", len(items))
        finally:
            self._in_flight.difference_update(i.reading_id for i in items)
            if not self._in_flight:
                self._comparing.clear()
            self._slots.release()
            self._wake.set()

    async def _release(self, items: list[WorkItem]) -> None:
        """Give the batch's claims back (any worker may retry them now)."""
        try:
            ids = [i.reading_id for i in items]
            await asyncio.to_thread(self.storage.release_claims, self.worker_id, ids)
        except Exception:  # the lease runs out anyway
            log.warning("could not release %d claims; they lapse with the lease", len(items))

    def _note_failure(self) -> float:
        self._failures += 1
        growth = float(2 ** min(self._failures - 1, 30))
        ceiling = min(self.settings.retry_cap_s, self.settings.retry_base_s * growth)
        delay: float = ceiling * (
            0.5 + secrets.randbelow(1000) / 2000
        )  # jitter in [0.5, 1) x ceiling
        self._backoff_until = asyncio.get_running_loop().time() + delay
        return delay

    # --- steps ------------------------------------------------------------------------

    def _transport(self) -> HttpTransport:
        assert self._b is not None, "worker not started"
        return self._b

    async def _prepare(self, jobs: Sequence[Job], isolate: Collection[str]) -> Any:
        """Round one in the crypto process, or in a thread when there is none."""
        if self._processes is None:
            return await asyncio.to_thread(self.mode.prepare, jobs, isolate)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._processes, prepare_in_process, jobs, isolate)
