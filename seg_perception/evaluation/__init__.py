"""Evaluate a :class:`~seg_perception.pipeline.Pipeline` on a labelled RGB-D dataset.

:func:`evaluate_dataset` runs the pipeline on every sample and scores it with the
metrics of :mod:`seg_perception.metrics`, per frame, over the whole set and per case
type, so a regression on one hard case (``stacked``, ``occluded``, ...) shows even
when the average hardly moves. :func:`write_report` turns one or several reports
(one per instance backend) into ``report.json``, ``report.md`` and plots.

Samples are anything with the attributes of
:class:`~seg_perception.sim.dataset.CocoRGBDSample`: ``frame``, ``instances`` (GT
masks), optionally ``instance_labels``, ``semantic``, ``depth_gt``, ``case_tags``,
``kinds``, ``annotations`` and a name (``name`` or ``image["file_name"]``);
:func:`seg_perception.io.iter_labeled_folder` yields such samples for real data.

Metrics and conventions:

* **Protocol.** By default the published OSD / OCID protocol (UOIS-Net, UCN): the
  ground truth is scored in full, pixels without depth included, and predicted
  segments with too little depth are removed first, as UCN's evaluation code does
  (``filter_labels_depth``: a segment goes when under ``min_segment_depth`` of its
  pixels have depth; UCN uses 0.8 on OSD, 0.5 on OCID). A prediction that misses or
  spills into pixels without depth is penalised. ``ignore_gt_without_depth=True`` is
  the older, more lenient scoring: pixels without depth are removed from GT and
  predicted masks (and the semantic maps) before any metric, a GT object left with no
  pixel is not scored, and no segment is filtered. Every report names its protocol.
* **Mask AP** -- COCO ``segm`` AP, AP50, AP75, AR100, class agnostic, pycocotools.
* **OSD** -- overlap and boundary P/R/F and the share of GT objects whose Hungarian
  match has F > 0.75 (:func:`~seg_perception.metrics.osd.osd_metrics`, the reference
  code's strict ``>``), averaged over frames as in the UOIS / UCN papers.
* **Semantic** -- per-class IoU and mIoU from the confusion matrix summed over frames,
  when the samples carry GT semantic labels and the pipeline has a semantic stage whose
  class names overlap the GT's. GT ``unknown`` pixels are void (ignored) and ``unknown``
  is not part of the mIoU; predicted classes the GT lacks count as errors.
* **3D** -- GT and predicted objects are matched one-to-one by mask IoU (Hungarian,
  IoU >= ``match_iou``). *Centroid error* is the distance between the pipeline's
  centroid (mean of its cleaned, eroded, voxelised object cloud) and the GT *visible
  surface* centroid: the mean of the back-projected pixels of the GT mask that have
  depth, using the exact depth (``depth_gt``) when the sample has one, else the sensor
  depth. Both describe the seen surface, so the error measures segmentation and 3D
  cleaning, not shape completion. *Box IoU* is the exact oriented-box IoU between the
  pipeline's box and the GT box of the whole object (``box_center_camera``,
  ``quaternion_camera``, ``extents`` of the annotation); it is NaN without GT boxes.
  A box fitted to a partial view is smaller than the full object, so it is below 1
  even for perfect masks.
* **Timings** -- p50 / p95 / mean / min / max of :attr:`Scene.timings_ms` per stage,
  milliseconds, plus the stages of the geometric scene analysis (``analysis.<stage>``,
  shared by the geometric instance and layout segmenters) when it ran; the first frame
  (lazy initialisation) is left out when there are more. With ``timing_repeats`` every
  frame is processed that many more times, each on a new frame object so no per-frame
  cache hides work, and the timings come from those runs.

Fractions are in ``[0, 1]`` in the report objects and ``report.json``; ``report.md``
prints them as percentages (like the papers) and distances in millimetres.

Example:
    >>> from seg_perception.pipeline import Pipeline
    >>> from seg_perception.io import iter_labeled_folder
    >>> frames = iter_labeled_folder("../shared/data/osd_dev")                 # doctest: +SKIP
    >>> report = evaluate_dataset(Pipeline(), frames)                         # doctest: +SKIP
    >>> report.overall["overlap_f"], report.per_case["occluded"]["overlap_f"]  # doctest: +SKIP
"""
from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .metrics.coco import instances_to_coco, labels_to_coco
from .metrics.geometry3d import OrientedBox3D, match_by_mask_iou, oriented_box_iou
from .metrics.osd import (OSD_MIN_SEGMENT_DEPTH, OSDResult, aggregate_osd, osd_metrics,
                          remove_segments_without_depth)
from .metrics.semantic import SemanticResult, confusion_matrix, per_class_iou
from .metrics.timing import latency_summary
from .frames import RGBDFrame
from .results import InstanceMasks, Scene, SceneObject

__all__ = [
    "EvalReport",
    "ExampleFrame",
    "FrameResult",
    "ObjectResult",
    "comparison_markdown",
    "evaluate_dataset",
    "protocol_description",
    "write_report",
]

