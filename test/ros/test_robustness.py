"""Bad input and faults over DDS: the frame is skipped with a reason, the node keeps going.

Against the default configuration (``workers`` auto: worker processes), one node
for the module: each case sends a good frame first and checks the node recovers
after it, so the cases do not depend on each other. A model that raises is
tested inside a worker process (an ONNX model failing in onnxruntime) and in
the in-process pipeline (``workers=1``, a registered test backend).
"""
from __future__ import annotations

import json
import time

import numpy as np
import pytest
from rcl_interfaces.msg import Log
from rclpy.parameter import Parameter

from seg_perception.parallel import ParallelPipeline, auto_workers
from seg_perception.results import InstanceMasks
from seg_perception.ros.conversions import (intrinsics_to_camera_info, make_header,
                                            numpy_to_image)
from seg_perception.segmenters import register_instance_segmenter

from .perception_harness import Harness
from .rgbd_publisher import CAMERA_FRAME

H, W = 120, 160


@pytest.fixture(scope="module")
def default_node(ros_context, node_scene):
    """One perception node with its default parameters for the module's cases."""
    h = Harness(ros_context, node_scene)
    if auto_workers("cpu") > 1:
        assert isinstance(h.node.pipeline, ParallelPipeline)
    h.wait_for_subscribers()
    yield h
    h.close()


def _color(stamp, **changes):
    msg = numpy_to_image(np.zeros((H, W, 3), np.uint8), "rgb8", make_header(stamp, CAMERA_FRAME))
    for key, value in changes.items():
        setattr(msg, key, value)
    return msg


def _depth(values, stamp, encoding="32FC1", frame=CAMERA_FRAME):
    return numpy_to_image(values, encoding, make_header(stamp, frame))


BAD_INPUTS = {
    # name: (builder(scene, stamp) -> (color, depth, info), text expected in the reason)
    "unsupported_encoding": (lambda s, t: (_color(t, encoding="yuv422"), None, None), "yuv422"),
    "size_mismatch": (lambda s, t: (numpy_to_image(np.zeros((60, 80, 3), np.uint8), "rgb8",
                                                   make_header(t, CAMERA_FRAME)), None, None),
                      "differ in size"),
    "depth_all_zero": (lambda s, t: (None, _depth(np.zeros((H, W), np.uint16), t, "16UC1"), None),
                       "no valid pixels"),
    "depth_all_nan": (lambda s, t: (None, _depth(np.full((H, W), np.nan, np.float32), t), None),
                      "no valid pixels"),
    "depth_all_inf": (lambda s, t: (None, _depth(np.full((H, W), np.inf, np.float32), t), None),
                      "no valid pixels"),
    "empty_image": (lambda s, t: (numpy_to_image(np.zeros((0, 0, 3), np.uint8), "rgb8",
                                                 make_header(t, CAMERA_FRAME)), None, None),
                    "empty"),
    "zero_focal_length": (lambda s, t: (None, None, _zero_focal(s, t)), "fx=0"),
    "frame_id_mismatch": (lambda s, t: (None, _depth(s.frame.depth, t, frame="other_frame"), None),
                          "other_frame"),
    "step_inconsistent": (lambda s, t: (_color(t, step=W * 3 - 1), None, None), "step"),
}


def _zero_focal(scene, stamp):
    info = intrinsics_to_camera_info(scene.frame.intrinsics, make_header(stamp, CAMERA_FRAME))
    info.k = [0.0] * 9
    return info


def _recover(h):
    """After a bad frame: the next good frame is processed (outputs arrive)."""
    h.got["objects"].clear()
    assert h.spin_until(lambda: h.got["objects"]), "the node did not process the next good frame"


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_frame_is_skipped_reported_and_node_recovers(default_node, node_scene, case):
    build, expected = BAD_INPUTS[case]
    h = default_node
    h.got["objects"].clear()
    assert h.spin_until(lambda: h.got["objects"])  # a good frame first
    before = sum(h.node.stats.skipped.values())
    stamp = 10_000_000_000 + h.camera.published * 1_000_000
    color, depth, info = build(node_scene, stamp)
    h.camera.publish_frame(color=color, depth=depth, info=info, stamp_ns=stamp)
    assert h.spin_until(lambda: sum(h.node.stats.skipped.values()) > before, publish_every=0)
    snapshot = h.node.stats.snapshot()
    assert expected in snapshot["last_problem"], snapshot["last_problem"]
    # A diagnostics message built just before the skip may still be in flight:
    # wait for one that reports it.
    h.got["diagnostics"].clear()
    assert h.spin_until(lambda: h.got["diagnostics"]
                        and expected in h.diag_values()[1]["last_problem"], publish_every=0)
    status, values = h.diag_values()
    assert int(values["skipped_frames"]) >= 1
    _recover(h)


