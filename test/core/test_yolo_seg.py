"""yolo_seg backend: decoding, NMS, letterbox, mask assembly and model checks on tiny ONNX graphs."""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from seg_perception.errors import ConfigError, WeightsError  # noqa: E402
from seg_perception.frames import CameraIntrinsics, RGBDFrame  # noqa: E402
from seg_perception.segmenters import (  # noqa: E402
    InstanceSegmenter,
    build_instance_segmenter,
    list_instance_segmenters,
)
from seg_perception.segmenters.yolo_seg import (  # noqa: E402
    batched_nms,
    build_yolo_seg,
    letterbox,
)

NAMES = {0: "cup", 1: "person", 2: "bottle"}
NM = 2  # mask coefficients in the hand-made models


# --------------------------------------------------------------------------- model builders

def _det(anchors: list[tuple], nc: int = 3, nm: int = NM) -> np.ndarray:
    """``float32[1, 4 + nc + nm, A]`` from ``(cx, cy, w, h, {class: score}, coeffs)`` tuples."""
    det = np.zeros((1, 4 + nc + nm, len(anchors)), np.float32)
    for a, (cx, cy, w, h, scores, coeffs) in enumerate(anchors):
        det[0, :4, a] = (cx, cy, w, h)
        for c, s in scores.items():
            det[0, 4 + c, a] = s
        det[0, 4 + nc:, a] = coeffs
    return det


def _save(graph: onnx.GraphProto, path: Path, metadata: dict[str, str] | None) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by any onnxruntime >= 1.10
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def const_model(path: Path, det: np.ndarray, protos: np.ndarray, *,
                input_shape: list = (1, 3, 640, 640), metadata: dict[str, str] | None = None,
                output_shapes: tuple[list, list] | None = None, protos_first: bool = False) -> Path:
    """A graph that ignores its image content and emits ``det`` (output0) and ``protos`` (output1).

    With a dynamic batch dimension both outputs are repeated once per input image.
    """
    if isinstance(input_shape[0], int):
        nodes = [helper.make_node("Constant", [], ["output0"], value=numpy_helper.from_array(det)),
                 helper.make_node("Constant", [], ["output1"], value=numpy_helper.from_array(protos))]
    else:
        def const(name: str, value: np.ndarray) -> onnx.NodeProto:
            return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value))

        nodes = [const("det", det), const("protos", protos),
                 const("ones2", np.ones(2, np.int64)), const("ones3", np.ones(3, np.int64)),
                 helper.make_node("Shape", ["images"], ["batch"], start=0, end=1),
                 helper.make_node("Concat", ["batch", "ones2"], ["rep3"], axis=0),
                 helper.make_node("Concat", ["batch", "ones3"], ["rep4"], axis=0),
                 helper.make_node("Tile", ["det", "rep3"], ["output0"]),
                 helper.make_node("Tile", ["protos", "rep4"], ["output1"])]
    s0, s1 = output_shapes or (list(det.shape), list(protos.shape))
    outs = [helper.make_tensor_value_info("output0", TensorProto.FLOAT, s0),
            helper.make_tensor_value_info("output1", TensorProto.FLOAT, s1)]
    if protos_first:
        outs.reverse()
    graph = helper.make_graph(
        nodes, "const_yolo_seg",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, list(input_shape))], outs)
    return _save(graph, path, metadata)


def frame(width: int, height: int, rgb: np.ndarray | None = None) -> RGBDFrame:
    K = CameraIntrinsics(width, height, 500.0, 500.0, (width - 1) / 2, (height - 1) / 2)
    if rgb is None:
        rgb = np.full((height, width, 3), 90, np.uint8)
    return RGBDFrame.create(rgb, np.full((height, width), 1000, np.uint16), K)


def full_protos(mh: int = 160, mw: int = 160, nm: int = NM) -> np.ndarray:
    """Prototype 0 is +10 everywhere (mask probability ~1 for coeffs (1, 0))."""
    protos = np.zeros((1, nm, mh, mw), np.float32)
    protos[0, 0] = 10.0
    return protos


