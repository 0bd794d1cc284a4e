"""Group commit: many threads' writes, one writer thread, one transaction per batch.

Under a burst (hundreds of devices sending at once) each ``POST /v1/readings`` used to
commit on its own. SQLite has one writer at a time, and a connection that finds the
database locked *sleeps* in its busy handler (1, 2, 5, 10 ... 100 ms) before trying
again: the profile of a 200-device burst showed server A's threads mostly waiting there,
CPU idle, acknowledgements at p95 several seconds. Here every caller hands its item to
one writer thread and waits; the writer takes whatever has queued up (at most
``max_batch``), writes it in one transaction and answers each caller with its own result.
A caller still returns only after its write committed: the 202 still means "stored".
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

MAX_BATCH = 64


class GroupCommit(Generic[Item, Result]):
    """``submit`` from any thread; ``write_batch`` runs on one thread, in batches.

    ``write_batch(items)`` returns one entry per item, in order: the item's result, or
    the exception that item's caller gets (e.g. a conflict). An exception *raised* by
    ``write_batch`` (the database is away) goes to every caller of the batch.
    """

    def __init__(
        self,
        write_batch: Callable[[Sequence[Item]], Sequence[Result | Exception]],
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._write_batch = write_batch
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[Item, Future[Result]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, item: Item) -> Result:
        """Write ``item`` with whatever else is waiting; its result once committed.

        Raises:
            Exception: the item's own (from ``write_batch``'s entry) or the batch's.
        """
        self._start()
        done: Future[Result] = Future()
        self._queue.put((item, done))
        return done.result()

    def close(self) -> None:
        """Stop the writer after what is queued (a later ``submit`` starts a new one)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    waiting = self._queue.get_nowait()
                except queue.Empty:
                    break
                if waiting is None:
                    stop = True
                    break
                batch.append(waiting)
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list[tuple[Item, Future[Result]]]) -> None:
        try:
            outcomes = self._write_batch([item for item, _ in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(f"{len(outcomes)} results for a batch of {len(batch)}")
        except Exception as exc:  # every caller of the batch hears it
            for _, done in batch:
                done.set_exception(exc)
            return
        for (_, done), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Exception):
                done.set_exception(outcome)
            else:
                done.set_result(outcome)
