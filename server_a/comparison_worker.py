"""Server A's comparison worker: pending readings -> packs -> server B -> Enc_pkD(bit).

A background asyncio task (route handlers hold no crypto). It picks pending readings of
patients with a range, runs steps a1-a4 and A's partial decryption in a thread, batches
packs across readings and patients into one signed ``CompareRequest``, stores the answers
and tells the physicians' event streams. If B is away, slow or failing, the readings stay
pending and the worker retries with bounded exponential backoff; on start-up whatever is
pending resumes. A pack answered ``out_of_band`` has its readings re-run one per pack, and
the one that fails alone is marked ``invalid``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import multiprocessing
import secrets
from dataclasses import dataclass

import httpx
from pydantic import ValidationError

from protocol import comparison as cmp
from protocol.ciphertext import CiphertextError, decode_ciphertext
from protocol.keys import KeyShare
from protocol.messages import (
    MAX_PACKS_PER_REQUEST,
    CompareRequest,
    CompareResponse,
)
from protocol.paillier import PublicKey
from server_a.batch_preparer import (
    BatchPreparer,
    PreparedBatch,
    init_process,
    prepare_in_process,
    warm_up,
)
from server_a.events import Broadcaster
from server_a.results import result_out
from server_a.storage import Storage, WorkItem
from service_common.noise import NoisePoolCache
from service_common.signing import signature_headers

__all__ = ["BUnavailable", "ComparisonWorker", "PreparedBatch", "WorkerConfig"]

log = logging.getLogger("hrmon.server_a.worker")


class BUnavailable(Exception):
    """Server B did not answer usefully (down, slow, 5xx, refused, malformed answer)."""


@dataclass(frozen=True)
class WorkerConfig:
    """How the worker batches and retries (see ``server_a.core.config.Settings``)."""

    server_b_url: str
    ab_secret: bytes
    readings_per_pack: int = 0
    batch_max_readings: int = 32
    batch_wait_s: float = 0.005
    max_in_flight: int = 2
    poll_interval_s: float = 1.0
    retry_base_s: float = 0.1
    retry_cap_s: float = 5.0
    b_timeout_s: float = 30.0
    crypto_processes: int = 1
    noise_pool_size: int = 32


STOP_ATTEMPTS = 5
STOP_WAIT_S = 2.0


class ComparisonWorker:
    """Drives the comparison for every pending reading; one per server A process."""

    def __init__(
        self,
        config: WorkerConfig,
        share: KeyShare,
        storage: Storage,
        broadcaster: Broadcaster,
        noise: NoisePoolCache,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.share = share
        self.system_key = share.public_key
        self.storage = storage
        self.broadcaster = broadcaster
        self.noise = noise
        self._transport = transport
        fits = cmp.readings_per_pack(self.system_key)
        self.readings_per_pack = min(config.readings_per_pack or fits, fits)
        self.batch_max = min(config.batch_max_readings, MAX_PACKS_PER_REQUEST)
        self.preparer = BatchPreparer(share, noise, self.readings_per_pack)
        self._processes: concurrent.futures.ProcessPoolExecutor | None = None
        self._in_flight: set[str] = set()
        self._isolate: set[str] = set()
        self._failures = 0
        self._backoff_until = 0.0
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._batches: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(config.max_in_flight)
        self._http: httpx.AsyncClient | None = None
        self.batches_sent = 0

    # --- life cycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Start the loop; pending readings from before a restart are picked up at once."""
        self._loop = asyncio.get_running_loop()
        self._http = httpx.AsyncClient(
            base_url=self.config.server_b_url,
            transport=self._transport,
            timeout=self.config.b_timeout_s,
            limits=httpx.Limits(max_keepalive_connections=4, keepalive_expiry=60),
        )
        if self._uses_crypto_process():
            self._processes = concurrent.futures.ProcessPoolExecutor(
                self.config.crypto_processes,
                mp_context=multiprocessing.get_context("spawn"),  # no fork of a threaded parent
                initializer=init_process,
                initargs=(
                    self.share.to_json(),
                    self.config.noise_pool_size,
                    self.readings_per_pack,
                ),
            )
            await asyncio.get_running_loop().run_in_executor(self._processes, warm_up)
        else:
            self.noise.start()
            self.noise.pool(self.system_key)
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
        if self._http is not None:
            await self._http.aclose()
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
                async with asyncio.timeout(self.config.poll_interval_s):
                    await self._wake.wait()
            self._wake.clear()
            delay = self._backoff_until - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.config.batch_wait_s > 0:
                await asyncio.sleep(self.config.batch_wait_s)  # let a burst gather into one batch
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
                    self.storage.pending_work, self.batch_max, set(self._in_flight)
                )
            except BaseException:
                self._slots.release()
                raise
            if not items:
                self._slots.release()
                return
            self._in_flight.update(i.reading_id for i in items)
            task = asyncio.create_task(self._process(items))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)
            if len(items) < self.batch_max:
                return

    async def _process(self, items: list[WorkItem]) -> None:
        try:
            batch = await self._prepare_off_loop(items)
            done: dict[str, str] = {}
            invalid = list(batch.invalid)
            isolate: set[str] = set()
            done, more_invalid, isolate = await self._compare(batch)
            invalid.extend(more_invalid)
            rows = await asyncio.to_thread(self.storage.record_decisions, done, invalid)
            self._isolate.difference_update(done)
            self._isolate.difference_update(invalid)
            self._isolate.update(isolate)
            self._failures = 0
            owners = {i.reading_id: i.physician_id for i in items}
            for row in rows:
                self.broadcaster.publish(owners[row.id], result_out(row))
            if isolate:
                log.info(
                    "a pack was out of band; re-running %d readings one per pack", len(isolate)
                )
        except BUnavailable as exc:
            delay = self._note_failure()
            log.warning(
                "server B unavailable (%s); %d readings stay pending, retry in %.2f s",
                exc,
                len(items),
                delay,
            )
        except Exception:
            delay = self._note_failure()
            log.exception("comparison batch failed; %d readings stay pending", len(items))
        finally:
            self._in_flight.difference_update(i.reading_id for i in items)
            self._slots.release()
            self._wake.set()

    def _note_failure(self) -> float:
        self._failures += 1
        growth = float(2 ** min(self._failures - 1, 30))
        ceiling = min(self.config.retry_cap_s, self.config.retry_base_s * growth)
        delay: float = ceiling * (
            0.5 + secrets.randbelow(1000) / 2000
        )  # jitter in [0.5, 1) x ceiling
        self._backoff_until = asyncio.get_running_loop().time() + delay
        return delay

    # --- steps ------------------------------------------------------------------------

    def _physician_key(self, n_hex: str) -> PublicKey:
        return self.preparer.physician_key(n_hex)

    def _prepare(self, items: list[WorkItem]) -> PreparedBatch:
        """Steps a1-a4, a3 and PDec_1 for a batch in this process (a worker thread)."""
        return self.preparer.prepare(items, self._isolated(items))

    def _isolated(self, items: list[WorkItem]) -> frozenset[str]:
        return frozenset(i.reading_id for i in items if i.reading_id in self._isolate)

    def _uses_crypto_process(self) -> bool:
        # A subclass with its own _prepare (zero-leakage mode) runs it in a thread.
        return self.config.crypto_processes > 0 and type(self)._prepare is ComparisonWorker._prepare

    async def _prepare_off_loop(self, items: list[WorkItem]) -> PreparedBatch:
        if self._processes is None:
            return await asyncio.to_thread(self._prepare, items)
        loop = asyncio.get_running_loop()
        isolate = self._isolated(items)
        return await loop.run_in_executor(self._processes, prepare_in_process, items, isolate)

    async def _compare(self, batch: PreparedBatch) -> tuple[dict[str, str], list[str], set[str]]:
        """Run a prepared batch past B: (done results, invalid ids, ids to isolate).

        ``server_a.zero_leakage_worker`` overrides this with its two rounds.
        """
        if batch.request is None:
            return {}, [], set()
        return self._interpret(batch, await self._exchange(batch.request))

    async def _exchange(self, request: CompareRequest) -> CompareResponse:
        assert self._http is not None
        body = request.model_dump_json().encode()
        headers = {"content-type": "application/json"}
        headers.update(signature_headers(self.config.ab_secret, body))
        try:
            response = await self._http.post("/v1/compare", content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise BUnavailable(type(exc).__name__) from None
        self.batches_sent += 1
        if response.status_code != 200:
            raise BUnavailable(f"HTTP {response.status_code}: {response.text[:300]}")
        try:
            return CompareResponse.model_validate_json(response.content)
        except ValidationError:
            raise BUnavailable("malformed CompareResponse") from None

    def _interpret(
        self, batch: PreparedBatch, response: CompareResponse
    ) -> tuple[dict[str, str], list[str], set[str]]:
        """Map B's answers back to readings: (done results, invalid ids, ids to isolate)."""
        if len(response.packs) != len(batch.packs):
            raise BUnavailable("answer count does not match the packs sent")
        done: dict[str, str] = {}
        invalid: list[str] = []
        isolate: set[str] = set()
        for group, answer in zip(batch.packs, response.packs, strict=True):
            if answer.status == "out_of_band":
                if len(group) == 1:
                    invalid.append(group[0].reading_id)
                else:
                    isolate.update(i.reading_id for i in group)
                continue
            if len(answer.answers) != len(group):
                raise BUnavailable("a pack's answer count does not match its readings")
            for item, text in zip(group, answer.answers, strict=True):
                try:
                    decode_ciphertext(self._physician_key(item.physician_n), text, "answer")
                except CiphertextError:
                    raise BUnavailable("an answer is not a ciphertext under pk_D") from None
                done[item.reading_id] = text
        return done, invalid, isolate