def test_stamps_going_backwards_are_skipped(default_node):
    h = default_node
    h.got["objects"].clear()
    assert h.spin_until(lambda: h.got["objects"])
    last = h.node._last_stamp_ns
    h.camera.publish_frame(stamp_ns=last - 50_000_000)  # 50 ms in the past
    assert h.spin_until(lambda: h.node.stats.skipped["stamp_backwards"] > 0, publish_every=0)
    _recover(h)


def test_huge_image_is_skipped(default_node):
    h = default_node
    default = h.node.get_parameter("max_image_pixels").value
    assert h.node.set_parameters([Parameter("max_image_pixels", value=1000)])[0].successful
    h.spin_for(0.5)  # a frame already handed on before the change may still come out
    h.got["objects"].clear()
    assert h.spin_until(lambda: "max_image_pixels" in h.node.stats.snapshot()["last_problem"])
    h.spin_for(0.5, publish_every=0.15)
    assert not h.got["objects"]
    assert h.node.set_parameters([Parameter("max_image_pixels", value=default)])[0].successful
    _recover(h)


def test_no_camera_info_yet_is_named_in_diagnostics(default_node, node_scene):
    h = default_node
    h.node._activated_at -= 10  # pretend the node has been active for a while
    h.node._input_seen[2] = 0.0  # camera_info never seen (fixture may have sent some earlier)
    h.got["diagnostics"].clear()
    named = None
    deadline = time.monotonic() + 15.0
    while named is None and time.monotonic() < deadline:  # colour and depth only
        frame = node_scene.frame
        # Older than the good frames to come: these unmatched messages are evicted
        # from the synchroniser's queues by newer ones (future-stamped ones would not be).
        stamp = 500_000_000 + h.camera.published * 1_000_000
        h.camera.pubs["color"].publish(numpy_to_image(frame.rgb, "rgb8", make_header(stamp, CAMERA_FRAME)))
        h.camera.pubs["depth"].publish(_depth(frame.depth, stamp))
        h.camera.published += 1
        h.spin_until(lambda: False, timeout=0.05, publish_every=0)
        # A status published before the camera_info went quiet may still be in flight.
        named = next((m.status[0] for m in h.got["diagnostics"]
                      if "no camera_info yet" in m.status[0].message), None)
    assert named is not None, "no diagnostics naming the missing camera_info"
    assert named.level == named.WARN
    assert "/test_cam/color/camera_info" in named.message
    _recover(h)  # camera_info again: frames are used again


_FLAKY_CALLS = {"n": 0}


@register_instance_segmenter("test_flaky")
def _build_flaky(*, weights=None, device="cpu", **config):
    class Flaky:
        name, device, class_names = "test_flaky", "cpu", ("object",)

        def segment(self, frame):
            _FLAKY_CALLS["n"] += 1
            if _FLAKY_CALLS["n"] % 2:
                raise RuntimeError("simulated model failure")
            return InstanceMasks.from_masks(frame.depth[None] > 0.7)

        def segment_batch(self, frames):
            return [self.segment(f) for f in frames]
    return Flaky()


def test_model_exception_mid_stream_does_not_kill_the_node(harness):
    # In-process pipeline: a backend registered here (a spawned worker would not know it).
    h = harness(workers=1, instance_backend="test_flaky", semantic_backend="none")
    h.wait_for_subscribers()
    assert h.spin_until(lambda: len(h.got["objects"]) >= 2 and h.node.stats.errors >= 2)
    assert "simulated model failure" in h.node.stats.snapshot()["last_problem"]


