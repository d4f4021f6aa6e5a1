"""Per-stage wall-clock timing and latency summaries (milliseconds).

Example:
    >>> timer = StageTimer()
    >>> with timer("instance"):
    ...     _ = sum(range(1000))
    >>> "instance" in timer.last_ms and timer.last_ms["instance"] >= 0.0
    True
    >>> latency_summary([10.0, 20.0, 30.0])["p50"]
    20.0
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterable, Iterator

import numpy as np

__all__ = ["StageTimer", "latency_summary"]


def latency_summary(values_ms: Iterable[float]) -> dict[str, float]:
    """``{"p50", "p95", "mean", "max", "n"}`` of latencies in milliseconds.

    Percentiles interpolate linearly between samples (``numpy.percentile`` default).
    With no samples ``n`` is 0 and the other values are NaN.
    """
    v = np.asarray(list(values_ms), np.float64).reshape(-1)
    if v.size == 0:
        nan = float("nan")
        return {"p50": nan, "p95": nan, "mean": nan, "max": nan, "n": 0}
    return {"p50": float(np.percentile(v, 50)), "p95": float(np.percentile(v, 95)),
            "mean": float(v.mean()), "max": float(v.max()), "n": int(v.size)}


class StageTimer:
    """Records the wall time of named stages, one sample per ``with timer(name):`` block.

    Stages may nest (``total`` around ``instance`` and ``geometry``). Times come from
    ``time.perf_counter`` and are stored in milliseconds, also when the block raises.
    Not thread-safe: use one timer per thread.

    Attributes:
        samples_ms: ``{stage: [ms, ...]}`` every sample, in order.
        last_ms: ``{stage: ms}`` the latest sample of each stage (e.g. for
            :attr:`Scene.timings_ms <seg_perception.results.Scene.timings_ms>`).
    """

    def __init__(self) -> None:
        self.samples_ms: dict[str, list[float]] = {}
        self.last_ms: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.record(stage, (time.perf_counter() - start) * 1e3)

    def record(self, stage: str, ms: float) -> None:
        """Add a sample measured elsewhere."""
        self.samples_ms.setdefault(stage, []).append(float(ms))
        self.last_ms[stage] = float(ms)

    def summary(self) -> dict[str, dict[str, float]]:
        """:func:`latency_summary` of every stage."""
        return {stage: latency_summary(v) for stage, v in self.samples_ms.items()}

    def reset(self) -> None:
        self.samples_ms.clear()
        self.last_ms.clear()
