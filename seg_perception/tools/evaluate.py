"""`seg-perception eval`: score segmentation on a labelled RGB-D dataset.

    seg-perception eval data/sim_val --out out/eval                      # COCO RGB-D folder
    seg-perception eval ../shared/data/osd_dev --format osd --out out/eval_osd_dev  # frames.json
    seg-perception eval data/sim_val --compare geometric,maskrcnn \\
        --weights maskrcnn=models/maskrcnn.safetensors --out out/compare
    seg-perception eval ../shared/data/osd_dev --compare geometric,tabletop_baseline \\
        --timing-repeats 3 --overlays --out out/eval_osd_dev

Writes ``report.json``, ``report.md`` (overall, per case, per backend tables) and
``plots/`` (per-case F bars, per-frame F histogram, worst frames); with ``--overlays``
also ``overlays/<backend>/<frame>.png``. Scoring follows the published OSD / OCID
protocol unless ``--ignore-gt-without-depth`` asks for the older, lenient one; every
report names its protocol. Metrics are described in :mod:`seg_perception.evaluation`.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

from ..config import PipelineConfig
from ._common import add_pipeline_arguments, pipeline_config_from_args

__all__ = ["BASELINE", "TabletopBaseline", "add_arguments", "default_min_segment_depth",
           "detect_format", "iter_samples", "run"]

FORMATS = ("auto", "coco", "osd")
BASELINE = "tabletop_baseline"  # a --compare name that is not a registered backend


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", help="COCO RGB-D folder (annotations.json, from "
                        "`seg-perception export-dataset`) or a frames.json folder "
                        "(e.g. ../shared/data/osd_dev)")
    parser.add_argument("--format", choices=FORMATS, default="auto",
                        help="dataset format; auto: annotations.json -> coco, frames.json -> osd")
    parser.add_argument("--annotations", default="annotations.json",
                        help="COCO annotation file inside the dataset folder")
    parser.add_argument("--out", default="out/eval", help="output folder")
    parser.add_argument("--max-frames", type=int, default=None, help="evaluate the first N frames")
    parser.add_argument("--compare", default="",
                        help="comma-separated instance backends to evaluate on the same frames, "
                        f"e.g. geometric,maskrcnn; {BASELINE} is the classic tabletop "
                        "baseline (support plane, then 2 cm Euclidean clusters above it)")
    parser.add_argument("--weights", action="append", default=[], metavar="NAME=PATH",
                        help="weights of a compared backend (repeatable)")
    parser.add_argument("--match-iou", type=float, default=0.5,
                        help="mask IoU a prediction needs to match a GT object (3D metrics)")
    parser.add_argument("--examples", type=int, default=6,
                        help="number of worst frames drawn in plots/*_worst_frames.png")
    parser.add_argument("--ignore-gt-without-depth", action="store_true",
                        help="older, lenient scoring, NOT the published protocol: drop pixels "
                        "without depth from ground truth and prediction before scoring (the "
                        "report says so). Default: ground truth scored in full")
    parser.add_argument("--min-segment-depth", type=float, default=None, metavar="FRACTION",
                        help="published protocol: predicted segments with less than this share "
                        "of pixels with depth are removed before scoring, as UCN's evaluation "
                        "does. Default: 0.8 for frames.json folders (UCN's OSD value), 0.5 for "
                        "COCO exports (UCN's OCID value: the simulated sensor, like OCID's, "
                        "leaves many object pixels without depth); 0 keeps every segment")
    parser.add_argument("--timing-repeats", type=int, default=0, metavar="N",
                        help="process every frame N more times and take the timings from "
                        "those runs (new frame objects, so no cache hides work); min = the "
                        "cost without interference from other processes")
    parser.add_argument("--overlays", action="store_true",
                        help="write prediction | ground truth pictures of every frame to "
                        "OUT/overlays/<backend>/")
    parser.add_argument("--no-plots", action="store_true", help="write report.json/.md only")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_pipeline_arguments(parser)


def default_min_segment_depth(fmt: str) -> float:
    """UCN's threshold for the dataset kind: OSD's for frames.json folders, OCID's for
    simulated COCO exports (sensor depth with holes inside objects, as in OCID)."""
    from ..metrics.osd import OCID_MIN_SEGMENT_DEPTH, OSD_MIN_SEGMENT_DEPTH

    return OSD_MIN_SEGMENT_DEPTH if fmt == "osd" else OCID_MIN_SEGMENT_DEPTH


def detect_format(path: Path, annotations: str = "annotations.json") -> str:
    """``"coco"`` or ``"osd"`` from the files in ``path``; SystemExit with a hint otherwise."""
    if (path / annotations).is_file():
        return "coco"
    if (path / "frames.json").is_file():
        return "osd"
    raise SystemExit(f"cannot tell the format of {path}: it has neither {annotations} (COCO RGB-D, "
                     "see `seg-perception export-dataset`) nor frames.json (labelled folder); "
                     "pass --format")


def iter_samples(path: Path, fmt: str, annotations: str = "annotations.json") -> Any:
    """The dataset's samples: a :class:`CocoRGBDDataset` (sized) or an iterator of
    :class:`~seg_perception.io.LabeledFrame`."""
    if fmt == "auto":
        fmt = detect_format(path, annotations)
    if fmt == "coco":
        from ..sim.dataset import CocoRGBDDataset
        return CocoRGBDDataset(path, annotations)
    return _LabeledFolder(path)


class _LabeledFolder:
    """A labelled folder with a length (for the progress bar), read lazily each pass."""

    def __init__(self, path: Path) -> None:
        import json

        from ..io import iter_labeled_folder

        self._iter = iter_labeled_folder
        self._path = path
        frames_json = path / "frames.json"
        if not frames_json.is_file():
            raise SystemExit(f"{frames_json} does not exist: is {path} a labelled folder?")
        self._len = len(json.loads(frames_json.read_text()).get("frames", []))

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[Any]:
        return self._iter(self._path)


class TabletopBaseline:
    """The classic tabletop pipeline (PCL / Open3D tutorials) as an instance segmenter, for
    comparison: the geometric segmenter's support plane, then Euclidean clusters of the
    points between its noise band and ``max_height`` above it.

    Args:
        tolerance: cluster distance in metres (PCL's tutorial uses 2 cm).
        min_points: smaller clusters are noise.
    """

    name = BASELINE

    def __init__(self, tolerance: float = 0.02, min_points: int = 50) -> None:
        from ..segmenters import build_instance_segmenter

        self.config = build_instance_segmenter("geometric").config
        self.tolerance = tolerance
        self.min_points = min_points

    def segment_with_plane(self, frame: Any) -> tuple[Any, Any]:
        import numpy as np

        from ..geometry.cluster import euclidean_clusters
        from ..geometry.projection import depth_to_points
        from ..results import InstanceMasks
        from ..segmenters.geometric import analyse_scene

        cfg = self.config
        plane = analyse_scene(frame, cfg).plane
        if plane is None:
            return InstanceMasks.empty(frame.height, frame.width), None
        points, pixels = depth_to_points(frame.depth, frame.intrinsics)
        height = plane.signed_distance(points)
        above = ((height > np.maximum(cfg.min_height, cfg.noise_k * cfg.sigma(points[:, 2])))
                 & (height < cfg.max_height))
        cluster = euclidean_clusters(points[above], tolerance=self.tolerance,
                                     min_points=self.min_points)
        labels = np.zeros(frame.height * frame.width, np.uint16)
        labels[pixels[above]] = (cluster + 1).astype(np.uint16)  # noise (-1) -> background
        return InstanceMasks.from_label_image(labels.reshape(frame.height, frame.width)), plane


def _parse_weights(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"--weights {item!r}: expected NAME=PATH, e.g. "
                             "maskrcnn=model.safetensors")
        out[name.strip()] = path.strip()
    return out


def _configs(args: argparse.Namespace) -> dict[str, PipelineConfig]:
    """``{label: config}`` of every pipeline to evaluate."""
    # Dataset frames are independent scenes: tracking would only add time.
    base = pipeline_config_from_args(args, tracking=False)
    weights = _parse_weights(args.weights)
    names = [n.strip() for n in args.compare.split(",") if n.strip()]
    if not names:
        if weights and base.instance_backend in weights:
            base = replace(base, instance_weights=weights[base.instance_backend])
        return {base.instance_backend: base}
    unknown = sorted(set(weights) - set(names))
    if unknown:
        raise SystemExit(f"--weights for {', '.join(unknown)}, which --compare does not list")
    configs = {}
    for name in names:
        own = base.instance_weights if name == base.instance_backend else ""
        backend = "geometric" if name == BASELINE else name  # the baseline replaces it
        configs[name] = replace(base, instance_backend=backend,
                                instance_weights=weights.get(name, own))
    return configs


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def run(args: argparse.Namespace) -> int:
    from ..evaluation import evaluate_dataset, protocol_description, write_report
    from ..pipeline import Pipeline

    path = Path(args.dataset)
    if not path.is_dir():
        raise SystemExit(f"{path} is not a folder")
    configs = _configs(args)  # argument errors first, before any file is read
    fmt = detect_format(path, args.annotations) if args.format == "auto" else args.format
    min_depth = (default_min_segment_depth(fmt) if args.min_segment_depth is None
                 else args.min_segment_depth)
    if not 0.0 <= min_depth <= 1.0:
        raise SystemExit(f"--min-segment-depth {min_depth}: expected a share in [0, 1], "
                         "e.g. 0.8")
    if args.timing_repeats < 0:
        raise SystemExit(f"--timing-repeats {args.timing_repeats}: expected 0 or more")
    samples = iter_samples(path, fmt, args.annotations)
    reports, errors = {}, {}
    for label, config in configs.items():
        if not args.quiet:
            print(f"[eval] {label}: {path} ({fmt})", file=sys.stderr)
        try:
            pipeline = (Pipeline(config, instance_segmenter=TabletopBaseline())
                        if label == BASELINE else Pipeline(config))
            overlays = Path(args.out) / "overlays" / _safe_name(label) if args.overlays else None
            reports[label] = evaluate_dataset(
                pipeline, samples, ignore_gt_without_depth=args.ignore_gt_without_depth,
                min_segment_depth=min_depth, progress=not args.quiet, match_iou=args.match_iou,
                num_examples=args.examples, max_frames=args.max_frames,
                timing_repeats=args.timing_repeats, overlay_dir=overlays)
        except Exception as exc:  # noqa: BLE001 - one broken backend must not hide the others
            if len(configs) == 1:
                raise
            errors[label] = f"{type(exc).__name__}: {exc}"
            print(f"[eval] {label} failed: {errors[label]}", file=sys.stderr)
    written = write_report(reports, args.out, dataset=f"{path} ({fmt})", plots=not args.no_plots,
                           errors=errors)
    if reports:
        print(f"protocol: {protocol_description(next(iter(reports.values())).settings)}")
    for label, r in reports.items():
        o = r.overall
        print(f"{label}: frames={int(o['num_frames'])} AP={o['AP']:.3f} AP50={o['AP50']:.3f} "
              f"overlap F={o['overlap_f']:.3f} boundary F={o['boundary_f']:.3f} "
              f"F>0.75={o['obj_detected_075_percentage']:.3f} "
              f"centroid err={1000 * o['centroid_error_mean_m']:.1f} mm "
              f"p50={o['latency_p50_ms']:.1f} ms")
        if len(r.per_case) > 1:  # where it fails matters more than the mean
            for case, m in r.per_case.items():
                print(f"  {case:<14} frames={int(m['num_frames']):<4} "
                      f"overlap F={m['overlap_f']:.3f} boundary F={m['boundary_f']:.3f} "
                      f"F>0.75={m['obj_detected_075_percentage']:.3f}")
    print(f"wrote {written['markdown']} and {written['json']}")
    return 1 if errors else 0
