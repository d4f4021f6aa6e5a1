"""Wall time of each stage of one frame's analysis (``SceneAnalysis.timings_ms``)."""
from __future__ import annotations

import time

__all__ = ["StageTimer"]


class StageTimer:
    """Milliseconds since the previous :meth:`lap`, summed per stage name."""

    def __init__(self) -> None:
        self._clock = time.perf_counter
        self._last = self._clock()
        self.ms: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = self._clock()
        self.ms[name] = self.ms.get(name, 0.0) + (now - self._last) * 1e3
        self._last = now
