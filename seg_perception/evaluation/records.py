"""The result records of an evaluation: per GT object, per frame, example frames, the report."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..metrics.osd import OSDResult
from .formatting import json_ready

__all__ = ["EvalReport", "ExampleFrame", "FrameResult", "ObjectResult"]


@dataclass(frozen=True, eq=False)
class ObjectResult:
    """One scored GT object.

    Attributes:
        frame: index of its frame in the evaluation order.
        gt_index: index into the sample's ``instances``.
        kind: object kind (``"object"`` when the dataset has none).
        tags: per-object case tags (the annotation's ``tags``; the frame's case tags when
            the dataset has no per-object annotations).
        pixels: scored mask pixels (all of them under the standard protocol; only those
            with depth under ``ignore-gt-without-depth``).
        matched: a prediction matched it with mask IoU >= ``match_iou``.
        mask_iou: IoU with the matched prediction (0 when unmatched).
        centroid_error_m: metres; NaN when unmatched or either centroid is unknown.
        box_iou: oriented-box IoU; NaN when unmatched, no GT box or no predicted box.
    """

    frame: int
    gt_index: int
    kind: str
    tags: tuple[str, ...]
    pixels: int
    matched: bool
    mask_iou: float
    centroid_error_m: float
    box_iou: float


@dataclass(frozen=True, eq=False)
class FrameResult:
    """Metrics of one frame.

    Attributes:
        index: position in the evaluation order.
        name: the sample's name (file name or frame name).
        case_tags: the frame's case tags (``()`` = none).
        num_gt, num_pred: scored GT objects and predicted instances.
        num_matched: one-to-one matches with mask IoU >= ``match_iou``.
        osd: overlap / boundary P/R/F of the frame.
        ap: COCO ``AP``, ``AP50``, ``AP75``, ``AR100`` of the frame alone (NaN without GT).
        mean_centroid_error_m, mean_box_iou: over the frame's matched objects (NaN if none).
        timings_ms: the pipeline's stage timings of this frame.
        semantic_confusion: ``int64[C, C]`` (row GT, column prediction) or None.
    """

    index: int
    name: str
    case_tags: tuple[str, ...]
    num_gt: int
    num_pred: int
    num_matched: int
    osd: OSDResult
    ap: dict[str, float]
    mean_centroid_error_m: float
    mean_box_iou: float
    timings_ms: dict[str, float]
    semantic_confusion: np.ndarray | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "index": self.index, "name": self.name, "case_tags": list(self.case_tags),
            "num_gt": self.num_gt, "num_pred": self.num_pred, "num_matched": self.num_matched}
        out.update(self.osd.as_dict())
        out.update(self.ap)
        out.update(mean_centroid_error_m=self.mean_centroid_error_m,
                   mean_box_iou=self.mean_box_iou,
                   timings_ms={k: round(v, 3) for k, v in self.timings_ms.items()})
        return out


@dataclass(frozen=True, eq=False)
class ExampleFrame:
    """A frame picked for the report's picture grid.

    Attributes:
        name: the frame's name.
        overlap_f: its overlap F-measure.
        prediction: ``uint8[H, W, 3]`` RGB overlay of the pipeline's instances.
        ground_truth: ``uint8[H, W, 3]`` RGB overlay of the GT instances.
    """

    name: str
    overlap_f: float
    prediction: np.ndarray
    ground_truth: np.ndarray


@dataclass(frozen=True, eq=False)
class EvalReport:
    """Everything :func:`evaluate_dataset` measured for one pipeline.

    Attributes:
        backend: the instance backend's name.
        semantic_backend: the semantic backend's name, or ``"none"``.
        overall: dataset metrics (keys below), fractions in ``[0, 1]``, metres, counts.
        per_case: ``{case tag: metrics}`` over the frames with that tag; frames without
            tags are under ``"none"``. A frame with two tags counts in both.
        per_object_tag: ``{tag: object metrics}`` over GT objects with that per-object tag
            (``"all"`` = every object): recall, centroid error, box IoU.
        per_kind: the same per object kind.
        semantic_iou: ``{class: IoU}`` over the dataset (void class left out), or None.
        timings_ms: ``{stage: {"p50", "p95", "mean", "min", "max", "n"}}`` milliseconds.
        frames: per-frame results, evaluation order.
        objects: per-GT-object results.
        examples: the worst frames by overlap F, worst first, with overlays.
        settings: how it was measured (``protocol``, ``min_segment_depth``, ``match_iou``,
            ...); :func:`protocol_description` says it in words.
        notes: things the reader should know (e.g. why semantic metrics are missing).

    ``overall`` and each ``per_case`` entry hold ``num_frames``, ``num_gt``, ``num_pred``,
    ``AP``, ``AP50``, ``AP75``, ``AR100``, the OSD means (``overlap_precision``,
    ``overlap_recall``, ``overlap_f``, ``boundary_precision``, ``boundary_recall``,
    ``boundary_f``, ``obj_detected_075_percentage``), ``object_recall`` /
    ``object_precision`` (matches at ``match_iou`` over GT / predicted objects),
    ``centroid_error_mean_m``, ``centroid_error_median_m``, ``box_iou_mean``, ``miou``
    (NaN when not measured) and, for ``overall``, ``latency_p50_ms`` / ``latency_p95_ms``.
    """

    backend: str
    semantic_backend: str
    overall: dict[str, float]
    per_case: dict[str, dict[str, float]]
    per_object_tag: dict[str, dict[str, float]]
    per_kind: dict[str, dict[str, float]]
    semantic_iou: dict[str, float] | None
    timings_ms: dict[str, dict[str, float]]
    frames: tuple[FrameResult, ...]
    objects: tuple[ObjectResult, ...]
    examples: tuple[ExampleFrame, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def to_dict(self, *, include_frames: bool = True) -> dict[str, Any]:
        """JSON-ready dict (NaN becomes None)."""
        out: dict[str, Any] = {
            "backend": self.backend, "semantic_backend": self.semantic_backend,
            "settings": self.settings, "notes": list(self.notes), "overall": self.overall,
            "per_case": self.per_case, "per_object_tag": self.per_object_tag,
            "per_kind": self.per_kind, "semantic_iou": self.semantic_iou,
            "timings_ms": self.timings_ms,
            "worst_frames": [{"name": e.name, "overlap_f": e.overlap_f} for e in self.examples],
        }
        if include_frames:
            out["frames"] = [f.as_dict() for f in self.frames]
            out["objects"] = [{"frame": o.frame, "gt_index": o.gt_index, "kind": o.kind,
                               "tags": list(o.tags), "pixels": o.pixels, "matched": o.matched,
                               "mask_iou": o.mask_iou, "centroid_error_m": o.centroid_error_m,
                               "box_iou": o.box_iou} for o in self.objects]
        return json_ready(out)
