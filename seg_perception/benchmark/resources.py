"""What a measured section costs the machine: CPU %, resident memory, load; progress bars.

Also the footprint of a running process tree (a node and its worker processes),
checked from outside: resident memory per process (psutil) and which heavy
native libraries each one has mapped (``/proc/<pid>/maps``), so no import in
the measured process is needed to know what it loaded.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any

__all__ = ["HEAVY_LIBRARIES", "Usage", "heavy_libraries", "loadavg", "peak_rss_mb",
           "process_tree_footprint", "progress_bar", "worker_processes"]

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


HEAVY_LIBRARIES: dict[str, tuple[str, ...]] = {
    "torch": ("libtorch", "/libc10.so", "/torch/_C."),
    "open3d": ("libOpen3D", "/open3d/pybind.", "/open3d/cpu/pybind."),
    "onnxruntime": ("libonnxruntime", "onnxruntime_pybind11_state"),
}
"""Library -> substrings of the shared objects it maps once imported (``/proc/<pid>/maps``)."""


def heavy_libraries(pid: int) -> list[str]:
    """Which of :data:`HEAVY_LIBRARIES` process ``pid`` has loaded (its memory maps).

    Raises ``OSError`` when the maps cannot be read (gone, or not ours).
    """
    with open(f"/proc/{pid}/maps") as maps:
        paths = {line.split(None, 5)[5].strip() for line in maps if line.count(" ") >= 5
                 and "/" in line}
    return sorted(name for name, needles in HEAVY_LIBRARIES.items()
                  if any(n in p for p in paths for n in needles))


def _is_worker(proc: Any) -> bool:
    """A multiprocessing spawn child (``... -c 'from multiprocessing.spawn import
    spawn_main; ...'``): the pipeline's worker processes."""
    return "spawn_main" in " ".join(proc.cmdline())


def worker_processes(node: Any) -> list[Any]:
    """The live worker processes (``psutil.Process``) of the node process ``node``: its
    spawn children; a killed worker not reaped yet (a zombie) is left out."""
    import psutil

    out = []
    for child in node.children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and _is_worker(child):
                out.append(child)
        except psutil.Error:  # it just exited
            continue
    return out


def process_tree_footprint(pid: int, *, pss: bool = False) -> dict[str, Any]:
    """Resident memory and heavy libraries of process ``pid`` and its descendants.

    Returns ``{"node": entry, "workers": [entry...], "other": [entry...],
    "workers_count", "node_workers_rss_mb" (the node + its worker processes),
    "tree_rss_mb" (every process of the tree, e.g. multiprocessing's resource
    tracker too), "libraries" (union over the tree)}`` with ``entry = {"pid",
    "rss_mb", "libraries", "cmd"}`` (``"pss_mb"`` too with ``pss``: shared pages
    split among the processes sharing them, so the sum is not inflated by shared
    libraries). RSS sums count shared pages once per process: an upper bound.
    """
    import psutil

    def entry(proc: Any) -> dict[str, Any] | None:
        try:
            with proc.oneshot():
                e = {"pid": proc.pid, "rss_mb": round(proc.memory_info().rss / _MB, 1),
                     "libraries": heavy_libraries(proc.pid),
                     "cmd": " ".join(proc.cmdline())[:120]}
            if pss:
                e["pss_mb"] = round(proc.memory_full_info().pss / _MB, 1)
            return e
        except (psutil.Error, OSError):
            return None  # ended meanwhile

    root = psutil.Process(pid)
    node = entry(root)
    if node is None:
        raise RuntimeError(f"process {pid} is gone")
    workers, other = [], []
    for child in root.children(recursive=True):
        try:
            is_worker = _is_worker(child)
        except psutil.Error:
            continue
        e = entry(child)
        if e is not None:
            (workers if is_worker else other).append(e)
    everything = [node, *workers, *other]
    out: dict[str, Any] = {
        "node": node, "workers": workers, "other": other, "workers_count": len(workers),
        "node_workers_rss_mb": round(node["rss_mb"] + sum(w["rss_mb"] for w in workers), 1),
        "tree_rss_mb": round(sum(e["rss_mb"] for e in everything), 1),
        "libraries": sorted({lib for e in everything for lib in e["libraries"]})}
    if pss:
        out["node_workers_pss_mb"] = round(node["pss_mb"] + sum(w["pss_mb"] for w in workers), 1)
    return out
