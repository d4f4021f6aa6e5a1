"""A stand-in YOLO-seg ONNX model: random weights, the real output layout.

The layout is that of a 640x640 YOLOv8/11-seg export (80 classes, 32 prototypes,
8400 anchors on strides 8/16/32, 160x160 prototypes), so the ``yolo_seg``
backend's pre- and post-processing (letterbox, decoding, NMS, mask assembly) run
as on a real model; the convolutions are far lighter than yolo11n-seg's. Used by
``seg-perception bench`` (the ``yolo_seg`` row, :mod:`seg_perception.benchmark.learned`)
to time the backend without downloading weights. Needs the ``onnx`` package.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["make_standin_model"]


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
