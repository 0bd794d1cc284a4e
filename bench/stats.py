"""Timing and summaries: median and interquartile range (STYLE.md item 8), p95 where asked."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Summary:
    """Spread of a set of timings, in milliseconds.

    Attributes:
        median_ms: the median.
        iqr_ms: the interquartile range (Q3 - Q1).
        p95_ms: the 95th percentile.
        n: how many samples.
    """

    median_ms: float
    iqr_ms: float
    p95_ms: float
    n: int

    def to_json(self) -> dict[str, Any]:
        """Plain dict, rounded to microseconds."""
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}

    def scaled(self, factor: float) -> Summary:
        """The same spread divided by ``factor`` (e.g. per reading of a pack)."""
        return Summary(self.median_ms / factor, self.iqr_ms / factor, self.p95_ms / factor, self.n)


def summarise(samples_ms: Sequence[float]) -> Summary:
    """Median, IQR and p95 of ``samples_ms``.

    Raises:
        ValueError: no samples.
    """
    if not samples_ms:
        raise ValueError("no samples to summarise")
    if len(samples_ms) == 1:
        only = float(samples_ms[0])
        return Summary(only, 0.0, only, 1)
    quartiles = statistics.quantiles(samples_ms, n=4, method="inclusive")
    p95 = statistics.quantiles(samples_ms, n=20, method="inclusive")[-1]
    return Summary(statistics.median(samples_ms), quartiles[2] - quartiles[0], p95, len(samples_ms))


def time_ms(fn: Callable[[], object], repeats: int, warmup: int = 1) -> Summary:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times timed.

    Args:
        fn: the operation; its result is discarded.
        repeats: timed runs (at least 1).
        warmup: untimed runs first (caches, lazy imports).

    Returns:
        The summary of the timed runs.
    """
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000.0)
    return summarise(samples)