ON = (1.0, 0.0)  # coefficients selecting prototype 0


# --------------------------------------------------------------------------- letterbox / NMS units

def test_letterbox_pads_non_square_frame_centred_with_grey():
    rgb = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    out, lb = letterbox(rgb, (640, 640))
    assert out.shape == (640, 640, 3) and out.dtype == np.uint8
    assert (lb.scale_x, lb.scale_y, lb.pad_x, lb.pad_y) == (1.0, 1.0, 0, 80)
    np.testing.assert_array_equal(out[80:560], rgb)
    assert (out[:80] == 114).all() and (out[560:] == 114).all()


def test_letterbox_downscales_and_maps_boxes_back():
    rgb = np.zeros((240, 640, 3), np.uint8)
    out, lb = letterbox(rgb, (320, 320))
    assert (lb.scale_x, lb.scale_y, lb.pad_x, lb.pad_y) == (0.5, 0.5, 0, 100)
    assert (out[:100] == 114).all() and (out[100:220] == 0).all() and (out[220:] == 114).all()
    boxes = lb.boxes_to_frame(np.array([[10.0, 110.0, 50.0, 150.0], [-5.0, 90.0, 400.0, 300.0]]))
    np.testing.assert_allclose(boxes, [[20, 20, 100, 100], [0, 0, 640, 240]])


def test_batched_nms_is_class_aware():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [50, 50, 60, 60]], float)
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    same = batched_nms(boxes, scores, np.array([0, 0, 0, 0]), 0.45)
    np.testing.assert_array_equal(same, [0, 3])
    different = batched_nms(boxes, scores, np.array([0, 1, 2, 0]), 0.45)
    np.testing.assert_array_equal(different, [0, 1, 2, 3])
    assert batched_nms(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int), 0.5).shape == (0,)


def test_batched_nms_matches_torchvision():
    torch = pytest.importorskip("torch")
    tv_ops = pytest.importorskip("torchvision.ops")
    rng = np.random.default_rng(3)
    xy = rng.uniform(-20, 200, (300, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 60, (300, 2))], axis=1)
    scores = rng.permutation(300) / 300.0  # distinct: the order of ties is not part of the contract
    classes = rng.integers(0, 4, 300)
    for iou in (0.3, 0.45, 0.7):
        ours = batched_nms(boxes, scores, classes, iou)
        ref = tv_ops.batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores),
                                 torch.from_numpy(classes), iou).numpy()
        np.testing.assert_array_equal(ours, ref)
        np.testing.assert_array_equal(batched_nms(boxes, scores, classes, iou, max_output=7), ref[:7])


# --------------------------------------------------------------------------- decoding

def test_boxes_map_back_exactly_through_the_letterbox(tmp_path):
    # 640x480 frame -> 640x640 input: pad 80 rows on top; boxes in input pixels.
    det = _det([(100, 180, 40, 60, {0: 0.9}, ON),      # frame (80, 70, 120, 130)
                (500, 400, 100, 40, {2: 0.8}, ON),     # frame (450, 300, 550, 340)
                (620, 100, 80, 80, {1: 0.7}, ON)])     # clipped: x2 660 -> 640, y1 60 -> 0
    seg = build_yolo_seg(weights=const_model(tmp_path / "m.onnx", det, full_protos(),
                                             metadata={"names": repr(NAMES)}))
    out = seg.segment(frame(640, 480))
    assert out.shape == (480, 640)
    np.testing.assert_array_equal(out.boxes, [[80, 70, 120, 130], [450, 300, 550, 340],
                                              [580, 0, 640, 60]])
    np.testing.assert_allclose(out.scores, [0.9, 0.8, 0.7], rtol=1e-6)
    np.testing.assert_array_equal(out.class_ids, [0, 2, 1])
    assert out.class_names == ("cup", "bottle", "person")
    assert out.masks.dtype == bool and out.scores.dtype == np.float32
    # all-on prototypes: each mask is exactly its (integer) box
    for mask, (x1, y1, x2, y2) in zip(out.masks, out.boxes.astype(int)):
        expected = np.zeros((480, 640), bool)
        expected[y1:y2, x1:x2] = True
        np.testing.assert_array_equal(mask, expected)


