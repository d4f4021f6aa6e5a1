"""Pool the per-frame scores into an :class:`EvalReport`: overall, per case, per object
tag and kind, semantic IoU, stage timings and the settings that were used."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..metrics.osd import aggregate_osd
from ..metrics.semantic import SemanticResult
from .coco_ap import coco_ap
from .examples import WorstFrames
from .protocol import NO_CASE, protocol_description
from .records import EvalReport, FrameResult, ObjectResult
from .scoring import FrameScore
from .semantic import SemanticScorer
from .stats import nanmean, nanmedian
from .timing import time_summary

__all__ = ["Accumulator", "build_report"]


@dataclass
class Accumulator:
    """Mutable per-run state of :func:`~seg_perception.evaluation.evaluate_dataset`."""

    worst: WorstFrames
    frames: list[dict[str, Any]] = field(default_factory=list)
    objects: list[ObjectResult] = field(default_factory=list)
    gt_coco: list[list[dict[str, Any]]] = field(default_factory=list)
    dt_coco: list[list[dict[str, Any]]] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    timing_runs: list[dict[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, score: FrameScore, timings: dict[str, float]) -> None:
        """Record one frame's scores and its stage timings."""
        self.gt_coco.append(score.gt_coco)
        self.dt_coco.append(score.dt_coco)
        self.sizes.append(score.size)
        self.objects += score.objects
        self.frames.append({**score.fields, "timings_ms": timings})


def _backend_names(pipeline: Any) -> tuple[str, str]:
    cfg = getattr(pipeline, "config", None)
    inst = getattr(getattr(pipeline, "instance_segmenter", None), "name", None)
    if not inst:
        inst = getattr(cfg, "instance_backend", None) or type(
            getattr(pipeline, "instance_segmenter", pipeline)).__name__
    semantic = getattr(pipeline, "semantic_segmenter", None)
    sem_name = "none" if semantic is None else (getattr(semantic, "name", None) or getattr(
        cfg, "semantic_backend", None) or type(semantic).__name__)
    return str(inst), str(sem_name)


def _object_metrics(objects: Sequence[ObjectResult]) -> dict[str, float]:
    matched = [o for o in objects if o.matched]
    return {"num_objects": float(len(objects)),
            "recall": len(matched) / len(objects) if objects else math.nan,
            "mask_iou_matched": nanmean(o.mask_iou for o in matched),
            "centroid_error_mean_m": nanmean(o.centroid_error_m for o in matched),
            "centroid_error_median_m": nanmedian(o.centroid_error_m for o in matched),
            "box_iou_mean": nanmean(o.box_iou for o in matched)}


def _subset_metrics(acc: Accumulator, sem: SemanticScorer, idx: Sequence[int]) -> dict[str, float]:
    frames = [acc.frames[i] for i in idx]
    chosen = set(idx)
    objects = [o for o in acc.objects if o.frame in chosen]
    out: dict[str, float] = {"num_frames": float(len(frames)),
                             "num_gt": float(sum(f["num_gt"] for f in frames)),
                             "num_pred": float(sum(f["num_pred"] for f in frames))}
    out.update(coco_ap([acc.gt_coco[i] for i in idx], [acc.dt_coco[i] for i in idx],
                          [acc.sizes[i] for i in idx]))
    osd = aggregate_osd([f["osd"] for f in frames])
    for key in ("overlap_precision", "overlap_recall", "overlap_f", "boundary_precision",
                "boundary_recall", "boundary_f", "obj_detected_075_percentage"):
        out[key] = osd[key]
    out["obj_detected_075_pooled"] = (osd["obj_detected_075_total"] / osd["obj_gt_total"]
                                      if osd["obj_gt_total"] else math.nan)
    matched = sum(f["num_matched"] for f in frames)
    out["object_recall"] = matched / out["num_gt"] if out["num_gt"] else math.nan
    out["object_precision"] = matched / out["num_pred"] if out["num_pred"] else math.nan
    om = _object_metrics(objects)
    out["centroid_error_mean_m"] = om["centroid_error_mean_m"]
    out["centroid_error_median_m"] = om["centroid_error_median_m"]
    out["box_iou_mean"] = om["box_iou_mean"]
    confusions = [f["semantic_confusion"] for f in frames if f["semantic_confusion"] is not None]
    out["miou"] = sem.miou(np.sum(confusions, axis=0)) if confusions else math.nan
    return out


