"""perception_node with worker processes (``workers`` > 1) over real DDS."""
from __future__ import annotations

from lifecycle_msgs.msg import State as StateMsg
from rclpy.parameter import Parameter

from seg_perception.parallel import ParallelPipeline


def _stamp(msg) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def test_two_workers_publish_every_output_in_frame_order(harness, node_scene):
    h = harness(workers=2)
    assert isinstance(h.node.pipeline, ParallelPipeline) and h.node.pipeline.workers == 2
    h.wait_for_subscribers()
    # Frames faster than one pipeline would take them: both workers get busy.
    assert h.spin_until(lambda: len(h.got["objects"]) >= 12, timeout=40, publish_every=0.03)
    stamps = [_stamp(m) for m in h.got["objects"]]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    n_true = len(node_scene.objects)
    tracks = {tuple(sorted(o.track_id for o in m.objects)) for m in h.got["objects"][2:]}
    assert all(len(m.objects) == n_true for m in h.got["objects"])
    assert len(tracks) == 1  # the same ids frame after frame: tracked in order
    assert h.spin_until(lambda: h.got["markers"] and h.got["semantic_labels"]
                        and h.got["diagnostics"])
    _, values = h.diag_values()
    assert int(values["errors"]) == 0 and int(values["processed_frames"]) > 0


def test_parameters_and_lifecycle_with_workers(harness):
    h = harness(workers=2)
    h.wait_for_subscribers()
    assert h.spin_until(lambda: h.got["objects"], timeout=30)
    assert h.node.set_parameters([Parameter("compute_geometry", value=False)])[0].successful
    h.got["objects"].clear()
    # Frames sent after the change come back without 3D (centroid left at 0).
    assert h.spin_until(lambda: len(h.got["objects"]) >= 3 and all(
        o.centroid.z == 0.0 for o in h.got["objects"][-1].objects), timeout=30)
    pipeline = h.node.pipeline
    h.node.trigger_deactivate()
    assert h.node._state_machine.current_state[0] == StateMsg.PRIMARY_STATE_INACTIVE
    h.node.trigger_cleanup()
    assert h.node._state_machine.current_state[1] == "unconfigured" and h.node.pipeline is None
    assert not any(w.process.is_alive() for w in pipeline._workers)  # stopped on cleanup