def test_boxes_scale_back_from_a_downscaled_input(tmp_path):
    det = _det([(160, 160, 64, 32, {0: 0.9}, ON)])  # input 320x320, frame 640x480: scale 0.5, pad_y 40
    seg = build_yolo_seg(weights=const_model(tmp_path / "m.onnx", det, full_protos(80, 80),
                                             input_shape=[1, 3, 320, 320]))
    out = seg.segment(frame(640, 480))
    np.testing.assert_allclose(out.boxes, [[256, 208, 384, 272]])
    assert out.masks[0].sum() == 128 * 64


def test_confidence_filter(tmp_path):
    det = _det([(100, 100, 20, 20, {0: 0.2}, ON), (300, 300, 20, 20, {0: 0.3}, ON),
                (500, 500, 20, 20, {1: 0.26, 0: 0.1}, ON)])
    path = const_model(tmp_path / "m.onnx", det, full_protos(), metadata={"names": repr(NAMES)})
    out = build_yolo_seg(weights=path).segment(frame(640, 640))
    np.testing.assert_allclose(out.scores, [0.3, 0.26], rtol=1e-6)
    assert out.class_names == ("cup", "person")  # the best class of each anchor
    assert len(build_yolo_seg(weights=path, conf_threshold=0.28).segment(frame(640, 640))) == 1
    assert len(build_yolo_seg(weights=path, conf_threshold=0.1).segment(frame(640, 640))) == 3


def test_nms_merges_same_class_and_keeps_different_classes(tmp_path):
    pair = [(100, 100, 60, 60, {0: 0.9}, ON), (104, 104, 60, 60, {0: 0.8}, ON)]  # IoU ~0.77
    same = build_yolo_seg(weights=const_model(tmp_path / "a.onnx", _det(pair), full_protos()))
    out = same.segment(frame(640, 640))
    assert len(out) == 1 and out.scores[0] == pytest.approx(0.9)
    np.testing.assert_array_equal(out.boxes, [[70, 70, 130, 130]])

    mixed = [pair[0], (104, 104, 60, 60, {1: 0.8}, ON)]
    out = build_yolo_seg(weights=const_model(tmp_path / "b.onnx", _det(mixed), full_protos())
                         ).segment(frame(640, 640))
    assert len(out) == 2 and sorted(out.class_ids.tolist()) == [0, 1]
    # iou_threshold is honoured: above the pair's IoU both same-class boxes survive
    loose = build_yolo_seg(weights=tmp_path / "a.onnx", iou_threshold=0.9)
    assert len(loose.segment(frame(640, 640))) == 2


def test_max_detections_keeps_the_best(tmp_path):
    anchors = [(40 + 60 * i, 100, 40, 40, {0: 0.3 + 0.05 * i}, ON) for i in range(8)]
    seg = build_yolo_seg(weights=const_model(tmp_path / "m.onnx", _det(anchors), full_protos()),
                         max_detections=3)
    out = seg.segment(frame(640, 640))
    np.testing.assert_allclose(out.scores, [0.65, 0.6, 0.55], rtol=1e-6)


# --------------------------------------------------------------------------- masks

