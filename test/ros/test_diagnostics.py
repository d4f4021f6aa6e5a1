"""/diagnostics reports the current state: OK -> WARN -> OK as bad frames come and go,
ERROR -> OK once a failed configure is fixed, input advice and the depth-range hint.

Default configuration (``workers`` auto). The node keeps a problem at WARN for its
problem window (10 s); these tests shorten it to 1 s so they need not wait that long.
"""
from __future__ import annotations

import time

import numpy as np
import pytest
from rcl_interfaces.msg import Log
from rclpy.parameter import Parameter

from seg_perception.ros.conversions import (intrinsics_to_camera_info, make_header,
                                            numpy_to_image)

from .perception_harness import Harness
from .rgbd_publisher import CAMERA_FRAME

WINDOW_S = 1.0


@pytest.fixture(scope="module")
def node(ros_context, node_scene):
    h = Harness(ros_context, node_scene, problem_window_s=WINDOW_S)
    h.wait_for_subscribers()
    assert h.spin_until(lambda: h.got["objects"])
    yield h
    h.close()


def _next_stamp(h):
    """The stamp the fixture camera gives its next frame (stamps keep increasing)."""
    return 1_000_000_000 + (h.camera.published + 1) * 100_000_000


def _publish(h, *, frame_id=CAMERA_FRAME, depth_mm=None, distortion=None, encoding=None):
    """One frame of the scene with the given changes."""
    frame = h.camera.scene.frame
    stamp = _next_stamp(h)
    header = make_header(stamp, frame_id)
    color = numpy_to_image(frame.rgb, "rgb8", header)
    if encoding is not None:
        color.encoding = encoding
    depth = np.round(frame.depth * 1000).astype(np.uint16) if depth_mm is None else depth_mm
    info = intrinsics_to_camera_info(frame.intrinsics, header)
    if distortion is not None:
        info.d = list(distortion)
    h.camera.publish_frame(color=color, depth=numpy_to_image(depth, "16UC1", header),
                           info=info, stamp_ns=stamp)


def _objects_since(h, stamp_ns):
    """The /objects messages received for frames stamped ``stamp_ns`` or later."""
    return [m for m in h.got["objects"]
            if m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec >= stamp_ns]


