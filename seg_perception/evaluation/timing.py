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


def stage_timings(pipeline: Any, scene: Scene) -> dict[str, float]:
    """The scene's stage timings and the instance segmenter's own stages of that frame
    as ``analysis.<stage>`` (where the instance time goes), when it reports them."""
    timings = dict(scene.timings_ms)
    segmenter = getattr(pipeline, "instance_segmenter", None)
    own = getattr(segmenter, "last_timings_ms", None) or {}
    timings.update({f"analysis.{k}": float(v) for k, v in own.items()})
    return timings


def repeat_timings(pipeline: Any, frame: RGBDFrame, repeats: int) -> list[dict[str, float]]:
    """Stage timings of ``repeats`` more runs of ``pipeline`` on ``frame``."""
    runs = []
    for _ in range(repeats):
        pipeline.reset()
        runs.append(stage_timings(pipeline, pipeline.process(frame)))
    return runs