def _onnx_failing_on_white(path):
    """An instance model in the ``onnx`` backend's layout that finds nothing, and fails
    inside onnxruntime (a Reshape to an impossible shape) on an all-white image."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def const(name, values):
        return helper.make_node("Constant", [], [name],
                                value=numpy_helper.from_array(np.asarray(values), name))
    i64 = lambda *v: np.array(v, np.int64)  # noqa: E731
    nodes = [
        # n = floor(min pixel): 1 only when every pixel is 1.0 (white), else 0.
        helper.make_node("ReduceMin", ["image"], ["lowest"], keepdims=0),
        helper.make_node("Floor", ["lowest"], ["floor"]),
        helper.make_node("Cast", ["floor"], ["n"], to=TensorProto.INT64),
        const("axis0", i64(0)), const("four", i64(4)), const("zeros4", np.zeros(4, np.float32)),
        helper.make_node("Unsqueeze", ["n", "axis0"], ["n1"]),
        helper.make_node("Add", ["four", "n1"], ["target"]),
        helper.make_node("Reshape", ["zeros4", "target"], ["t"]),  # 4 values into 4 + n
        helper.make_node("Slice", ["t", "axis0", "axis0", "axis0"], ["empty"]),
        const("box_shape", i64(0, 4)),
        helper.make_node("Reshape", ["empty", "box_shape"], ["boxes"]),
        helper.make_node("Identity", ["empty"], ["scores"]),
        helper.make_node("Cast", ["empty"], ["labels"], to=TensorProto.INT64),
        helper.make_node("Shape", ["image"], ["shape"]),
        const("one", i64(1)), const("three", i64(3)), const("n0_1", i64(0, 1)),
        helper.make_node("Slice", ["shape", "one", "three"], ["hw"]),
        helper.make_node("Concat", ["n0_1", "hw"], ["mask_shape"], axis=0),
        helper.make_node("ConstantOfShape", ["mask_shape"], ["masks"],
                         value=numpy_helper.from_array(np.zeros(1, np.float32))),
    ]
    out = lambda name, kind, shape: helper.make_tensor_value_info(name, kind, shape)  # noqa: E731
    graph = helper.make_graph(
        nodes, "fails_on_white", [out("image", TensorProto.FLOAT, [3, "H", "W"])],
        [out("boxes", TensorProto.FLOAT, ["N", 4]), out("labels", TensorProto.INT64, ["N"]),
         out("scores", TensorProto.FLOAT, ["N"]),
         out("masks", TensorProto.FLOAT, ["N", 1, "H", "W"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    helper.set_model_props(model, {"seg_perception": json.dumps(
        {"arch": "onnx", "categories": ["__background__", "object"], "in_channels": 3})})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def test_model_raising_inside_a_worker_process_skips_the_frame(harness, node_scene, tmp_path):
    weights = tmp_path / "fails_on_white.onnx"
    _onnx_failing_on_white(weights)
    h = harness(instance_backend="onnx", instance_weights=str(weights), semantic_backend="none")
    pipeline = h.node.pipeline
    if auto_workers("cpu") > 1:
        assert isinstance(pipeline, ParallelPipeline) and pipeline.workers > 1
    pids = [w.process.pid for w in getattr(pipeline, "_workers", [])]
    h.wait_for_subscribers()
    assert h.spin_until(lambda: len(h.got["objects"]) >= 2)  # good frames: processed
    assert h.node.stats.errors == 0
    # A white frame makes the model raise inside the worker: that frame has no output.
    stamp = 1_000_000_000 + (h.camera.published + 1) * 100_000_000
    white = numpy_to_image(np.full((H, W, 3), 255, np.uint8), "rgb8",
                           make_header(stamp, CAMERA_FRAME))
    h.spin_for(0.5)  # frames in flight come out first
    h.got["objects"].clear()
    h.camera.publish_frame(color=white, stamp_ns=stamp)
    assert h.spin_until(lambda: h.node.stats.errors >= 1, timeout=20, publish_every=0)
    stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in h.got["objects"]]
    assert stamp not in stamps
    problem = h.node.stats.snapshot()["last_problem"]
    assert "processing failed" in problem and "Reshape" in problem, problem
    # Logged (as rqt_console / ros2 topic echo /rosout see it) and on /diagnostics.
    assert h.spin_until(lambda: h.log_lines("processing failed", Log.WARN), publish_every=0)
    found = h.wait_diagnostics(lambda st, v: int(v["errors"]) >= 1
                               and "Reshape" in v["last_problem"], publish_every=0)
    assert found is not None and found[0].level == found[0].WARN
    # The node goes on: good frames are processed again, by the same worker processes.
    assert h.spin_until(lambda: len(h.got["objects"]) >= 3)
    assert h.node.stats.errors == 1
    assert [w.process.pid for w in getattr(h.node.pipeline, "_workers", [])] == pids


def test_cuda_requested_but_absent_falls_back_to_cpu(harness):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the fallback cannot happen")
    h = harness(device="cuda")
    assert h.node.configured and h.node.pipeline.device == "cpu"
    strict = harness(device="cuda", strict_device=True)
    assert not strict.node.configured
    assert "cuda" in strict.node._state_note.lower()
