"""The whole run: every selected section on frames rendered once, then the report files."""
from __future__ import annotations

import datetime as _dt
import math
import os
import platform
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .baselines import time_baseline
from .config import BenchConfig, size_key
from .frames import BenchFrame, render_bench_frames
from .learned import run_learned
from .report import write_report
from .resources import loadavg, peak_rss_mb, progress_bar
from .targets import report_targets
from .timing import time_pipeline, time_stream

__all__ = ["NodeRunner", "run_benchmark"]
NodeRunner = Callable[..., dict]
"""``runner(frames, *, rates, step_s, progress, log_path) -> dict`` (see ros/node_bench.py)."""



def run_benchmark(config: BenchConfig, out_dir: str | os.PathLike[str] | None = None, *,
                  frames: dict[tuple[int, int], Sequence[BenchFrame]] | None = None,
                  node_runner: NodeRunner | None = None, progress: bool = True,
                  log: Callable[[str], None] | None = print) -> dict[str, Any]:
    """Run every selected section and (with ``out_dir``) write the report files.

    Args:
        config: what to run.
        out_dir: folder for ``bench.json``, ``bench.md`` and the ``*.png`` plots
            (None: write nothing).
        frames: pre-rendered frames per ``(width, height)``; sizes not given are
            rendered with :func:`render_bench_frames`.
        node_runner: runs the node-over-DDS section (ROS layer); None skips it.
        progress: tqdm progress bars.
        log: one-line status messages (None: silent).

    Returns:
        The report dict (what ``bench.json`` holds).
    """
    say = log or (lambda _msg: None)
    frames = dict(frames or {})
    report: dict[str, Any] = {"meta": _meta(config), "frames": {}, "pipeline": {},
                              "stream": [], "baseline": {}, "node": None, "learned": None}

    def frames_for(size: tuple[int, int]) -> Sequence[BenchFrame]:
        if size not in frames:
            count = config.scenes * config.frames_per_scene
            say(f"rendering {count} {size_key(size)} frames ({config.frame_source})")
            with progress_bar(count, f"render {size_key(size)}", progress) as bar:
                frames[size] = render_bench_frames(
                    size[0], size[1], scenes=config.scenes,
                    frames_per_scene=config.frames_per_scene, source=config.frame_source,
                    seed=config.seed, progress=lambda: bar.update(1))
        fs = frames[size]
        report["frames"][size_key(size)] = {
            "count": len(fs), "source": config.frame_source,
            "objects_true_mean": round(float(np.mean([f.objects_true for f in fs])), 2)}
        return fs

    for size in config.sizes:
        key = size_key(size)
        fs = frames_for(size)
        say(f"pipeline {key}: {config.frames} frames")
        report["pipeline"][key] = time_pipeline(
            fs, iterations=config.frames, warmup=config.warmup, progress=progress,
            desc=f"pipeline {key}")
        for workers in config.stream_workers if size == config.sizes[0] else ():
            say(f"stream {key}: {config.frames} frames, {workers} worker processes")
            entry = time_stream(fs, iterations=config.frames, workers=workers,
                                warmup=config.warmup, progress=progress)
            report["stream"].append({"size": key, **entry})
        say(f"baseline {key}: {config.baseline_frames} frames")
        base = {"voxel": time_baseline(fs, iterations=config.baseline_frames,
                                       voxel_size=config.baseline_voxel_m, progress=progress,
                                       desc=f"baseline {key}")}
        if config.baseline_full_frames > 0 and size == config.sizes[0]:
            say(f"baseline {key} full cloud: {config.baseline_full_frames} frames")
            base["full_cloud"] = time_baseline(fs, iterations=config.baseline_full_frames,
                                               warmup=0, voxel_size=0.0, progress=progress,
                                               desc=f"baseline {key} full")
        ours = report["pipeline"][key]["stages"]["end_to_end"]["p50"]
        for variant in base.values():
            variant["speedup_of_ours"] = round(variant["stages"]["end_to_end"]["p50"] / ours, 2)
        report["baseline"][key] = base

    if config.node and node_runner is not None:
        size = config.node_size
        fs = frames_for(size)
        say(f"node over DDS at {size_key(size)}: rates {list(config.node_rates)} Hz, "
            f"{config.node_step_s:g} s each")
        log_path = Path(out_dir) / "node.log" if out_dir is not None else None
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            node = node_runner(fs, rates=config.node_rates, step_s=config.node_step_s,
                               progress=progress, log_path=log_path)
        except Exception as exc:  # noqa: BLE001 - the other sections still get reported
            node = {"error": f"{type(exc).__name__}: {exc}"}
        node["size"] = size_key(size)
        bare = report["pipeline"].get(size_key(size))
        e2e = (node.get("latency_ms") or {}).get("p50")
        if bare is not None and e2e is not None and math.isfinite(e2e):
            node["bare_pipeline_p50_ms"] = bare["stages"]["end_to_end"]["p50"]
            node["overhead_p50_ms"] = round(e2e - node["bare_pipeline_p50_ms"], 2)
        paired = (node.get("overhead_per_frame_ms") or {}).get("p50")
        if paired is not None and math.isfinite(paired):
            node["overhead_paired_p50_ms"] = round(paired, 2)
        own = (node.get("node_overhead_per_frame_ms") or {}).get("p50")
        if own is not None and math.isfinite(own):
            node["node_overhead_p50_ms"] = round(own, 2)
        report["node"] = node

    if config.learned:
        size = config.sizes[0]
        fs = frames_for(size)
        say(f"learned models at {size_key(size)} on {config.device}")
        report["learned"] = run_learned(fs, config, progress=progress)
        report["learned"]["size"] = size_key(size)

    report["targets"] = report_targets(report, config)
    report["meta"]["load_avg_end"] = loadavg()
    report["meta"]["rss_peak_mb_process"] = peak_rss_mb()
    report["meta"]["finished"] = _dt.datetime.now().isoformat(timespec="seconds")
    if out_dir is not None:
        write_report(report, out_dir)
    return report



def _meta(config: BenchConfig) -> dict[str, Any]:
    import psutil

    from .. import __version__

    try:
        affinity = len(psutil.Process().cpu_affinity())
    except (AttributeError, OSError):  # pragma: no cover - macOS
        affinity = os.cpu_count()
    cfg = asdict(config)
    return {"seg_perception": __version__,
            "started": _dt.datetime.now().isoformat(timespec="seconds"),
            "python": platform.python_version(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "cpus_usable": affinity,
            "memory_gb": round(psutil.virtual_memory().total / 1024 ** 3, 1),
            "load_avg_start": loadavg(), "config": cfg,
            "notes": ["latencies in milliseconds; p50/p95 over the timed frames",
                      "fps = 1000 / p50 end-to-end latency (one frame at a time)",
                      "cpu_percent: 100 = one core fully busy (psutil)",
                      "other processes share the machine: see load_avg_* (1/5/15-minute)"]}