NO_CASE = "none"  # case key of frames without any case tag
VOID_CLASS = "unknown"  # GT semantic class that is not scored
OTHER_CLASS = "<other>"  # predicted semantic classes that the GT does not have
STANDARD_PROTOCOL = "standard"
LEGACY_PROTOCOL = "ignore-gt-without-depth"
_AP_KEYS = ("AP", "AP50", "AP75", "AR100")
_COCO_STATS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100")


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
        return _json_ready(out)

    def to_markdown(self, *, plots: Mapping[str, str] | None = None,
                    heading_level: int = 2) -> str:
        """Markdown sections: overall, per case, per object tag / kind, semantic, timings,
        per frame; ``plots`` maps a caption to an image path to link."""
        h = "#" * heading_level
        lines = [f"{h} Backend `{self.backend}` (semantic: `{self.semantic_backend}`)", "",
                 f"Protocol: {protocol_description(self.settings)}", ""]
        lines += [f"- {note}" for note in self.notes]
        if self.notes:
            lines.append("")
        lines += [f"{h}# Overall", "", *_metric_table({"all": self.overall}, "set"), ""]
        lines += [f"{h}# Per case", "",
                  *_metric_table(self.per_case, "case"), ""]
        lines += [f"{h}# Per object tag", "", *_object_table(self.per_object_tag, "tag"), ""]
        lines += [f"{h}# Per object kind", "", *_object_table(self.per_kind, "kind"), ""]
        if self.semantic_iou is not None:
            lines += [f"{h}# Semantic IoU (%)", "",
                      "| " + " | ".join(["mIoU", *self.semantic_iou]) + " |",
                      "|" + "---:|" * (len(self.semantic_iou) + 1),
                      "| " + " | ".join(_pct(v) for v in [self.overall.get("miou", math.nan),
                                                           *self.semantic_iou.values()]) + " |",
                      ""]
        lines += [f"{h}# Timings (ms)", "", "| stage | p50 | p95 | mean | min | max | n |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for stage, t in self.timings_ms.items():
            lines.append(f"| {stage} | {_num(t['p50'])} | {_num(t['p95'])} | {_num(t['mean'])} "
                         f"| {_num(t.get('min', math.nan))} | {_num(t['max'])} | {t['n']} |")
        lines += ["", f"{h}# Per frame", "",
                  "| frame | cases | GT | pred | matched | AP50 | overlap F | boundary F "
                  "| F>0.75 | centroid err (mm) | box IoU | total ms |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for f in self.frames:
            lines.append(
                f"| {f.name} | {', '.join(f.case_tags) or NO_CASE} | {f.num_gt} | {f.num_pred} "
                f"| {f.num_matched} | {_pct(f.ap.get('AP50', math.nan))} | {_pct(f.osd.overlap_f)} "
                f"| {_pct(f.osd.boundary_f)} | {_pct(f.osd.obj_detected_075_percentage)} "
                f"| {_mm(f.mean_centroid_error_m)} | {_pct(f.mean_box_iou)} "
                f"| {_num(f.timings_ms.get('total', math.nan))} |")
        if plots:
            lines.append("")
            lines += [f"![{caption}]({path})" for caption, path in plots.items()]
        return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- helpers


def protocol_description(settings: Mapping[str, Any]) -> str:
    """One sentence naming the scoring protocol of a report's ``settings``."""
    if settings.get("protocol") == LEGACY_PROTOCOL:
        return (f"`{LEGACY_PROTOCOL}` (not the published protocol): pixels without depth "
                "removed from ground truth and prediction before scoring")
    frac = settings.get("min_segment_depth", OSD_MIN_SEGMENT_DEPTH)
    return (f"`{STANDARD_PROTOCOL}` (OSD/OCID, UOIS-Net/UCN): ground truth scored in full, "
            f"predicted segments with under {100 * frac:.0f} % of pixels with depth removed")


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_ready(value.tolist())
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _pct(v: float) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{100.0 * v:.1f}"


def _mm(v: float) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{1000.0 * v:.1f}"


def _num(v: float) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:.1f}"


_TABLE_COLUMNS = (  # (header, key, formatter)
    ("frames", "num_frames", lambda v: f"{int(v)}"),
    ("GT", "num_gt", lambda v: f"{int(v)}"),
    ("pred", "num_pred", lambda v: f"{int(v)}"),
    ("AP", "AP", _pct), ("AP50", "AP50", _pct), ("AP75", "AP75", _pct),
    ("overlap P", "overlap_precision", _pct), ("overlap R", "overlap_recall", _pct),
    ("overlap F", "overlap_f", _pct),
    ("boundary P", "boundary_precision", _pct), ("boundary R", "boundary_recall", _pct),
    ("boundary F", "boundary_f", _pct),
    ("F>0.75", "obj_detected_075_percentage", _pct),
    ("obj recall", "object_recall", _pct),
    ("centroid err (mm)", "centroid_error_mean_m", _mm),
    ("box IoU", "box_iou_mean", _pct),
    ("mIoU", "miou", _pct),
)


def _metric_table(rows: Mapping[str, Mapping[str, float]], first: str) -> list[str]:
    lines = ["| " + " | ".join([first, *(c[0] for c in _TABLE_COLUMNS)]) + " |",
             "|---|" + "---:|" * len(_TABLE_COLUMNS)]
    for name, m in rows.items():
        cells = [fmt(m.get(key, math.nan)) for _, key, fmt in _TABLE_COLUMNS]
        lines.append("| " + " | ".join([name, *cells]) + " |")
    return lines


def _object_table(rows: Mapping[str, Mapping[str, float]], first: str) -> list[str]:
    lines = [f"| {first} | objects | recall @IoU | mean mask IoU (matched) "
             "| centroid err (mm) | box IoU |", "|---|---:|---:|---:|---:|---:|"]
    for name, m in rows.items():
        lines.append(f"| {name} | {int(m['num_objects'])} | {_pct(m['recall'])} "
                     f"| {_pct(m['mask_iou_matched'])} | {_mm(m['centroid_error_mean_m'])} "
                     f"| {_pct(m['box_iou_mean'])} |")
    return lines


def _nanmean(values: Iterable[float]) -> float:
    v = np.asarray(list(values), np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else math.nan


def _nanmedian(values: Iterable[float]) -> float:
    v = np.asarray(list(values), np.float64)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else math.nan


def _quat_to_matrix(q: Sequence[float]) -> np.ndarray:
    """``float64[3, 3]`` rotation of a unit ``(x, y, z, w)`` quaternion."""
    x, y, z, w = np.asarray(q, np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def _gt_box(annotation: Mapping[str, Any] | None) -> OrientedBox3D | None:
    """The annotation's whole-object box in the camera frame, or None if it has none."""
    if not annotation or not all(k in annotation for k in
                                 ("box_center_camera", "quaternion_camera", "extents")):
        return None
    try:
        return OrientedBox3D(np.asarray(annotation["box_center_camera"], np.float64),
                             _quat_to_matrix(annotation["quaternion_camera"]),
                             np.asarray(annotation["extents"], np.float64))
    except ValueError:
        return None


def _pred_box(obj: SceneObject | None) -> OrientedBox3D | None:
    if obj is None or obj.geometry is None:
        return None
    try:
        return OrientedBox3D.from_geometry(obj.geometry)
    except ValueError:  # degenerate box of a tiny cloud
        return None


def _visible_centroids(masks: np.ndarray, depth: np.ndarray, K: Any) -> np.ndarray:
    """``float64[N, 3]`` mean back-projected point (camera frame, metres) of each mask's
    pixels with depth > 0; NaN rows for masks without any.

    ``x = (u - cx) z / fx``, ``y = (v - cy) z / fy``; computed with pixel sums, so no
    per-pixel Python loop and no point arrays.
    """
    n = masks.shape[0]
    if n == 0:
        return np.zeros((0, 3))
    h, w = depth.shape
    z = np.where(depth > 0, depth, 0.0).astype(np.float64)
    x = ((np.arange(w, dtype=np.float64) - K.cx) / K.fx)[None, :] * z
    y = ((np.arange(h, dtype=np.float64) - K.cy) / K.fy)[:, None] * z
    valid = (masks & (z > 0)[None]).reshape(n, h * w).astype(np.float64)
    count = valid.sum(axis=1)
    sums = valid @ np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count[:, None] > 0, sums / count[:, None], np.nan)


def _sample_name(sample: Any, index: int) -> str:
    name = getattr(sample, "name", None)
    if name:
        return str(name)
    image = getattr(sample, "image", None)
    if isinstance(image, Mapping) and image.get("file_name"):
        return str(image["file_name"])
    return f"frame{index:05d}"


def _coco_eval(gt_frames: Sequence[list[dict[str, Any]]], dt_frames: Sequence[list[dict[str, Any]]],
               sizes: Sequence[tuple[int, int]]) -> dict[str, float]:
    """Class-agnostic COCO ``segm`` stats of frames given as per-frame RLE annotation lists
    (from :func:`labels_to_coco` / :func:`instances_to_coco`; ids are reassigned here)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, gts, dts = [], [], []
    for image_id, (g, d, (h, w)) in enumerate(zip(gt_frames, dt_frames, sizes), start=1):
        images.append({"id": image_id, "height": int(h), "width": int(w)})
        gts += [{**a, "id": len(gts) + i + 1, "image_id": image_id} for i, a in enumerate(g)]
        dts += [{**a, "id": len(dts) + i + 1, "image_id": image_id, "iscrowd": 0}
                for i, a in enumerate(d)]
    nan = {k: math.nan for k in _AP_KEYS}
    if not gts:  # COCO scores nothing without GT objects
        return nan
    categories = [{"id": 1, "name": "object"}]
    coco_gt, coco_dt = COCO(), COCO()
    coco_gt.dataset = {"images": images, "annotations": gts, "categories": categories}
    coco_dt.dataset = {"images": images, "annotations": dts, "categories": categories}
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pycocotools' NumPy 2 notices
        coco_gt.createIndex()
        coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, iouType="segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = {k: (math.nan if v < 0 else float(v)) for k, v in zip(_COCO_STATS, ev.stats)}
    return {k: stats[k] for k in _AP_KEYS}


def _time_summary(values_ms: Sequence[float]) -> dict[str, float]:
    return {**latency_summary(values_ms), "min": min(values_ms, default=math.nan)}


def _stage_timings(frame: RGBDFrame, scene: Scene) -> dict[str, float]:
    """The scene's stage timings and, when the geometric scene analysis ran on this frame,
    its own stages as ``analysis.<stage>`` (where the instance time goes)."""
    timings = dict(scene.timings_ms)
    from .segmenters.geometric import cached_analysis

    analysis = cached_analysis(frame)
    if analysis is not None:
        timings.update({f"analysis.{k}": float(v) for k, v in analysis.timings_ms.items()})
    return timings


def _repeat_timings(pipeline: Any, frame: RGBDFrame, repeats: int) -> list[dict[str, float]]:
    runs = []
    for _ in range(repeats):
        # A new frame object: the per-frame analysis cache must not hide the work.
        copy = RGBDFrame(frame.rgb, frame.depth, frame.intrinsics, frame.stamp_ns,
                         frame.frame_id)
        pipeline.reset()
        runs.append(_stage_timings(copy, pipeline.process(copy)))
    return runs


def _write_overlay(folder: Path, example: ExampleFrame) -> None:
    import cv2

    side_by_side = np.concatenate([example.prediction, example.ground_truth], axis=1)
    name = _safe(str(Path(example.name).with_suffix("")))
    cv2.imwrite(str(folder / f"{name}.png"), side_by_side[:, :, ::-1])


def _gt_overlay_scene(scene: Scene, gt: InstanceMasks) -> Scene:
    objects = [SceneObject(index=i, class_id=0, class_name="gt", score=1.0, box_2d=gt.boxes[i],
                           mask=gt.masks[i], geometry=None) for i in range(len(gt))]
    return Scene(frame=scene.frame, instances=gt, semantic=None, objects=objects)


@dataclass
class _Acc:
    """Mutable per-run state of :func:`evaluate_dataset`."""

    frames: list[dict[str, Any]] = field(default_factory=list)
    objects: list[ObjectResult] = field(default_factory=list)
    gt_coco: list[list[dict[str, Any]]] = field(default_factory=list)
    dt_coco: list[list[dict[str, Any]]] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    worst: list[tuple[float, int, ExampleFrame]] = field(default_factory=list)
    timing_runs: list[dict[str, float]] = field(default_factory=list)
    semantic_names: tuple[str, ...] | None = None
    notes: list[str] = field(default_factory=list)


class _SemanticScorer:
    """Confusion matrices of predicted layout maps against GT semantic maps, by class name."""

    def __init__(self) -> None:
        self.gt_names: tuple[str, ...] | None = None
        self.names: tuple[str, ...] = ()
        self.skip_reason: str | None = None

    def confusion(self, pred: Any, gt: Any, ignore: np.ndarray | None) -> np.ndarray | None:
        if pred is None or gt is None or self.skip_reason:
            return None
        if self.gt_names is None:
            self.gt_names = tuple(gt.class_names)
            self.names = (*self.gt_names, OTHER_CLASS)
        if tuple(gt.class_names) != self.gt_names:
            self.skip_reason = "GT semantic class lists differ between frames; mIoU not scored"
            return None
        index = {n: i for i, n in enumerate(self.gt_names)}
        pred_names = tuple(pred.class_names)
        if not any(n in index for n in pred_names):
            self.skip_reason = (f"the semantic backend's classes {list(pred_names)[:6]} share "
                                f"no name with the GT classes {list(self.gt_names)}; mIoU not "
                                "scored")
            return None
        other = len(self.gt_names)
        lut = np.array([index.get(n, other) for n in pred_names] or [other], np.int64)
        pred_labels = lut[np.clip(pred.labels.astype(np.int64), 0, len(lut) - 1)]
        gt_labels = gt.labels.astype(np.int64)
        void = index.get(VOID_CLASS)
        # GT values outside the class list are unlabelled: treat them as void.
        bad = (gt_labels < 0) | (gt_labels >= len(self.gt_names))
        ignore_all = bad if ignore is None else (bad | ignore)
        return confusion_matrix(pred_labels, np.where(bad, 0, gt_labels), len(self.names),
                                ignore_index=void, ignore=ignore_all)

    def scored(self) -> np.ndarray:
        """Indices of the classes in the mIoU (GT classes except the void one)."""
        assert self.gt_names is not None
        return np.array([i for i, n in enumerate(self.gt_names) if n != VOID_CLASS], np.int64)

    def miou(self, confusion: np.ndarray | None) -> float:
        if confusion is None or self.gt_names is None:
            return math.nan
        iou = per_class_iou(confusion)[self.scored()]
        return float(np.nanmean(iou)) if np.isfinite(iou).any() else math.nan


# ----------------------------------------------------------------------------- main entry


def evaluate_dataset(pipeline: Any, samples: Iterable[Any], *,
                     ignore_gt_without_depth: bool = False,
                     min_segment_depth: float = OSD_MIN_SEGMENT_DEPTH,
                     progress: bool = True, match_iou: float = 0.5, num_examples: int = 6,
                     max_frames: int | None = None, timing_repeats: int = 0,
                     overlay_dir: str | Path | None = None) -> EvalReport:
    """Run ``pipeline`` on every sample and score it (see the module docstring).

    Args:
        pipeline: a :class:`~seg_perception.pipeline.Pipeline` (anything with
            ``process(frame) -> Scene``; ``instance_segmenter`` / ``semantic_segmenter`` /
            ``config`` are read for names when present). Use one with tracking off: the
            frames are independent scenes (tracking changes ids only, not the scores).
        samples: :class:`~seg_perception.sim.dataset.CocoRGBDSample`,
            :class:`~seg_perception.io.LabeledFrame` or anything with their attributes
            (``frame`` and ``instances`` are required).
        ignore_gt_without_depth: the older, lenient scoring: drop pixels without depth from
            GT and predicted masks before scoring. Default False: the published protocol
            (GT in full, segments with too little depth removed; module docstring).
        min_segment_depth: share of a predicted segment's pixels that must have depth for
            it to be scored under the standard protocol (UCN: 0.8 on OSD, 0.5 on OCID;
            0 keeps every segment). Not used with ``ignore_gt_without_depth``.
        progress: show a tqdm progress bar on stderr.
        match_iou: mask IoU a prediction needs to match a GT object for the 3D metrics and
            ``object_recall``.
        num_examples: how many of the worst frames (by overlap F) keep overlays.
        max_frames: stop after this many samples.
        timing_repeats: process every frame this many more times for the timings (each
            run on a new frame object, so no cache hides work); 0 = time the scored run.
        overlay_dir: write ``<frame>.png`` (prediction | ground truth) of every frame here.

    Returns:
        :class:`EvalReport`.

    Raises:
        ValueError: no samples, or ``min_segment_depth`` outside ``[0, 1]``.
    """
    from tqdm import tqdm

    from .visualize import overlay_scene

    total = None
    with contextlib.suppress(TypeError):
        total = len(samples)  # type: ignore[arg-type]
    if max_frames is not None:
        total = max_frames if total is None else min(total, max_frames)
        samples = itertools.islice(samples, max_frames)  # no sample beyond is even loaded
    if not 0.0 <= min_segment_depth <= 1.0:
        raise ValueError(f"min_segment_depth={min_segment_depth} must be in [0, 1]: the share of "
                         "a predicted segment's pixels that need depth (0.8 = UCN on OSD)")
    acc = _Acc()
    sem = _SemanticScorer()
    if timing_repeats < 0:
        raise ValueError(f"timing_repeats={timing_repeats} must be >= 0")
    if overlay_dir is not None:
        overlay_dir = Path(overlay_dir)
        overlay_dir.mkdir(parents=True, exist_ok=True)
    bar = tqdm(samples, total=total, desc="evaluating", unit="frame", disable=not progress,
               leave=False)
    for index, sample in enumerate(bar):
        frame = sample.frame
        pipeline.reset()  # samples are independent: nothing carries over between them
        scene = pipeline.process(frame)
        timings = _stage_timings(frame, scene)
        if timing_repeats > 0:
            runs = _repeat_timings(pipeline, frame, timing_repeats)
            acc.timing_runs += runs
            timings = {k: float(np.median([r[k] for r in runs if k in r])) for k in runs[0]}
        elif index > 0:  # the first frame pays for lazy initialisation
            acc.timing_runs.append(timings)
        gt: InstanceMasks = sample.instances
        pred = scene.instances
        pixels = frame.height * frame.width
        # OSD on label images (the published protocol works on labels, not mask stacks).
        gt_labels = getattr(sample, "instance_labels", None)
        if gt_labels is None:
            gt_labels = gt.label_image()
        pred_labels = pred.label_image()
        if ignore_gt_without_depth:
            ignore = ~frame.valid
            gt_masks = gt.masks & frame.valid[None]
            pred_masks = pred.masks & frame.valid[None]
            pred_idx = np.flatnonzero(pred_masks.reshape(len(pred), pixels).any(axis=1))
        else:
            ignore = None
            gt_masks = gt.masks
            pred_labels = remove_segments_without_depth(pred_labels, frame.valid,
                                                        min_segment_depth)
            # label_image writes instance i as i + 1: the surviving labels name the kept ones.
            kept = np.zeros(len(pred) + 1, bool)
            kept[pred_labels.ravel()] = True
            pred_idx = np.flatnonzero(kept[1:])
            pred_masks = pred.masks
        gt_pixels = gt_masks.reshape(len(gt), pixels).sum(axis=1)
        gt_idx = np.flatnonzero(gt_pixels > 0)
        r_osd = osd_metrics(pred_labels, gt_labels, ignore=ignore)

        gt_kept = InstanceMasks.from_masks(gt_masks[gt_idx])
        pred_kept = InstanceMasks(pred_masks[pred_idx], pred.scores[pred_idx],
                                  pred.class_ids[pred_idx],
                                  tuple(pred.class_names[i] for i in pred_idx),
                                  pred.boxes[pred_idx])
        acc.gt_coco.append(labels_to_coco(gt_kept, 0))
        acc.dt_coco.append(instances_to_coco(pred_kept, 0))
        acc.sizes.append((frame.height, frame.width))

        # 3D: match on the scored masks, compare with the GT visible-surface centroid.
        match = match_by_mask_iou(pred_kept.masks, gt_kept.masks, min_iou=match_iou)
        depth_gt = getattr(sample, "depth_gt", None)
        depth = depth_gt if depth_gt is not None else frame.depth
        gt_centroids = _visible_centroids(gt.masks[gt_idx], depth, frame.intrinsics)
        objects_by_index = {o.index: o for o in scene.objects}
        annotations = tuple(getattr(sample, "annotations", ()) or ())
        kinds = tuple(getattr(sample, "kinds", ()) or ())
        case_tags = tuple(getattr(sample, "case_tags", ()) or ())
        matched = {int(g): (int(p), float(iou)) for p, g, iou in
                   zip(match.pred_indices, match.gt_indices, match.ious)}
        errors, box_ious = [], []
        for k, gi in enumerate(gt_idx):
            ann = annotations[gi] if gi < len(annotations) else None
            tags = tuple(ann.get("tags", ())) if ann is not None else (
                () if annotations else case_tags)
            err = biou = math.nan
            iou = 0.0
            if k in matched:
                p, iou = matched[k]
                obj = objects_by_index.get(int(pred_idx[p]))
                if obj is not None and obj.geometry is not None:
                    err = float(np.linalg.norm(np.asarray(obj.geometry.centroid, np.float64)
                                               - gt_centroids[k]))
                gbox, pbox = _gt_box(ann), _pred_box(obj)
                if gbox is not None and pbox is not None:
                    biou = oriented_box_iou(pbox, gbox)
                errors.append(err)
                box_ious.append(biou)
            acc.objects.append(ObjectResult(
                frame=index, gt_index=int(gi), kind=kinds[gi] if gi < len(kinds) else "object",
                tags=tags, pixels=int(gt_pixels[gi]), matched=k in matched, mask_iou=iou,
                centroid_error_m=err, box_iou=biou))

        confusion = sem.confusion(scene.semantic, getattr(sample, "semantic", None), ignore)
        name = _sample_name(sample, index)
        acc.frames.append({
            "index": index, "name": name, "case_tags": case_tags, "num_gt": int(gt_idx.size),
            "num_pred": int(pred_idx.size), "num_matched": len(match), "osd": r_osd,
            "mean_centroid_error_m": _nanmean(errors), "mean_box_iou": _nanmean(box_ious),
            "timings_ms": timings, "semantic_confusion": confusion})

        # Keep overlays of the worst frames only (bounded memory on large sets).
        f = r_osd.overlap_f
        worse = num_examples > 0 and (len(acc.worst) < num_examples or f < acc.worst[-1][0])
        if worse or overlay_dir is not None:
            # Labels would cover small images; boxes and outlines still show the instances.
            labels = frame.width >= 320
            example = ExampleFrame(name, f, overlay_scene(scene, draw_labels=labels),
                                   overlay_scene(_gt_overlay_scene(scene, gt), draw_labels=False))
            if overlay_dir is not None:
                _write_overlay(overlay_dir, example)
        if worse:
            acc.worst.append((f, index, example))
            acc.worst.sort(key=lambda t: (t[0], t[1]))
            del acc.worst[num_examples:]
    bar.close()
    if not acc.frames:
        raise ValueError("evaluate_dataset got no samples: is the dataset empty?")
    if sem.skip_reason:
        acc.notes.append(sem.skip_reason)
    protocol = {"protocol": LEGACY_PROTOCOL if ignore_gt_without_depth else STANDARD_PROTOCOL}
    if not ignore_gt_without_depth:
        protocol["min_segment_depth"] = min_segment_depth
    return _build_report(pipeline, acc, sem, protocol=protocol, match_iou=match_iou,
                         timing_repeats=timing_repeats)


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
            "mask_iou_matched": _nanmean(o.mask_iou for o in matched),
            "centroid_error_mean_m": _nanmean(o.centroid_error_m for o in matched),
            "centroid_error_median_m": _nanmedian(o.centroid_error_m for o in matched),
            "box_iou_mean": _nanmean(o.box_iou for o in matched)}


def _subset_metrics(acc: _Acc, sem: _SemanticScorer, idx: Sequence[int]) -> dict[str, float]:
    frames = [acc.frames[i] for i in idx]
    chosen = set(idx)
    objects = [o for o in acc.objects if o.frame in chosen]
    out: dict[str, float] = {"num_frames": float(len(frames)),
                             "num_gt": float(sum(f["num_gt"] for f in frames)),
                             "num_pred": float(sum(f["num_pred"] for f in frames))}
    out.update(_coco_eval([acc.gt_coco[i] for i in idx], [acc.dt_coco[i] for i in idx],
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


def _build_report(pipeline: Any, acc: _Acc, sem: _SemanticScorer, *, protocol: dict[str, Any],
                  match_iou: float, timing_repeats: int) -> EvalReport:
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
    timings = {s: _time_summary([t[s] for t in timed if s in t]) for s in stages}
    total = timings.get("total", _time_summary([]))
    overall["latency_p50_ms"] = total["p50"]
    overall["latency_p95_ms"] = total["p95"]

    frames = []
    for i, f in enumerate(acc.frames):
        ap = _coco_eval([acc.gt_coco[i]], [acc.dt_coco[i]], [acc.sizes[i]])
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
        examples=tuple(e for _, _, e in acc.worst), settings=settings, notes=tuple(acc.notes))


# ----------------------------------------------------------------------------- reports


_COMPARE_COLUMNS = (
    ("AP", "AP", _pct), ("AP50", "AP50", _pct), ("AP75", "AP75", _pct),
    ("overlap F", "overlap_f", _pct), ("boundary F", "boundary_f", _pct),
    ("F>0.75", "obj_detected_075_percentage", _pct), ("obj recall", "object_recall", _pct),
    ("centroid err (mm)", "centroid_error_mean_m", _mm), ("box IoU", "box_iou_mean", _pct),
    ("mIoU", "miou", _pct), ("p50 ms", "latency_p50_ms", _num), ("p95 ms", "latency_p95_ms", _num),
)


def comparison_markdown(reports: Mapping[str, EvalReport]) -> str:
    """Markdown: one row per backend (overall metrics), then overlap F per case and backend."""
    lines = ["| backend | " + " | ".join(c[0] for c in _COMPARE_COLUMNS) + " |",
             "|---|" + "---:|" * len(_COMPARE_COLUMNS)]
    for name, r in reports.items():
        lines.append(f"| {name} | " + " | ".join(fmt(r.overall.get(key, math.nan))
                                                  for _, key, fmt in _COMPARE_COLUMNS) + " |")
    cases = sorted({c for r in reports.values() for c in r.per_case})
    names = list(reports)
    lines += ["", "Overlap F / boundary F (%) per case:", "",
              "| case | frames | " + " | ".join(names) + " |",
              "|---|---:|" + "---:|" * len(names)]
    for case in cases:
        first = next((r.per_case[case] for r in reports.values() if case in r.per_case), {})
        cells = []
        for r in reports.values():
            m = r.per_case.get(case)
            cells.append("–" if m is None
                         else f"{_pct(m['overlap_f'])} / {_pct(m['boundary_f'])}")
        lines.append(f"| {case} | {int(first.get('num_frames', 0))} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _figure(width: float, height: float):  # noqa: ANN202 - matplotlib Figure
    # An explicit Agg canvas: no pyplot, no global backend switch, works headless.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _plot_cases(reports: Mapping[str, EvalReport], path: Path) -> None:
    cases = sorted({c for r in reports.values() for c in r.per_case})
    names = list(reports)
    fig = _figure(max(6.0, 1.2 * len(cases) * max(1, len(names)) ** 0.5 + 2), 4.0)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(cases))
    if len(names) == 1:  # one backend: overlap and boundary F side by side
        r = reports[names[0]]
        series = [("overlap F", [r.per_case[c]["overlap_f"] for c in cases]),
                  ("boundary F", [r.per_case[c]["boundary_f"] for c in cases])]
    else:  # several: overlap F per backend
        series = [(n, [reports[n].per_case.get(c, {}).get("overlap_f", math.nan) for c in cases])
                  for n in names]
    width = 0.8 / len(series)
    for k, (label, values) in enumerate(series):
        v = 100 * np.nan_to_num(np.asarray(values, np.float64), nan=0.0)
        bars = ax.bar(x + (k - (len(series) - 1) / 2) * width, v, width, label=label)
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    counts = [int(next(r.per_case[c]["num_frames"] for r in reports.values() if c in r.per_case))
              for c in cases]
    ax.set_xticks(x, [f"{c}\n(n={n})" for c, n in zip(cases, counts)], fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("F-measure (%)")
    ax.set_title("Overlap F per case and backend" if len(names) > 1
                 else f"F-measure per case - {names[0]}")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)


def _plot_histogram(report: EvalReport, path: Path) -> None:
    fig = _figure(6.0, 3.5)
    ax = fig.add_subplot(1, 1, 1)
    bins = np.linspace(0, 1, 21)
    ax.hist([f.osd.overlap_f for f in report.frames], bins=bins, alpha=0.7, label="overlap F")
    ax.hist([f.osd.boundary_f for f in report.frames], bins=bins, alpha=0.5, label="boundary F")
    ax.set_xlabel("per-frame F-measure")
    ax.set_ylabel("frames")
    ax.set_title(f"Per-frame F - {report.backend} ({len(report.frames)} frames)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def _plot_examples(report: EvalReport, path: Path) -> bool:
    if not report.examples:
        return False
    n = len(report.examples)
    h, w = report.examples[0].prediction.shape[:2]
    fig = _figure(8.0, 8.0 * n * h / (2 * w) + 0.4 * n)
    for row, ex in enumerate(report.examples):
        for col, (image, title) in enumerate(((ex.prediction, f"{ex.name}: prediction, "
                                               f"overlap F {100 * ex.overlap_f:.1f}%"),
                                              (ex.ground_truth, "ground truth"))):
            ax = fig.add_subplot(n, 2, 2 * row + col + 1)
            ax.imshow(image)
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path)
    return True


def write_report(reports: Mapping[str, EvalReport] | EvalReport, out_dir: str | Path, *,
                 dataset: str = "", plots: bool = True,
                 errors: Mapping[str, str] | None = None) -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and ``plots/*.png`` for one or more backends.

    Args:
        reports: one :class:`EvalReport`, or ``{label: report}`` to compare backends.
        out_dir: output folder (created).
        dataset: what was evaluated, for the headings.
        plots: draw the matplotlib figures (per-case F bars, per-frame F histogram, worst
            frames); with several backends also one per-case bar chart comparing them.
        errors: ``{label: message}`` of backends that could not be evaluated (listed).

    Returns:
        ``{"json": path, "markdown": path, <plot name>: path, ...}``.
    """
    if isinstance(reports, EvalReport):
        reports = {reports.backend: reports}
    reports = dict(reports)
    errors = dict(errors or {})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    plot_links: dict[str, dict[str, str]] = {name: {} for name in reports}
    if plots and reports:
        (out / "plots").mkdir(exist_ok=True)
        for name, r in reports.items():
            stem = _safe(name)
            for kind, draw in (("case_f", lambda p, r=r, n=name: _plot_cases({n: r}, p)),
                               ("frame_f_hist", lambda p, r=r: _plot_histogram(r, p)),
                               ("worst_frames", lambda p, r=r: _plot_examples(r, p))):
                path = out / "plots" / f"{stem}_{kind}.png"
                if draw(path) is not False:
                    written[f"{stem}_{kind}"] = path
                    plot_links[name][kind.replace("_", " ")] = f"plots/{path.name}"
        if len(reports) > 1:
            path = out / "plots" / "compare_case_f.png"
            _plot_cases(reports, path)
            written["compare_case_f"] = path

    summary = {"dataset": dataset, "backends": {n: r.to_dict() for n, r in reports.items()},
               "comparison": {n: _json_ready({k: r.overall.get(k, math.nan)
                                              for _, k, _ in _COMPARE_COLUMNS})
                              for n, r in reports.items()},
               "errors": errors}
    (out / "report.json").write_text(json.dumps(_json_ready(summary), indent=1))
    written["json"] = out / "report.json"

    first = next(iter(reports.values()), None)
    lines = [f"# Segmentation evaluation{': ' + dataset if dataset else ''}", ""]
    if first is not None:
        s = first.settings
        lines += [f"{s.get('num_frames', len(first.frames))} frames; protocol "
                  f"{protocol_description(s)}; 3D matches need "
                  f"mask IoU >= {s.get('match_iou')}; boundary tolerance "
                  f"{s.get('boundary_tolerance_px')} px. Fractions in %, centroid error in mm "
                  "(pipeline centroid vs. mean of the GT mask's depth points), box IoU against "
                  "the whole-object GT box, latencies "
                  + (f"from {s['timing_repeats']} more runs of every frame."
                     if s.get("timing_repeats") else "without the first frame."), ""]
    lines += ["## Per backend", ""]
    if reports:
        lines += [comparison_markdown(reports)]
    for name, message in errors.items():
        lines.append(f"- `{name}` failed: {message}")
    if errors:
        lines.append("")
    if "compare_case_f" in written:
        lines += ["![overlap F per case and backend](plots/compare_case_f.png)", ""]
    for name, r in reports.items():
        lines.append(r.to_markdown(plots=plot_links[name]))
    (out / "report.md").write_text("\n".join(lines))
    written["markdown"] = out / "report.md"
    return written
