"""perception_node over real DDS: outputs, run-time parameters, lifecycle, diagnostics.

With the default configuration (``workers`` auto: worker processes, one per core,
as on a robot); the outputs test also runs the in-process pipeline (``workers=1``).
"""
from __future__ import annotations

import numpy as np
import pytest
from lifecycle_msgs.msg import State as StateMsg
from rclpy.parameter import Parameter
from visualization_msgs.msg import Marker

from seg_perception.parallel import ParallelPipeline, auto_workers
from seg_perception.pipeline import Pipeline
from seg_perception.ros.conversions import cloud_to_points, image_to_numpy


def _assert_default_mode(node):
    """The node runs as configured by default: auto workers, processes when > 1 core."""
    expected = auto_workers("cpu")
    if expected > 1:
        assert isinstance(node.pipeline, ParallelPipeline)
        assert node.pipeline.workers == expected
        assert all(w.process.is_alive() for w in node.pipeline._workers)
    else:
        assert isinstance(node.pipeline, Pipeline)


@pytest.mark.parametrize("workers", ["default", 1])
def test_every_output_arrives_with_the_right_content(harness, node_scene, workers):
    h = harness() if workers == "default" else harness(workers=workers)
    if workers == "default":
        _assert_default_mode(h.node)
    else:
        assert isinstance(h.node.pipeline, Pipeline)
    h.wait_for_subscribers()
    assert h.spin_until(lambda: all(h.got[k] for k in h.got if k != "diagnostics")
                        and h.got["diagnostics"])
    n_true = len(node_scene.objects)
    objects = h.got["objects"][-1]
    assert objects.header.frame_id == "camera_color_optical_frame"
    assert len(objects.objects) == n_true
    assert objects.backend == "geometric" and objects.has_support_plane
    for i, obj in enumerate(objects.objects):
        assert obj.id == i and obj.track_id >= 0 and obj.mask.encoding == "mono8"
        assert obj.mask.width == obj.roi.width and obj.cloud.width > 0
        assert 0.5 < obj.centroid.z < 1.0
    labels = image_to_numpy(h.got["instance_labels"][-1])
    assert labels.dtype == np.uint16 and set(np.unique(labels)) == set(range(n_true + 1))
    semantic = image_to_numpy(h.got["semantic_labels"][-1])
    assert semantic.shape == (120, 160) and h.got["semantic_labels"][-1].encoding == "mono8"
    assert h.got["overlay"][-1].encoding == "rgb8"
    cloud = h.got["objects_cloud"][-1]
    assert {f.name for f in cloud.fields} == {"x", "y", "z", "rgb", "label"}
    points, colors, cloud_labels = cloud_to_points(cloud)
    assert len(points) > 50 and len(np.unique(cloud_labels)) == n_true
    cubes = [m for m in h.got["markers"][-1].markers if m.type == Marker.CUBE]
    assert len(cubes) == n_true
    h.got["diagnostics"].clear()
    assert h.spin_until(lambda: h.got["diagnostics"])
    status, values = h.diag_values()
    assert values["backend"] == "geometric" and values["device"] == "cpu"
    assert float(values["output_rate_hz"]) > 0 and int(values["processed_frames"]) > 0
    assert values["workers"] == str(getattr(h.node.pipeline, "workers", 1))
    assert int(values["errors"]) == 0


def test_runtime_parameter_change_takes_effect_and_bad_values_are_refused(harness):
    h = harness()
    _assert_default_mode(h.node)
    h.wait_for_subscribers()
    assert h.spin_until(lambda: h.got["markers"])
    refused = h.node.set_parameters([Parameter("score_threshold", value=3.0)])[0]
    assert not refused.successful and "range" in refused.reason  # descriptor range
    inconsistent = h.node.set_parameters([Parameter("min_depth", value=5.0)])[0]
    assert not inconsistent.successful and "below max_depth" in inconsistent.reason
    assert h.node.pipeline.config.min_depth == 0.15  # unchanged
    locked = h.node.set_parameters([Parameter("instance_backend", value="maskrcnn")])[0]
    assert not locked.successful and "configure" in locked.reason
    assert h.node.set_parameters([Parameter("compute_geometry", value=False)])[0].successful
    h.got["markers"].clear()
    # Without 3D there are no boxes: only the DELETEALL marker remains.
    assert h.spin_until(lambda: h.got["markers"] and all(
        m.action == Marker.DELETEALL for m in h.got["markers"][-1].markers))


def test_lifecycle_transitions(harness):
    h = harness(autostart=False)
    assert h.node._state_machine.current_state[1] == "unconfigured"
    h.node.trigger_configure()
    assert h.node._state_machine.current_state[1] == "inactive"
    _assert_default_mode(h.node)
    assert not h.spin_until(lambda: h.got["objects"], timeout=1.0)  # inactive: no subscriptions
    h.node.trigger_activate()
    assert h.node._state_machine.current_state[0] == StateMsg.PRIMARY_STATE_ACTIVE
    assert h.spin_until(lambda: h.got["objects"])
    h.node.trigger_deactivate()
    h.spin_until(lambda: False, timeout=0.5, publish_every=0)
    count = len(h.got["objects"])
    h.spin_until(lambda: False, timeout=1.0)
    assert len(h.got["objects"]) == count  # inactive again: nothing processed
    pipeline = h.node.pipeline
    h.node.trigger_cleanup()
    assert h.node._state_machine.current_state[1] == "unconfigured" and not h.node.configured
    if isinstance(pipeline, ParallelPipeline):  # cleanup stops the worker processes
        assert not any(w.process.is_alive() for w in pipeline._workers)
    # And a second cycle starts them again and works.
    h.node.trigger_configure()
    h.node.trigger_activate()
    _assert_default_mode(h.node)
    h.got["objects"].clear()
    assert h.spin_until(lambda: h.got["objects"])


def test_configure_failure_leaves_the_node_up_and_saying_why(harness, tmp_path):
    missing = tmp_path / "nope.safetensors"
    h = harness(instance_backend="maskrcnn", instance_weights=str(missing))
    assert not h.node.configured
    assert h.spin_until(lambda: h.got["diagnostics"], publish_every=0)
    status, _ = h.diag_values()
    assert status.level == status.ERROR and "nope.safetensors" in status.message
    # The node is still alive: a valid backend configures fine afterwards.
    h.node.set_parameters([Parameter("instance_backend", value="geometric"),
                           Parameter("instance_weights", value="")])
    h.node.trigger_configure()
    assert h.node.configured
    _assert_default_mode(h.node)
