#!/usr/bin/env python3
"""Time the yolo_seg backend on a 640x480 frame (prints ms/frame), not a test.

Without ``--weights`` it generates a stand-in YOLO-seg ONNX model with random
weights and the real output layout of a 640x640 YOLOv8/11-seg export (80
classes, 32 prototypes, 8400 anchors on strides 8/16/32, 160x160 prototypes).
Its convolutions are far lighter than yolo11n-seg's, so the inference time says
little; the pre- and post-processing times (letterbox, decoding, NMS, mask
assembly at frame resolution) are what the backend itself costs. Pass your own
export with ``--weights model.onnx`` to time a real model.

Usage:
    python scripts/bench_yolo_seg.py [--weights model.onnx] [--frames 50] [--device cpu]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seg_perception.frames import CameraIntrinsics, RGBDFrame  # noqa: E402
from seg_perception.segmenters.yolo_seg import build_yolo_seg  # noqa: E402
from seg_perception.segmenters.yolo_seg_standin import make_standin_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", type=Path, help="a YOLO-seg ONNX export (default: stand-in model)")
    parser.add_argument("--frames", type=int, default=50, help="timed frames")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--score-bias", type=float, default=-4.0,
                        help="stand-in model: logit bias of class scores (higher = more detections)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        weights = args.weights or make_standin_model(Path(tmp) / "standin.onnx",
                                                     score_bias=args.score_bias)
        seg = build_yolo_seg(weights=weights, device=args.device)
        rng = np.random.default_rng(0)
        rgb = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
        K = CameraIntrinsics(640, 480, 525.0, 525.0, 319.5, 239.5)
        frame = RGBDFrame.create(rgb, np.full((480, 640), 1000, np.uint16), K)
        for _ in range(args.warmup):
            seg.segment(frame)
        totals, parts = [], {"preprocess": [], "inference": [], "postprocess": []}
        n = 0
        for _ in range(args.frames):
            t = time.perf_counter()
            out = seg.segment(frame)
            totals.append((time.perf_counter() - t) * 1e3)
            for k in parts:
                parts[k].append(seg.last_timings_ms[k])
            n = len(out)
    print(f"model: {'stand-in (random weights)' if args.weights is None else weights}; "
          f"input {seg.input_size[1]}x{seg.input_size[0]}, {seg.num_classes} classes, "
          f"{seg.num_mask_coefficients} prototypes; providers {', '.join(seg.providers)}")
    print(f"frame 640x480, {n} instances per frame, {args.frames} frames")
    print(f"total      {statistics.median(totals):7.2f} ms/frame median "
          f"(mean {statistics.fmean(totals):.2f}, min {min(totals):.2f})")
    for k, v in parts.items():
        print(f"{k:<11}{statistics.median(v):7.2f} ms median")


if __name__ == "__main__":
    main()
