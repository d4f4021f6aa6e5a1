#!/usr/bin/env python3
"""Measure the geometric segmenter on real RGB-D tabletop frames (OSD protocol).

Runs ``build_instance_segmenter("geometric")`` on every frame of an osd_learn
style folder (``frames.json`` + ``*_rgb.png``, ``*_depth.png`` uint16 mm,
``*_label.png`` uint16 instances) and prints per-frame and mean overlap and
boundary precision / recall / F-measure (Xie et al., UOIS) and the percentage
of objects with F >= 0.75. Pixels without depth are ignored. Optionally
times each stage and writes overlay PNGs.

Usage:
    python scripts/eval_osd_real.py [DATA_DIR] [--repeat 5] [--overlays /tmp/osd]

``DATA_DIR`` defaults to ``../shared/data/osd_learn`` relative to the repository.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from seg_perception.frames import CameraIntrinsics, RGBDFrame  # noqa: E402
from seg_perception.metrics.osd import osd_metrics  # noqa: E402
from seg_perception.results import InstanceMasks  # noqa: E402
from seg_perception.segmenters import build_instance_segmenter, build_semantic_segmenter  # noqa: E402
from seg_perception.segmenters.geometric import analyse_scene  # noqa: E402


def load_frames(root: Path) -> list[dict]:
    """``[{name, frame, label}]`` from an osd_learn style folder."""
    import cv2

    meta = json.loads((root / "frames.json").read_text())
    out = []
    for m in meta["frames"]:
        bgr = cv2.imread(str(root / m["rgb"]), cv2.IMREAD_COLOR)
        depth = cv2.imread(str(root / m["depth"]), cv2.IMREAD_UNCHANGED)
        label = cv2.imread(str(root / m["label"]), cv2.IMREAD_UNCHANGED)
        if bgr is None or depth is None or label is None:
            raise FileNotFoundError(f"cannot read the images of frame {m['name']} in {root}")
        K = CameraIntrinsics(int(m["width"]), int(m["height"]), float(m["fx"]), float(m["fy"]),
                             float(m["cx"]), float(m["cy"]))
        frame = RGBDFrame.create(bgr[:, :, ::-1], depth, K, depth_scale=float(m["depth_scale"]))
        out.append({"name": m["name"], "frame": frame, "label": label.astype(np.uint16)})
    return out


def baseline_labels(frame: RGBDFrame, seg, tolerance: float = 0.02,  # noqa: ANN001
                    min_points: int = 50) -> np.ndarray:
    """``uint16[H, W]`` labels of the classic tabletop pipeline (PCL/Open3D tutorials):
    the same support plane, then Euclidean clusters of all points above it."""
    from seg_perception.geometry.cluster import euclidean_clusters
    from seg_perception.geometry.projection import depth_to_points

    analysis = analyse_scene(frame, seg.config)
    labels = np.zeros(frame.depth.shape, np.uint16)
    if analysis.plane is None:
        return labels
    cfg = seg.config
    points, pixels = depth_to_points(frame.depth, frame.intrinsics)
    height = analysis.plane.signed_distance(points)
    tol = np.maximum(cfg.min_height, cfg.noise_k * cfg.sigma(points[:, 2]))
    above = (height > tol) & (height < cfg.max_height)
    cluster = euclidean_clusters(points[above], tolerance=tolerance, min_points=min_points)
    labels.reshape(-1)[pixels[above]] = (cluster + 1).astype(np.uint16)
    return labels


def _overlay(rgb: np.ndarray, pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(3)
    palette = rng.integers(40, 255, (256, 3)).astype(np.uint8)
    palette[0] = 0

    def paint(labels: np.ndarray) -> np.ndarray:
        img = (0.45 * rgb + 0.55 * palette[labels % 256]).astype(np.uint8)
        img[labels == 0] = (0.5 * rgb[labels == 0]).astype(np.uint8)
        for lab in np.unique(labels[labels > 0]):
            contours, _ = cv2.findContours((labels == lab).astype(np.uint8), cv2.RETR_EXTERNAL,
                                           cv2.CHAIN_APPROX_NONE)
            cv2.drawContours(img, contours, -1, (255, 255, 255), 1)
        return img

    return np.concatenate([paint(pred), paint(gt)], axis=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", nargs="?",
                        default=str(REPO.parent / "shared" / "data" / "osd_learn"),
                        help="folder with frames.json (default: ../shared/data/osd_learn)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="timing runs per frame (the first, cold, run is not timed)")
    parser.add_argument("--overlays", default="", help="write prediction|GT overlay PNGs here")
    parser.add_argument("--no-layout", action="store_true", help="do not time the layout stage")
    parser.add_argument("--baseline", action="store_true",
                        help="score the classic baseline instead: RANSAC plane + Euclidean "
                             "clustering of the points above it (2 cm voxel connectivity)")
    args = parser.parse_args(argv)

    root = Path(args.data)
    if not (root / "frames.json").is_file():
        print(f"no frames.json in {root}: pass the osd_learn folder as the first argument",
              file=sys.stderr)
        return 2
    frames = load_frames(root)
    seg = build_instance_segmenter("geometric")
    layout = None if args.no_layout else build_semantic_segmenter("geometric_layout")

    rows = []
    print(f"{'frame':<14} {'objs':>4} {'pred':>4}  {'ovP':>5} {'ovR':>5} {'ovF':>5}  "
          f"{'bdP':>5} {'bdR':>5} {'bdF':>5}  {'%F75':>5}")
    for item in frames:
        frame, gt = item["frame"], item["label"]
        if args.baseline:
            pred = baseline_labels(frame, seg)
            masks = InstanceMasks.from_label_image(pred)
        else:
            seg.reset()  # independent frames, not a stream: no support plane carried over
            masks, _ = seg.segment_with_plane(frame)
            pred = masks.label_image()
        r = osd_metrics(pred, gt, ignore=frame.depth == 0)
        rows.append(r)
        print(f"{item['name']:<14} {r.obj_gt:>4} {len(masks):>4}  {100 * r.overlap_precision:5.1f} "
              f"{100 * r.overlap_recall:5.1f} {100 * r.overlap_f:5.1f}  "
              f"{100 * r.boundary_precision:5.1f} {100 * r.boundary_recall:5.1f} "
              f"{100 * r.boundary_f:5.1f}  {100 * r.obj_detected_075_percentage:5.1f}")
        if args.overlays:
            import cv2

            out = Path(args.overlays)
            out.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(out / f"{item['name']}.png"),
                        _overlay(frame.rgb, pred, gt)[:, :, ::-1])

    def mean(attr: str) -> float:
        return 100 * float(np.mean([getattr(r, attr) for r in rows]))

    n_obj = sum(r.obj_gt for r in rows)
    n_075 = sum(r.obj_detected_075 for r in rows)
    print(f"{'mean':<14} {n_obj:>4} {'':>4}  {mean('overlap_precision'):5.1f} "
          f"{mean('overlap_recall'):5.1f} {mean('overlap_f'):5.1f}  "
          f"{mean('boundary_precision'):5.1f} {mean('boundary_recall'):5.1f} "
          f"{mean('boundary_f'):5.1f}  {mean('obj_detected_075_percentage'):5.1f}")
    print(f"objects with F >= 0.75 (pooled): {n_075}/{n_obj} = {100 * n_075 / max(n_obj, 1):.1f} %")

    if args.repeat > 0 and not args.baseline:
        stages: dict[str, list[float]] = {}
        for item in frames:
            for rep in range(args.repeat + 1):
                # New frame object each run, so the per-frame analysis cache does not hide work.
                f0 = item["frame"]
                frame = RGBDFrame(f0.rgb, f0.depth, f0.intrinsics)
                t0 = time.perf_counter()
                analysis = analyse_scene(frame, seg.config)
                ta = time.perf_counter()
                masks, plane = seg.segment_with_plane(frame)
                t1 = time.perf_counter()
                if layout is not None:
                    layout.segment_with_plane(frame, plane)
                t2 = time.perf_counter()
                if rep == 0:
                    continue
                for k, v in analysis.timings_ms.items():
                    stages.setdefault(k, []).append(v)
                stages.setdefault("to_full_res", []).append((t1 - ta) * 1e3)
                stages.setdefault("instance_total", []).append((t1 - t0) * 1e3)
                if layout is not None:
                    stages.setdefault("layout", []).append((t2 - t1) * 1e3)
                stages.setdefault("instance+layout", []).append((t2 - t0) * 1e3)
        w, h = frames[0]["frame"].width, frames[0]["frame"].height
        print(f"\ntiming at {w}x{h}, {len(frames)} frames x {args.repeat} runs (ms; min shows the "
              "cost without interference from other processes):")
        print(f"  {'stage':<16} {'median':>7} {'min':>7} {'p90':>7}")
        for k, v in stages.items():
            print(f"  {k:<16} {np.median(v):7.2f} {np.min(v):7.2f} {np.percentile(v, 90):7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