def test_mask_is_the_prototype_region_cropped_to_the_box(tmp_path):
    # 320x240 frame -> 320x320 input (pad_y 40) -> 80x80 prototypes (4 input px each).
    protos = np.full((1, NM, 80, 80), -500.0, np.float32)  # far below exp()'s float32 range
    protos[0, 0, 20:40, 10:30] = 10.0           # input rows 80..160, cols 40..120
    protos[0, 1, 50:60, 50:70] = 10.0           # second object, prototype 1
    det = _det([
        (100, 100, 80, 80, {0: 0.9}, (1.0, 0.0)),   # box input (60..140, 60..140): cuts the region
        (240, 220, 200, 200, {1: 0.8}, (0.0, 1.0)),  # box covers all of prototype 1's region
    ])
    seg = build_yolo_seg(weights=const_model(tmp_path / "m.onnx", det, protos,
                                             input_shape=[1, 3, 320, 320]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings from the sigmoid
        out = seg.segment(frame(320, 240))
    assert len(out) == 2
    # Bilinear upsampling rounds a region's corners: the corner pixel reads 0.625**2 = 0.39 of
    # the inside (ultralytics' masks do the same). Edges, and edges cut by the box, are exact.
    first = np.zeros((240, 320), bool)
    # region rows 80..160 cols 40..120 (input) & box rows 60..140 cols 60..140, minus the pad of 40 rows
    first[40:100, 60:120] = True
    first[40, 119] = False  # the region's one corner inside the box
    np.testing.assert_array_equal(out.masks[0], first)
    second = np.zeros((240, 320), bool)
    second[200 - 40:240 - 40, 200:280] = True  # prototype rows 50..60 -> input 200..240
    second[[160, 160, 199, 199], [200, 279, 200, 279]] = False
    np.testing.assert_array_equal(out.masks[1], second)


def test_masks_are_thresholded_probabilities(tmp_path):
    protos = np.full((1, NM, 80, 80), -1.0, np.float32)
    protos[0, 0, :, :40] = 1.0   # probability sigmoid(1) = 0.73 on the left half, 0.27 on the right
    det = _det([(160, 160, 320, 320, {0: 0.9}, ON)])
    path = const_model(tmp_path / "m.onnx", det, protos, input_shape=[1, 3, 320, 320])
    left = np.zeros((320, 320), bool)
    left[:, :160] = True
    np.testing.assert_array_equal(build_yolo_seg(weights=path).segment(frame(320, 320)).masks[0], left)
    out = build_yolo_seg(weights=path, mask_threshold=0.2).segment(frame(320, 320))
    assert out.masks[0].all()
    empty = build_yolo_seg(weights=path, mask_threshold=0.8).segment(frame(320, 320))
    assert len(empty) == 0  # an instance whose mask is empty is dropped


def _passthrough_model(path: Path, det: np.ndarray, size: int = 320) -> Path:
    """Prototype 0 = mean red of each 4x4 input block (in [0, 1]); prototype 1 = 1.

    With coefficients (20, -10) a pixel is in the mask where the letterboxed
    input is mostly red, so the mask shows what the model was fed.
    """
    w = np.zeros((NM, 3, 4, 4), np.float32)
    w[0, 0] = 1.0 / 16.0  # channel 0 must be red: the input is RGB
    bias = np.array([0.0, 1.0], np.float32)
    nodes = [helper.make_node("Conv", ["images", "w", "b"], ["output1"], strides=[4, 4]),
             helper.make_node("Constant", [], ["output0"], value=numpy_helper.from_array(det))]
    graph = helper.make_graph(
        nodes, "passthrough",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(det.shape)),
         helper.make_tensor_value_info("output1", TensorProto.FLOAT, [1, NM, size // 4, size // 4])],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(bias, "b")])
    return _save(graph, path, None)


@pytest.mark.parametrize("width,height", [(320, 240), (640, 480), (240, 320)])
def test_mask_follows_the_image_through_letterbox_and_back(tmp_path, width, height):
    det = _det([(160, 160, 320, 320, {0: 0.9}, (20.0, -10.0))])
    seg = build_yolo_seg(weights=_passthrough_model(tmp_path / "p.onnx", det))
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:, :, 2] = 255                     # blue everywhere: off unless channels were swapped
    k = 8 if width > 320 else 4            # one prototype pixel = k frame pixels: exact edges
    y0, y1, x0, x1 = 3 * k, 11 * k, 5 * k, 19 * k
    rgb[y0:y1, x0:x1] = (255, 0, 0)
    out = seg.segment(frame(width, height, rgb))
    assert len(out) == 1
    red = rgb[:, :, 0] == 255
    # exact along the edges; only the corners, rounded by bilinear upsampling, may lose pixels
    rows, cols = np.mgrid[:height, :width]
    near_corner = np.zeros_like(red)
    for cy, cx in ((y0, x0), (y0, x1 - 1), (y1 - 1, x0), (y1 - 1, x1 - 1)):
        near_corner |= (abs(rows - cy) < k // 2) & (abs(cols - cx) < k // 2)
    np.testing.assert_array_equal(out.masks[0][~near_corner], red[~near_corner])
    assert not out.masks[0][~red].any()
    assert out.masks[0][near_corner].sum() >= near_corner.sum() / 2 - 4 * (k // 2) ** 2


# --------------------------------------------------------------------------- classes

def test_class_names_from_metadata_config_and_default(tmp_path):
    det = _det([(100, 100, 40, 40, {2: 0.9}, ON)])
    meta_path = const_model(tmp_path / "a.onnx", det, full_protos(), metadata={"names": repr(NAMES)})
    seg = build_yolo_seg(weights=meta_path)
    assert seg.class_names == ("cup", "person", "bottle") and seg.num_classes == 3
    assert seg.segment(frame(640, 640)).class_names == ("bottle",)
    assert build_yolo_seg(weights=meta_path, class_names=["a", "b", "c"]).class_names == ("a", "b", "c")
    bare = build_yolo_seg(weights=const_model(tmp_path / "b.onnx", det, full_protos()))
    assert bare.class_names == ("class_0", "class_1", "class_2")
    with pytest.raises(ConfigError, match="class_names has 2 names.*3 classes"):
        build_yolo_seg(weights=meta_path, class_names=["a", "b"])


def test_class_names_metadata_is_parsed_as_a_literal_only(tmp_path, monkeypatch):
    det = _det([(100, 100, 40, 40, {0: 0.9}, ON)])
    called = []
    monkeypatch.setattr("builtins.print", lambda *a, **k: called.append(a))
    evil = const_model(tmp_path / "evil.onnx", det, full_protos(),
                       metadata={"names": "print('pwned') or {0: 'a', 1: 'b', 2: 'c'}"})
    with pytest.raises(WeightsError, match="'names' metadata.*class_names"):
        build_yolo_seg(weights=evil)
    assert called == []
    # config names bypass broken metadata
    assert build_yolo_seg(weights=evil, class_names=["a", "b", "c"]).class_names == ("a", "b", "c")
    stale = const_model(tmp_path / "stale.onnx", det, full_protos(), metadata={"names": "{0: 'a'}"})
    with pytest.raises(WeightsError, match="1 classes but its output0 has 3"):
        build_yolo_seg(weights=stale)


def test_graspable_filter(tmp_path):
    det = _det([(100, 100, 40, 40, {0: 0.9}, ON), (300, 300, 40, 40, {1: 0.95}, ON),
                (500, 500, 40, 40, {2: 0.5}, ON)])
    path = const_model(tmp_path / "m.onnx", det, full_protos(), metadata={"names": repr(NAMES)})
    assert build_yolo_seg(weights=path, graspable_classes=["cup"]).segment(frame(640, 640)).class_names \
        == ("cup",)
    out = build_yolo_seg(weights=path, graspable_classes="bottle, cup").segment(frame(640, 640))
    assert out.class_names == ("cup", "bottle")
    with pytest.raises(ConfigError, match=r"\['mug'\] are not classes.*cup, person, bottle"):
        build_yolo_seg(weights=path, graspable_classes=["cup", "mug"])


# --------------------------------------------------------------------------- model checks and errors

def test_missing_or_unreadable_weights_raise_weights_error(tmp_path):
    with pytest.raises(WeightsError, match="do not exist.*yolo export"):
        build_yolo_seg(weights=tmp_path / "nope.onnx")
    with pytest.raises(WeightsError, match="needs an ONNX model.*instance_weights"):
        build_yolo_seg()
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a protobuf")
    with pytest.raises(WeightsError, match="cannot load .*junk.onnx"):
        build_yolo_seg(weights=junk)


def test_pt_checkpoint_without_ultralytics_says_how_to_export(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ultralytics", None)  # as if not installed
    pt = tmp_path / "yolo11n-seg.pt"
    pt.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="ultralytics is not installed.*yolo export.*onnx"):
        build_yolo_seg(weights=pt)


def test_wrong_layouts_are_refused_with_a_clear_error(tmp_path):
    det = _det([(100, 100, 40, 40, {0: 0.9}, ON)])
    # a detection-only model: one output
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["output0"], value=numpy_helper.from_array(det))], "det",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(det.shape))])
    with pytest.raises(WeightsError, match="YOLO-seg layout.*1 outputs.*detection-only"):
        build_yolo_seg(weights=_save(graph, tmp_path / "det.onnx", None))
    # prototypes flattened to rank 3
    with pytest.raises(WeightsError, match="rank 3 .*rank 4"):
        build_yolo_seg(weights=const_model(tmp_path / "r.onnx", det, full_protos(8, 8)[:, :, :, 0]))
    # more prototypes than channels leave room for
    with pytest.raises(WeightsError, match="no class scores"):
        build_yolo_seg(weights=const_model(tmp_path / "c.onnx", det, np.zeros((1, 5, 8, 8), np.float32)))
    # a detect-task export
    with pytest.raises(WeightsError, match="task='detect'"):
        build_yolo_seg(weights=const_model(tmp_path / "t.onnx", det, full_protos(),
                                           metadata={"task": "detect"}))
    # NMS inside the graph (nms=True, or an end2end model such as YOLO26)
    for meta in ({"args": "{'nms': True, 'imgsz': 640}"}, {"end2end": "True"}):
        with pytest.raises(WeightsError, match="already post-processed.*nms=False end2end=False"):
            build_yolo_seg(weights=const_model(tmp_path / "n.onnx", det, full_protos(), metadata=meta))
    # a single-channel input
    with pytest.raises(WeightsError, match="input 'images' has shape"):
        build_yolo_seg(weights=const_model(tmp_path / "g.onnx", det, full_protos(),
                                           input_shape=[1, 1, 640, 640]))
    # declared shapes that lie: caught on the first run
    lying = const_model(tmp_path / "l.onnx", det, full_protos(),
                        output_shapes=([1, "c", "a"], [1, "m", "h", "w"]))
    seg = build_yolo_seg(weights=lying)  # dynamic dims: learnt from a dry run, consistent here
    assert (seg.num_classes, seg.num_mask_coefficients) == (3, NM)


