"""Fuzz over DDS: randomly corrupted Image / CameraInfo messages against the default
configuration (``workers`` auto: worker processes), then good frames.

Seeded and short here (``FUZZ_S`` seconds); ``seg-perception bench --soak --fuzz`` runs it for
longer with the node in its own process and prints what was sent and skipped.
The node must stay up and active (no exception reaches the executor, which would
end a real node), keep its worker processes, count what it skipped, and be
correct again on good frames: the clean scene's objects, and /diagnostics OK
once the problem window (shortened to 1 s here) has passed.
"""
from __future__ import annotations

import os
import time

import numpy as np
import pytest

from seg_perception.parallel import ParallelPipeline, auto_workers
from seg_perception.ros.conversions import (intrinsics_to_camera_info, make_header,
                                            numpy_to_image)
from seg_perception.ros.fuzz_inputs import MUTATIONS, CameraFuzzer

from .perception_harness import Harness
from .rgbd_publisher import CAMERA_FRAME

FUZZ_S = float(os.environ.get("SEG_FUZZ_SECONDS", "3"))
WINDOW_S = 1.0


def _good_set(scene):
    frame, header = scene.frame, make_header(0, CAMERA_FRAME)
    return (numpy_to_image(frame.rgb, "rgb8", header),
            numpy_to_image(np.round(frame.depth * 1000).astype(np.uint16), "16UC1", header),
            intrinsics_to_camera_info(frame.intrinsics, header))


@pytest.mark.parametrize("seed", [1, 2])
def test_corrupted_camera_messages_never_stop_the_node(ros_context, node_scene, seed):
    h = Harness(ros_context, node_scene, problem_window_s=WINDOW_S)
    try:
        _fuzz_then_check(h, node_scene, seed)
    finally:
        h.close()


def _fuzz_then_check(h, node_scene, seed):
    node, n_true = h.node, len(node_scene.objects)
    if auto_workers("cpu") > 1:
        assert isinstance(node.pipeline, ParallelPipeline)
    pids = [w.process.pid for w in getattr(node.pipeline, "_workers", [])]
    h.wait_for_subscribers()
    assert h.spin_until(lambda: h.got["objects"])
    assert len(h.got["objects"][-1].objects) == n_true

    fuzzer = CameraFuzzer(_good_set(node_scene), seed=seed)
    sent_at_start = h.camera.published
    deadline = time.monotonic() + FUZZ_S
    while time.monotonic() < deadline:
        # Stamps of the camera's own sequence: the good frames afterwards are newer.
        stamp = 1_000_000_000 + (h.camera.published + 1) * 100_000_000
        msgs = fuzzer.corrupt(stamp)
        for key in ("depth", "info", "color"):
            if key in msgs:
                h.camera.pubs[key].publish(msgs[key])
        h.camera._count.__next__()  # keep the fixture's stamp sequence in step
        h.camera.published += 1
        h.spin_for(0.03)  # an exception in any callback would be raised here
    assert fuzzer.sets >= 10 and len(fuzzer.sent) >= len(MUTATIONS) // 2, fuzzer.sent

    # Still the same, active node, with the same worker processes.
    assert h.node is node and h.state == "active" and node.context.ok()
    assert [w.process.pid for w in getattr(node.pipeline, "_workers", [])] == pids
    snap = node.stats.snapshot()
    assert snap["skipped_frames"] + snap["errors"] > 0, snap
    # Correct on good frames: every output after the fuzz has the clean scene's objects.
    h.spin_for(0.5)  # fuzzed frames still in the workers come out first
    h.got["objects"].clear()
    assert h.spin_until(lambda: len(h.got["objects"]) >= 5, timeout=30), (
        f"no output on good frames after fuzzing ({h.camera.published - sent_at_start} sets, "
        f"{dict(fuzzer.sent)}); node stats {node.stats.snapshot()}")
    assert [len(m.objects) for m in h.got["objects"]] == [n_true] * len(h.got["objects"])
    assert all(m.header.frame_id == CAMERA_FRAME for m in h.got["objects"])
    ok = h.wait_diagnostics(lambda s, v: s.level == s.OK, timeout=WINDOW_S + 15)
    assert ok is not None, "diagnostics did not return to OK on good frames after fuzzing"
    assert int(ok[1]["skipped_frames"]) >= snap["skipped_frames"]  # totals, not reset


def test_far_future_stamps_do_not_stall_the_synchroniser(ros_context, node_scene):
    """A driver that once sends colour images stamped decades ahead (a bad clock) must
    not stop the node for good: the stray messages are dropped as newer ones come."""
    h = Harness(ros_context, node_scene, problem_window_s=WINDOW_S, node_name="fuzz_future")
    try:
        h.wait_for_subscribers()
        assert h.spin_until(lambda: h.got["objects"])
        queue_size = h.node.get_parameter("sync_queue_size").value
        color = _good_set(node_scene)[0]
        for i in range(2 * queue_size):  # unmatched: no depth or camera_info with them
            color.header.stamp.sec, color.header.stamp.nanosec = 2**31 - 100 + i, 0
            h.camera.pubs["color"].publish(color)
            h.spin_for(0.1)  # each one taken (best-effort sensor QoS keeps only a few)
        h.spin_for(0.5)
        h.got["objects"].clear()
        assert h.spin_until(lambda: len(h.got["objects"]) >= 3, timeout=6), \
            f"no output after far-future stamps: {h.node.stats.snapshot()}"
    finally:
        h.close()
