"""Bad input and faults over DDS: the frame is skipped with a reason, the node keeps going."""
from __future__ import annotations

import numpy as np
import pytest
from rclpy.parameter import Parameter

from seg_perception.results import InstanceMasks
from seg_perception.ros.conversions import (intrinsics_to_camera_info, make_header,
                                            numpy_to_image)
from seg_perception.segmenters import register_instance_segmenter

from .rgbd_publisher import CAMERA_FRAME

H, W = 120, 160


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
def test_bad_frame_is_skipped_reported_and_node_recovers(harness, node_scene, case):
    build, expected = BAD_INPUTS[case]
    h = harness()
    h.wait_for_subscribers()
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


def test_stamps_going_backwards_are_skipped(harness):
    h = harness()
    h.wait_for_subscribers()
    assert h.spin_until(lambda: h.got["objects"])
    last = h.node._last_stamp_ns
    h.camera.publish_frame(stamp_ns=last - 50_000_000)  # 50 ms in the past
    assert h.spin_until(lambda: h.node.stats.skipped["stamp_backwards"] > 0, publish_every=0)
    _recover(h)


def test_huge_image_is_skipped(harness):
    h = harness(max_image_pixels=1000)
    h.wait_for_subscribers()
    assert h.spin_until(lambda: "max_image_pixels" in h.node.stats.snapshot()["last_problem"])
    assert not h.got["objects"]
    assert h.node.set_parameters([Parameter("max_image_pixels", value=10**7)])[0].successful
    _recover(h)


def test_no_camera_info_yet_is_named_in_diagnostics(harness, node_scene):
    h = harness()
    h.wait_for_subscribers()
    h.node._activated_at -= 10  # pretend the node has been active for a while
    for _ in range(20):  # colour and depth only
        frame = node_scene.frame
        stamp = 20_000_000_000 + h.camera.published * 100_000_000
        h.camera.pubs["color"].publish(numpy_to_image(frame.rgb, "rgb8", make_header(stamp, CAMERA_FRAME)))
        h.camera.pubs["depth"].publish(_depth(frame.depth, stamp))
        h.camera.published += 1
        h.spin_until(lambda: False, timeout=0.05, publish_every=0)
    h.node._input_seen[2] = 0.0  # camera_info never seen (fixture may have sent some earlier)
    h.got["diagnostics"].clear()
    assert h.spin_until(lambda: h.got["diagnostics"], publish_every=0)
    status, _ = h.diag_values()
    assert status.level == status.WARN and "no camera_info yet" in status.message
    assert "/test_cam/color/camera_info" in status.message


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
    h = harness(instance_backend="test_flaky", semantic_backend="none")
    h.wait_for_subscribers()
    assert h.spin_until(lambda: len(h.got["objects"]) >= 2 and h.node.stats.errors >= 2)
    assert "simulated model failure" in h.node.stats.snapshot()["last_problem"]


def test_cuda_requested_but_absent_falls_back_to_cpu(harness):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the fallback cannot happen")
    h = harness(device="cuda")
    assert h.node.configured and h.node.pipeline.device == "cpu"
    strict = harness(device="cuda", strict_device=True)
    assert not strict.node.configured
    assert "cuda" in strict.node._state_note.lower()