def test_output_order_does_not_matter(tmp_path):
    det = _det([(100, 180, 40, 60, {0: 0.9}, ON)])
    seg = build_yolo_seg(weights=const_model(tmp_path / "m.onnx", det, full_protos(), protos_first=True))
    np.testing.assert_array_equal(seg.segment(frame(640, 480)).boxes, [[80, 70, 120, 130]])


def test_bad_options_raise_config_error(tmp_path):
    path = const_model(tmp_path / "m.onnx", _det([(1, 1, 1, 1, {0: 0.9}, ON)]), full_protos())
    with pytest.raises(ConfigError, match="conf_threshold=1.5"):
        build_yolo_seg(weights=path, conf_threshold=1.5)
    with pytest.raises(ConfigError, match="imgsz=320 conflicts with the model's fixed input 640x640"):
        build_yolo_seg(weights=path, imgsz=320)
    with pytest.raises(ConfigError, match="device='tpu'"):
        build_yolo_seg(weights=path, device="tpu")
    with pytest.raises(ConfigError, match="not available"):
        build_yolo_seg(weights=path, providers=["NoSuchExecutionProvider"])


def test_device_falls_back_to_cpu_without_a_cuda_provider(tmp_path):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("onnxruntime has CUDA here: no fallback to observe")
    path = const_model(tmp_path / "m.onnx", _det([(1, 1, 1, 1, {0: 0.9}, ON)]), full_protos())
    seg = build_yolo_seg(weights=path, device="cuda")
    assert seg.device == "cpu" and seg.providers == ("CPUExecutionProvider",)