def _loop(h, condition, timeout, changes):
    """Publish frames with ``changes`` every 0.15 s until ``condition()`` (or timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _publish(h, **changes)
        h.spin_for(0.15)
        if condition():
            return True
    return False


def _ok(status, values):
    return status.level == status.OK


def test_ok_warn_ok_as_bad_frames_come_and_go(node):
    h = node
    ok = h.wait_diagnostics(_ok)
    assert ok is not None, "not OK on good frames"
    skipped_before = int(ok[1]["skipped_frames"])
    # Bad frames (an encoding the node cannot read) for a while: WARN naming them.
    for _ in range(5):
        _publish(h, encoding="yuv422")
        h.spin_for(0.1)
    warn = h.wait_diagnostics(lambda s, v: s.level == s.WARN and "yuv422" in s.message,
                              timeout=5, publish_every=0)
    assert warn is not None, "no WARN while bad frames arrive"
    assert "yuv422" in warn[1]["last_problem"] and int(warn[1]["recent_problems"]) >= 1
    # Good frames again: OK once the problem window has passed; totals kept.
    ok = h.wait_diagnostics(_ok, timeout=WINDOW_S + 10)
    assert ok is not None, "diagnostics did not return to OK after the bad frames stopped"
    status, values = ok
    # A total, not reset (a bad frame replaced by a newer one before it was looked at
    # counts as dropped, not skipped: at least one was skipped).
    assert int(values["skipped_frames"]) >= int(warn[1]["skipped_frames"]) > skipped_before
    assert "yuv422" in values["last_problem"]  # the last problem stays, with its age
    assert float(values["last_problem_age_s"]) >= WINDOW_S
    assert values["recent_problems"] == "0"


def test_error_then_ok_after_a_failed_configure_is_fixed(ros_context, node_scene, tmp_path):
    weights = tmp_path / "objects.safetensors"
    weights.write_bytes(b"\x00not a safetensors file" * 10)  # unreadable weights
    h = Harness(ros_context, node_scene, problem_window_s=WINDOW_S, node_name="diag_error",
                instance_backend="maskrcnn", instance_weights=str(weights))
    try:
        assert not h.node.configured and h.state == "unconfigured"
        error = h.wait_diagnostics(lambda s, v: s.level == s.ERROR, publish_every=0)
        assert error is not None and "objects.safetensors" in error[0].message
        assert error[1]["state"].startswith("configure failed")
        assert h.node.set_parameters([Parameter("instance_backend", value="geometric"),
                                      Parameter("instance_weights", value="")])[0].successful
        h.node.trigger_configure()
        h.node.trigger_activate()
        assert h.state == "active"
        h.wait_for_subscribers()
        ok = h.wait_diagnostics(_ok, timeout=WINDOW_S + 15)
        assert ok is not None, "diagnostics did not return to OK after the fix"
        assert ok[1]["state"] == "active" and int(ok[1]["errors"]) >= 1  # total kept
        assert h.spin_until(lambda: h.got["objects"], timeout=20)  # and frames are processed
    finally:
        h.close()


def test_empty_frame_id_and_distortion_are_advised_once(node):
    h = node
    n_objects = len(h.camera.scene.objects)
    h.got["objects"].clear()
    # An empty frame_id on every input still works, with advice.
    assert _loop(h, lambda: len(h.got["objects"]) >= 5, 20, {"frame_id": ""})
    assert h.got["objects"][-1].header.frame_id == ""
    assert len(h.got["objects"][-1].objects) == n_objects
    advised = h.wait_diagnostics(lambda s, v: "empty frame_id" in v["advice"], timeout=5,
                                 publish_every=0)
    assert advised is not None
    # Distortion the pipeline ignores.
    h.got["objects"].clear()
    d = [0.1, -0.05, 0.001, 0.0, 0.0]
    assert _loop(h, lambda: len(h.got["objects"]) >= 5, 20, {"distortion": d})
    advised = h.wait_diagnostics(lambda s, v: "distortion" in v["advice"], timeout=5,
                                 publish_every=0)
    assert advised is not None and "plumb_bob" in advised[1]["advice"]
    assert "empty frame_id" not in advised[1]["advice"]  # listed only while it holds
    # Five frames or more each, one warning each: rate limited.
    h.spin_for(0.5)  # /rosout lines in flight
    assert len(h.log_lines("empty frame_id", Log.WARN)) == 1
    assert len(h.log_lines("distortion", Log.WARN)) == 1
    # Good frames again: no advice.
    assert h.wait_diagnostics(lambda s, v: v["advice"] == "") is not None


@pytest.mark.parametrize("depth_m", [0.05, 10.0])
def test_depth_all_out_of_range_gives_a_hint(node, depth_m):
    h = node
    shape = h.camera.scene.frame.depth.shape
    depth = np.full(shape, round(depth_m * 1000), np.uint16)
    first = _next_stamp(h)
    h.got["objects"].clear()
    # Results of good frames published before may still be on their way: count only these.
    assert _loop(h, lambda: len(_objects_since(h, first)) >= 3, 20, {"depth_mm": depth})
    assert len(_objects_since(h, first)[-1].objects) == 0
    hinted = h.wait_diagnostics(lambda s, v: v["hint"] != "", timeout=5, publish_every=0)
    assert hinted is not None, "no depth-range hint"
    status, values = hinted
    assert status.level == status.WARN and "min_depth" in values["hint"]
    assert f"{depth_m:.2f}" in values["hint"]  # the depth actually seen
    # Depth in range again: the hint goes.
    assert h.wait_diagnostics(lambda s, v: v["hint"] == "" and s.level == s.OK,
                              timeout=WINDOW_S + 10) is not None


def test_inputs_that_never_pair_up_are_a_warning(node):
    """Colour, depth and camera_info all arrive, but their stamps are further apart than
    sync_slop (clocks of different devices): nothing is processed, and /diagnostics says
    why instead of OK."""
    h = node
    frame = h.camera.scene.frame
    h.node._activated_at -= 10  # active for a while already
    h.node._last_synced -= 10  # and the last pair long ago
    h.got["diagnostics"].clear()
    statuses = []
    deadline = time.monotonic() + 15.0
    while time.monotonic() < deadline:
        stamp = _next_stamp(h)
        depth = np.round(frame.depth * 1000).astype(np.uint16)
        h.camera.publish_frame(
            color=numpy_to_image(frame.rgb, "rgb8", make_header(stamp, CAMERA_FRAME)),
            depth=numpy_to_image(depth, "16UC1", make_header(stamp + 300_000_000, CAMERA_FRAME)),
            info=intrinsics_to_camera_info(frame.intrinsics,
                                           make_header(stamp + 600_000_000, CAMERA_FRAME)),
            stamp_ns=stamp)
        h.spin_for(0.15)
        # Keep the unpaired frames coming until a status says so (one published before
        # may still be in flight).
        statuses = [m.status[0] for m in h.got["diagnostics"]]
        if any("none pair up" in s.message for s in statuses):
            break
    status = next((s for s in statuses if "none pair up" in s.message), None)
    assert status is not None, [s.message for s in statuses]
    assert status.level == status.WARN, status.message
    assert "sync_slop=0.03" in status.message
    assert h.spin_until(lambda: not h.node.input_problem(), timeout=15)  # good frames again
