"""Timing the bare pipeline (one frame at a time) and a stream through worker processes."""
from __future__ import annotations

import math
import time
from typing import Any, Iterator, Sequence

import numpy as np

from ..config import PipelineConfig
from ..frames import RGBDFrame
from ..metrics.timing import StageTimer, latency_summary
from .frames import CAMERA_PERIOD_NS, BenchFrame
from .resources import Usage, progress_bar

__all__ = ["PIPELINE_STAGES", "instance_substages", "rounded", "time_pipeline", "time_stream"]

PIPELINE_STAGES: tuple[str, ...] = ("conversion", "instance", "semantic", "geometry", "tracking",
                                    "total", "end_to_end")
"""Stage names of ``report["pipeline"][size]["stages"]`` (see the module docstring)."""


def rounded(summary: dict[str, float]) -> dict[str, float]:
    """A latency summary with finite floats rounded to microseconds."""
    return {k: (round(v, 3) if isinstance(v, float) and math.isfinite(v) else v)
            for k, v in summary.items()}


def time_pipeline(frames: Sequence[BenchFrame], *, iterations: int, warmup: int = 3,
                  config: PipelineConfig | None = None, pipeline: Any = None,
                  progress: bool = False, desc: str = "pipeline") -> dict[str, Any]:
    """Time ``Pipeline.process`` (plus the frame conversion) over ``frames``, cycled.

    Returns ``{"stages": {stage: latency_summary}, "instance_substages": {...},
    "fps": frames per second at the p50 end-to-end latency, "fps_mean": frames /
    wall time, "objects_found_mean", "objects_true_mean", "cpu_percent",
    "rss_peak_mb", ...}``; latencies in milliseconds.
    """
    from ..pipeline import Pipeline

    pipe = pipeline or Pipeline(config or PipelineConfig(device="cpu"))
    n = len(frames)
    for i in range(warmup):
        pipe.process(frames[i % n].to_frame(stamp_ns=(i + 1) * CAMERA_PERIOD_NS))
    timer = StageTimer()
    sub = StageTimer()
    found, true = [], []
    usage = Usage()
    t0 = time.perf_counter()
    with progress_bar(iterations, desc, progress) as bar:
        for i in range(iterations):
            bf = frames[i % n]
            stamp = (warmup + i + 1) * CAMERA_PERIOD_NS
            with timer("conversion"):
                frame = bf.to_frame(stamp_ns=stamp)
            scene = pipe.process(frame)
            for stage in ("instance", "semantic", "geometry", "tracking", "total"):
                timer.record(stage, scene.timings_ms.get(stage, 0.0))
            timer.record("end_to_end", timer.last_ms["conversion"] + scene.timings_ms["total"])
            for name, ms in instance_substages(pipe).items():
                sub.record(name, ms)
            found.append(len(scene.objects))
            true.append(bf.objects_true)
            usage.sample()
            bar.update(1)
    wall = time.perf_counter() - t0
    stages = {k: rounded(v) for k, v in timer.summary().items()}
    p50 = stages["end_to_end"]["p50"]
    result = {
        "backends": {"instance": pipe.config.instance_backend,
                     "semantic": pipe.config.semantic_backend},
        "layout_thread": bool(getattr(pipe, "layout_thread", False)),
        "iterations": iterations, "warmup": warmup,
        "stages": stages,
        "instance_substages": {k: rounded(v) for k, v in sub.summary().items()},
        "fps": round(1000.0 / p50, 2) if p50 > 0 else None,
        "fps_mean": round(iterations / wall, 2),
        "objects_found_mean": round(float(np.mean(found)), 2),
        "objects_true_mean": round(float(np.mean(true)), 2) if min(true) >= 0 else None,
        "per_frame_ms": [round(v, 2) for v in timer.samples_ms["end_to_end"]],
    }
    result.update(usage.finish())
    return result


def time_stream(frames: Sequence[BenchFrame], *, iterations: int, workers: int,
                warmup: int = 3, config: PipelineConfig | None = None,
                progress: bool = False) -> dict[str, Any]:
    """Throughput on a camera stream: frames fed as fast as they are taken, through a
    :class:`~seg_perception.parallel.ParallelPipeline` of ``workers`` processes
    (frame conversion included, tracking in order).

    Returns ``{"workers", "fps": frames / wall time, "latency_ms": summary of each
    frame's submit-to-tracked time, "objects_found_mean", "cpu_percent", ...}``.
    """
    from ..parallel import ParallelPipeline

    n = len(frames)
    stamps = iter(range(1, warmup + iterations + 1))

    def feed(count: int) -> Iterator[RGBDFrame]:
        for _ in range(count):
            i = next(stamps)
            yield frames[i % n].to_frame(stamp_ns=i * CAMERA_PERIOD_NS)

    with ParallelPipeline(config or PipelineConfig(device="cpu"), workers=workers) as pipe:
        for _ in pipe.stream(feed(warmup)):
            pass
        latency, found = [], []
        usage = Usage()
        t0 = time.perf_counter()
        with progress_bar(iterations, f"stream, {workers} workers", progress) as bar:
            for scene in pipe.stream(feed(iterations)):
                latency.append(scene.timings_ms["total"])
                found.append(len(scene.objects))
                usage.sample()
                bar.update(1)
        wall = time.perf_counter() - t0
    result = {"workers": workers, "iterations": iterations,
              "fps": round(iterations / wall, 2),
              "latency_ms": rounded(latency_summary(latency)),
              "objects_found_mean": round(float(np.mean(found)), 2)}
    result.update(usage.finish())
    return result


def instance_substages(pipeline: Any) -> dict[str, float]:
    """The instance segmenter's own stage timings of its last frame (the geometric
    analysis stages, YOLO-seg's pre/inference/post; empty for backends without them)."""
    segmenter = getattr(pipeline, "instance_segmenter", None)
    return dict(getattr(segmenter, "last_timings_ms", None) or {})
