"""`seg-perception eval`: score segmentation on a labelled RGB-D dataset.

    seg-perception eval data/sim_val --out out/eval                      # COCO RGB-D folder
    seg-perception eval /data/osd_learn --format osd --out out/eval_osd  # frames.json folder
    seg-perception eval data/sim_val --compare geometric,maskrcnn \\
        --weights maskrcnn=models/maskrcnn.safetensors --out out/compare

Writes ``report.json``, ``report.md`` (overall, per case, per backend tables) and
``plots/`` (per-case F bars, per-frame F histogram, worst frames). Metrics are
described in :mod:`seg_perception.evaluation`.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

from ..config import PipelineConfig
from ._common import add_pipeline_arguments, pipeline_config_from_args

__all__ = ["add_arguments", "detect_format", "iter_samples", "run"]

FORMATS = ("auto", "coco", "osd")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", help="COCO RGB-D folder (annotations.json, from "
                        "`seg-perception export-dataset`) or a frames.json folder "
                        "(osd_learn format)")
    parser.add_argument("--format", choices=FORMATS, default="auto",
                        help="dataset format; auto: annotations.json -> coco, frames.json -> osd")
    parser.add_argument("--annotations", default="annotations.json",
                        help="COCO annotation file inside the dataset folder")
    parser.add_argument("--out", default="out/eval", help="output folder")
    parser.add_argument("--max-frames", type=int, default=None, help="evaluate the first N frames")
    parser.add_argument("--compare", default="",
                        help="comma-separated instance backends to evaluate on the same frames, "
                        "e.g. geometric,maskrcnn")
    parser.add_argument("--weights", action="append", default=[], metavar="NAME=PATH",
                        help="weights of a compared backend (repeatable)")
    parser.add_argument("--match-iou", type=float, default=0.5,
                        help="mask IoU a prediction needs to match a GT object (3D metrics)")
    parser.add_argument("--examples", type=int, default=6,
                        help="number of worst frames drawn in plots/*_worst_frames.png")
    parser.add_argument("--keep-invalid-depth", action="store_true",
                        help="score pixels without depth too (default: ignore them, the "
                        "OSD convention)")
    parser.add_argument("--no-plots", action="store_true", help="write report.json/.md only")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_pipeline_arguments(parser)


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
        configs[name] = replace(base, instance_backend=name,
                                instance_weights=weights.get(name, own))
    return configs


def run(args: argparse.Namespace) -> int:
    from ..evaluation import evaluate_dataset, write_report
    from ..pipeline import Pipeline

    path = Path(args.dataset)
    if not path.is_dir():
        raise SystemExit(f"{path} is not a folder")
    configs = _configs(args)  # argument errors first, before any file is read
    fmt = detect_format(path, args.annotations) if args.format == "auto" else args.format
    samples = iter_samples(path, fmt, args.annotations)
    reports, errors = {}, {}
    for label, config in configs.items():
        if not args.quiet:
            print(f"[eval] {label}: {path} ({fmt})", file=sys.stderr)
        try:
            pipeline = Pipeline(config)
            reports[label] = evaluate_dataset(
                pipeline, samples, ignore_invalid_depth=not args.keep_invalid_depth,
                progress=not args.quiet, match_iou=args.match_iou, num_examples=args.examples,
                max_frames=args.max_frames)
        except Exception as exc:  # noqa: BLE001 - one broken backend must not hide the others
            if len(configs) == 1:
                raise
            errors[label] = f"{type(exc).__name__}: {exc}"
            print(f"[eval] {label} failed: {errors[label]}", file=sys.stderr)
    written = write_report(reports, args.out, dataset=f"{path} ({fmt})", plots=not args.no_plots,
                           errors=errors)
    for label, r in reports.items():
        o = r.overall
        print(f"{label}: frames={int(o['num_frames'])} AP={o['AP']:.3f} AP50={o['AP50']:.3f} "
              f"overlap F={o['overlap_f']:.3f} boundary F={o['boundary_f']:.3f} "
              f"F>0.75={o['obj_detected_075_percentage']:.3f} "
              f"centroid err={1000 * o['centroid_error_mean_m']:.1f} mm "
              f"p50={o['latency_p50_ms']:.1f} ms")
    print(f"wrote {written['markdown']} and {written['json']}")
    return 1 if errors else 0