def test_dynamic_input_size_from_imgsz_or_metadata(tmp_path):
    det = _det([(160, 160, 64, 64, {0: 0.9}, ON)])
    path = const_model(tmp_path / "m.onnx", det, full_protos(80, 80),
                       input_shape=["batch", 3, "height", "width"],
                       output_shapes=(["batch", 4 + 3 + NM, "anchors"], ["batch", NM, "mh", "mw"]),
                       metadata={"imgsz": "[320, 320]", "stride": "32"})
    assert build_yolo_seg(weights=path).input_size == (320, 320)
    assert build_yolo_seg(weights=path, imgsz=[480, 640]).input_size == (480, 640)
    assert build_yolo_seg(weights=path, imgsz=300).input_size == (320, 320)  # up to the stride
    out = build_yolo_seg(weights=path).segment(frame(320, 320))
    np.testing.assert_array_equal(out.boxes, [[128, 128, 192, 192]])


# --------------------------------------------------------------------------- API, batches, real model

def test_registered_and_satisfies_the_protocol(tmp_path):
    assert "yolo_seg" in list_instance_segmenters()
    path = const_model(tmp_path / "m.onnx", _det([(100, 100, 40, 40, {0: 0.9}, ON)]), full_protos(),
                       metadata={"names": repr(NAMES)})
    seg = build_instance_segmenter("yolo_seg", weights=str(path), device="cpu")
    assert isinstance(seg, InstanceSegmenter)
    assert seg.name == "yolo_seg" and seg.device == "cpu" and seg.input_size == (640, 640)
    assert set(seg.last_timings_ms) == set()
    seg.segment(frame(160, 120))
    assert set(seg.last_timings_ms) == {"preprocess", "inference", "postprocess"}


