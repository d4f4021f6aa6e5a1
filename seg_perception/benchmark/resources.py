"""What a measured section costs the machine: CPU %, resident memory, load; progress bars."""
from __future__ import annotations

import os
import sys
import time
from typing import Any

__all__ = ["Usage", "loadavg", "peak_rss_mb", "progress_bar"]

_MB = 1024.0 * 1024.0


class Usage:
    """Process CPU % (psutil, 100 = one core busy) and resident memory over a section."""

    def __init__(self) -> None:
        import psutil

        self._proc = psutil.Process()
        self._proc.cpu_percent(None)
        self._system = psutil.cpu_percent(None)
        self.peak_rss = self._proc.memory_info().rss
        self.start_rss = self.peak_rss
        self._t0 = time.perf_counter()
        self._load0 = loadavg()

    def sample(self) -> None:
        self.peak_rss = max(self.peak_rss, self._proc.memory_info().rss)

    def finish(self) -> dict[str, Any]:
        import psutil

        self.sample()
        return {"wall_s": round(time.perf_counter() - self._t0, 3),
                "cpu_percent": round(self._proc.cpu_percent(None), 1),
                "system_cpu_percent": round(psutil.cpu_percent(None), 1),
                "rss_start_mb": round(self.start_rss / _MB, 1),
                "rss_peak_mb": round(self.peak_rss / _MB, 1),
                "load_avg_start": self._load0, "load_avg_end": loadavg()}


def loadavg() -> list[float]:
    """The 1/5/15-minute load averages, rounded (empty where the OS has none)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:  # pragma: no cover - not on Linux
        return []


def progress_bar(total: int, desc: str, enabled: bool) -> Any:
    """A tqdm bar counting frames (disabled: counts silently)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="frame", leave=False, disable=not enabled,
                dynamic_ncols=True)


def peak_rss_mb() -> float | None:
    """This process's peak resident memory so far, MB."""
    try:
        import resource
    except ImportError:  # pragma: no cover
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return round(peak / 1024.0 if sys.platform != "darwin" else peak / _MB, 1)
