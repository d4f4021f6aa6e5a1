"""Stage timings of the evaluated pipeline: per frame, repeated runs, and their summary."""
from __future__ import annotations

import math
from typing import Any, Sequence

from ..frames import RGBDFrame
from ..metrics.timing import latency_summary
from ..results import Scene

__all__ = ["repeat_timings", "stage_timings", "time_summary"]


def time_summary(values_ms: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / mean / max / n of :func:`latency_summary` plus the minimum."""
    return {**latency_summary(values_ms), "min": min(values_ms, default=math.nan)}


def stage_timings(frame: RGBDFrame, scene: Scene) -> dict[str, float]:
    """The scene's stage timings and, when the geometric scene analysis ran on this frame,
    its own stages as ``analysis.<stage>`` (where the instance time goes)."""
    timings = dict(scene.timings_ms)
    from ..segmenters.geometric import cached_analysis

    analysis = cached_analysis(frame)
    if analysis is not None:
        timings.update({f"analysis.{k}": float(v) for k, v in analysis.timings_ms.items()})
    return timings


def repeat_timings(pipeline: Any, frame: RGBDFrame, repeats: int) -> list[dict[str, float]]:
    """Stage timings of ``repeats`` more runs of ``pipeline`` on ``frame``."""
    runs = []
    for _ in range(repeats):
        # A new frame object: the per-frame analysis cache must not hide the work.
        copy = RGBDFrame(frame.rgb, frame.depth, frame.intrinsics, frame.stamp_ns,
                         frame.frame_id)
        pipeline.reset()
        runs.append(stage_timings(copy, pipeline.process(copy)))
    return runs