@pytest.mark.parametrize("batch_dim", [1, "batch"])
def test_segment_batch_matches_segment(tmp_path, batch_dim):
    det = _det([(100, 180, 40, 60, {0: 0.9}, ON), (400, 300, 100, 100, {1: 0.6}, ON)])
    shapes = ([batch_dim, 4 + 3 + NM, 2], [batch_dim, NM, 160, 160])
    seg = build_yolo_seg(weights=const_model(tmp_path / "m.onnx", det, full_protos(),
                                             input_shape=[batch_dim, 3, 640, 640], output_shapes=shapes))
    frames = [frame(640, 480), frame(320, 320), frame(640, 640)]
    runs = []
    infer = seg._infer
    seg._infer = lambda x: (runs.append(x.shape[0]), infer(x))[1]
    batch = seg.segment_batch(frames)
    assert runs == ([1, 1, 1] if batch_dim == 1 else [3])  # a dynamic batch runs once
    assert len(batch) == 3 and seg.segment_batch([]) == []
    for f, got in zip(frames, batch):
        one = seg.segment(f)
        assert got.shape == (f.height, f.width)
        np.testing.assert_array_equal(got.boxes, one.boxes)
        np.testing.assert_array_equal(got.masks, one.masks)


def test_real_conv_model_runs_end_to_end(tmp_path):
    """A torch conv net with random weights, exported by torch, decodes like a reference."""
    torch = pytest.importorskip("torch")
    tv_ops = pytest.importorskip("torchvision.ops")
    nc, nm, size = 4, 8, 128

    class TinyYoloSeg(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = torch.nn.Conv2d(3, 16, 3, stride=4, padding=1)      # h/4: prototypes
            self.down = torch.nn.Conv2d(16, 16, 3, stride=2, padding=1)     # h/8: anchors
            self.box = torch.nn.Conv2d(16, 4, 1)
            self.cls = torch.nn.Conv2d(16, nc, 1)
            self.coef = torch.nn.Conv2d(16, nm, 1)
            self.proto = torch.nn.Conv2d(16, nm, 3, padding=1)

        def forward(self, x):
            f4 = torch.relu(self.stem(x))
            f8 = torch.relu(self.down(f4))
            n, _, h, w = f8.shape
            gy, gx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
            centre = (torch.stack([gx, gy]).float() + 0.5) * 8 + 4 * torch.tanh(self.box(f8)[:, :2])
            wh = 8 + 24 * torch.sigmoid(self.box(f8)[:, 2:])
            scores = torch.sigmoid(self.cls(f8) * 4)
            det = torch.cat([centre, wh, scores, self.coef(f8)], 1).flatten(2)
            return det, self.proto(f4)

    torch.manual_seed(0)
    net = TinyYoloSeg().eval()
    with torch.no_grad():  # random weights give near-zero mask logits: bias prototype 0 on
        net.proto.bias[0] = 4.0
        net.coef.bias[0] = 2.0
    path = tmp_path / "tiny.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, torch.zeros(1, 3, size, size), str(path), dynamo=False,
                          opset_version=17, input_names=["images"], output_names=["output0", "output1"])
    model = onnx.load(str(path))
    meta = model.metadata_props.add()
    meta.key, meta.value = "names", repr({i: f"obj{i}" for i in range(nc)})
    onnx.save(model, str(path))

    seg = build_yolo_seg(weights=path, conf_threshold=0.5, max_detections=50)
    assert (seg.num_classes, seg.num_mask_coefficients, seg.input_size) == (nc, nm, (size, size))
    rgb = np.random.default_rng(1).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    out = seg.segment(frame(160, 120, rgb))

    # reference: the torch net on the same letterboxed input, decoded with torchvision NMS
    img, lb = letterbox(rgb, (size, size))
    with torch.no_grad():
        det, _ = net(torch.from_numpy(img.transpose(2, 0, 1)[None].astype(np.float32) / 255))
    det = det[0].numpy()
    conf, cls = det[4:4 + nc].max(0), det[4:4 + nc].argmax(0)
    keep = np.flatnonzero(conf > 0.5)
    xyxy = np.concatenate([det[:2, keep] - det[2:4, keep] / 2, det[:2, keep] + det[2:4, keep] / 2]).T
    kept = tv_ops.batched_nms(torch.from_numpy(xyxy), torch.from_numpy(conf[keep]),
                              torch.from_numpy(cls[keep]), 0.45).numpy()[:50]
    ref_boxes = lb.boxes_to_frame(xyxy[kept])
    # boxes that hold no pixel centre of the frame (in the padding) have empty masks: dropped
    centres = np.ceil(ref_boxes - 0.5)
    inside = (centres[:, 2] > centres[:, 0]) & (centres[:, 3] > centres[:, 1])
    assert inside.sum() >= 10 and len(out) == inside.sum()  # with those biases no other mask is empty
    np.testing.assert_allclose(out.boxes, ref_boxes[inside], atol=1e-3)
    np.testing.assert_allclose(out.scores, conf[keep][kept][inside], atol=1e-5)
    np.testing.assert_array_equal(out.class_ids, cls[keep][kept][inside])
    for mask, (x1, y1, x2, y2) in zip(out.masks, out.boxes):  # masks stay inside their boxes
        ys, xs = np.nonzero(mask)
        assert xs.min() >= np.floor(x1) and xs.max() < np.ceil(x2)
        assert ys.min() >= np.floor(y1) and ys.max() < np.ceil(y2)
    assert out.masks.shape == (len(out), 120, 160) and (np.diff(out.scores) <= 0).all()


def test_the_standin_model_has_the_layout_of_a_yolov8_seg_export(tmp_path: Path) -> None:
    from seg_perception.segmenters.yolo_seg_standin import make_standin_model

    seg = build_yolo_seg(weights=make_standin_model(tmp_path / "standin.onnx"), device="cpu")
    assert seg.input_size == (640, 640)
    assert (seg.num_classes, seg.num_mask_coefficients) == (80, 32)
