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


def make_standin_model(path: Path, nc: int = 80, nm: int = 32, size: int = 640,
                       score_bias: float = -4.0, seed: int = 0) -> Path:
    """Write a random-weight conv net with the YOLO-seg output layout to ``path``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits: list = []
    nodes: list = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def conv(x: str, cin: int, cout: int, k: int, stride: int, name: str, relu: bool = True) -> str:
        w = rng.normal(0, np.sqrt(2.0 / (cin * k * k)), (cout, cin, k, k)).astype(np.float32)
        nodes.append(helper.make_node("Conv", [x, const(f"{name}_w", w),
                                               const(f"{name}_b", np.zeros(cout, np.float32))],
                                      [f"{name}_c"], strides=[stride, stride], pads=[k // 2] * 4))
        if not relu:
            return f"{name}_c"
        nodes.append(helper.make_node("Relu", [f"{name}_c"], [name]))
        return name

    x = conv("images", 3, 16, 3, 2, "s2")      # 320
    p2 = conv(x, 16, 32, 3, 2, "s4")            # 160: prototype level
    p3 = conv(p2, 32, 64, 3, 2, "s8")           # 80
    p4 = conv(p3, 64, 64, 3, 2, "s16")          # 40
    p5 = conv(p4, 64, 64, 3, 2, "s32")          # 20
    channels = 4 + nc + nm
    flat = []
    for name, feat in (("h8", p3), ("h16", p4), ("h32", p5)):
        head = conv(feat, 64, channels, 1, 1, name, relu=False)
        shape = const(f"{name}_shape", np.array([1, channels, -1]))
        nodes.append(helper.make_node("Reshape", [head, shape], [f"{name}_flat"]))
        flat.append(f"{name}_flat")
    nodes.append(helper.make_node("Concat", flat, ["raw"], axis=2))
    nodes.append(helper.make_node("Split", ["raw", const("split", np.array([4, nc, nm]))],
                                  ["box_raw", "cls_raw", "coef"], axis=1))
    # boxes: anywhere in the input, 16..144 px; scores: biased low so few anchors pass
    scale = np.array([size, size, 128, 128], np.float32).reshape(1, 4, 1)
    offset = np.array([0, 0, 16, 16], np.float32).reshape(1, 4, 1)
    nodes += [helper.make_node("Sigmoid", ["box_raw"], ["box_s"]),
              helper.make_node("Mul", ["box_s", const("box_scale", scale)], ["box_m"]),
              helper.make_node("Add", ["box_m", const("box_off", offset)], ["box"]),
              helper.make_node("Add", ["cls_raw", const("cls_bias", np.float32(score_bias))], ["cls_b"]),
              helper.make_node("Sigmoid", ["cls_b"], ["cls"]),
              helper.make_node("Concat", ["box", "cls", "coef"], ["output0"], axis=1)]
    proto = conv(p2, 32, 32, 3, 1, "proto_hidden")
    conv(proto, 32, nm, 1, 1, "output1", relu=False)
    nodes.append(helper.make_node("Identity", ["output1_c"], ["output1"]))
    anchors = (size // 8) ** 2 + (size // 16) ** 2 + (size // 32) ** 2
    graph = helper.make_graph(
        nodes, "standin_yolo_seg",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, channels, anchors]),
         helper.make_tensor_value_info("output1", TensorProto.FLOAT, [1, nm, size // 4, size // 4])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in (("names", repr({i: f"class{i}" for i in range(nc)})), ("task", "segment"),
                       ("stride", "32"), ("imgsz", f"[{size}, {size}]")):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


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