def build_report(pipeline: Any, acc: Accumulator, sem: SemanticScorer, *,
                 protocol: dict[str, Any], match_iou: float, timing_repeats: int) -> EvalReport:
    """The report of a finished run: subsets pooled, per-frame AP, timings, settings."""
    n = len(acc.frames)
    everything = list(range(n))
    overall = _subset_metrics(acc, sem, everything)

    cases: dict[str, list[int]] = {}
    for f in acc.frames:
        for tag in f["case_tags"] or (NO_CASE,):
            cases.setdefault(tag, []).append(f["index"])
    per_case = {tag: _subset_metrics(acc, sem, cases[tag]) for tag in sorted(cases)}

    per_tag: dict[str, list[ObjectResult]] = {"all": list(acc.objects)}
    per_kind: dict[str, list[ObjectResult]] = {}
    for o in acc.objects:
        for tag in o.tags or (NO_CASE,):
            per_tag.setdefault(tag, []).append(o)
        per_kind.setdefault(o.kind, []).append(o)
    per_object_tag = {t: _object_metrics(per_tag[t])
                      for t in ["all", *sorted(k for k in per_tag if k != "all")]}
    per_kind_metrics = {k: _object_metrics(per_kind[k]) for k in sorted(per_kind)}

    # Latency: the first frame pays for lazy initialisation; left out unless it is alone.
    timed = acc.timing_runs or [f["timings_ms"] for f in acc.frames]
    stages = sorted({s for t in timed for s in t}, key=lambda s: (s == "total", s))
    timings = {s: time_summary([t[s] for t in timed if s in t]) for s in stages}
    total = timings.get("total", time_summary([]))
    overall["latency_p50_ms"] = total["p50"]
    overall["latency_p95_ms"] = total["p95"]

    frames = []
    for i, f in enumerate(acc.frames):
        ap = coco_ap([acc.gt_coco[i]], [acc.dt_coco[i]], [acc.sizes[i]])
        frames.append(FrameResult(ap=ap, **f))

    semantic_iou = None
    confusions = [f["semantic_confusion"] for f in acc.frames
                  if f["semantic_confusion"] is not None]
    if confusions and sem.gt_names is not None:
        pooled = SemanticResult.from_confusion(np.sum(confusions, axis=0), sem.names)
        semantic_iou = {pooled.class_names[i]: float(pooled.iou[i]) for i in sem.scored()}
    backend, semantic_backend = _backend_names(pipeline)
    settings = {**protocol, "protocol_description": protocol_description(protocol),
                "match_iou": match_iou, "timing_repeats": timing_repeats,
                "boundary_tolerance_px": sorted({f.osd.boundary_tolerance_px for f in frames}),
                "num_frames": n}
    cfg = getattr(pipeline, "config", None)
    if cfg is not None and hasattr(cfg, "__dataclass_fields__"):
        settings["pipeline_config"] = {k: getattr(cfg, k) for k in cfg.__dataclass_fields__}
    return EvalReport(
        backend=backend, semantic_backend=semantic_backend, overall=overall, per_case=per_case,
        per_object_tag=per_object_tag, per_kind=per_kind_metrics, semantic_iou=semantic_iou,
        timings_ms=timings, frames=tuple(frames), objects=tuple(acc.objects),
        examples=acc.worst.examples(), settings=settings, notes=tuple(acc.notes))
