"""Objects whose 3D part is missing, end to end: a simulated scene through the pipeline,
then every consumer in the package (objects message, markers, merged cloud, planning-frame
transform, MoveIt collision objects) must say "no 3D" instead of placing them at the origin.

The scene (exact analytic render, 320x240, true masks as the instance segmenter):
the farthest object is cut by ``min_depth`` (clipped: 3D from the part in range), one has
no depth at all, one lies wholly nearer than ``min_depth`` (out of range), and a 3x3 px
patch of table is an object with too few points. Last, the perception node over DDS with
every object beyond ``max_depth``.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from seg_perception.config import PipelineConfig
from seg_perception.frames import RGBDFrame
from seg_perception.geometry.transforms import Transform
from seg_perception.pipeline import Pipeline
from seg_perception.results import LAYOUT_CLASSES, InstanceMasks, Scene
from seg_perception.ros.conversions import cloud_to_points, make_header, objects_msg_to_dicts
from seg_perception.ros.moveit import SUPPORT_SURFACE_ID, CollisionObjectTracker
from seg_perception.ros.outputs import scene_to_cloud, scene_to_markers, scene_to_objects_msg
from seg_perception.ros.planning_frame import transform_objects_msg
from seg_perception.sim.synthetic import preset_objects, render_scene

W, H = 320, 240
EXPECTED = ["clipped", "no_depth", "out_of_range", "too_few_points"]


class _FixedMasks:
    """An instance segmenter returning the same masks for every frame."""

    name = "truth"
    device = "cpu"

    def __init__(self, masks: np.ndarray) -> None:
        self._masks = masks

    def segment(self, frame: RGBDFrame) -> InstanceMasks:
        return InstanceMasks.from_masks(self._masks)


@pytest.fixture(scope="module")
def scene() -> Scene:
    truth = render_scene(preset_objects("separated"), W, H)
    labels = truth.instance_labels
    depth = truth.frame.depth.copy()
    medians = [float(np.median(depth[labels == k + 1])) for k in range(3)]
    far, *near = (int(k) for k in np.argsort(medians)[::-1])
    cut = medians[far]  # min_depth through the middle of the farthest object
    assert all(depth[labels == k + 1].max() < cut for k in near)
    no_depth, out_of_range = near
    depth[labels == no_depth + 1] = 0.0  # e.g. a black or shiny object the sensor misses
    # 3x3 px of table beyond min_depth: in range, but 9 pixels < min_object_points.
    table = truth.semantic_labels == LAYOUT_CLASSES.index("support_surface")
    ys, xs = np.nonzero(table[1:-1, 1:-1] & (depth[1:-1, 1:-1] > cut + 0.05))
    y, x = ys[len(ys) // 2] + 1, xs[len(xs) // 2] + 1
    patch = np.zeros((H, W), bool)
    patch[y - 1:y + 2, x - 1:x + 2] = True
    assert table[patch].all() and (depth[patch] > cut).all()
    masks = np.stack([labels == far + 1, labels == no_depth + 1, labels == out_of_range + 1,
                      patch])
    frame = RGBDFrame(rgb=truth.frame.rgb, depth=depth, intrinsics=truth.frame.intrinsics,
                      stamp_ns=1_000_000_000, frame_id="cam")
    pipeline = Pipeline(PipelineConfig(min_depth=cut, semantic_backend="none", device="cpu"),
                        instance_segmenter=_FixedMasks(masks))
    return pipeline.process(frame)


def test_the_pipeline_says_why(scene: Scene) -> None:
    assert [o.geometry_status for o in scene.objects] == EXPECTED
    assert [o.has_3d for o in scene.objects] == [True, False, False, False]
    assert all(o.track_id >= 0 for o in scene.objects)  # tracked: the MoveIt bridge needs ids


def test_objects_message_marks_missing_3d(scene: Scene, objects_msgs) -> None:
    msg = scene_to_objects_msg(scene, make_header(1_000_000_000, "cam"))
    OI = objects_msgs.ObjectInstance
    assert [o.has_3d for o in msg.objects] == [True, False, False, False]
    assert [o.geometry_status for o in msg.objects] == [
        OI.GEOMETRY_CLIPPED, OI.GEOMETRY_NO_DEPTH, OI.GEOMETRY_OUT_OF_RANGE,
        OI.GEOMETRY_TOO_FEW_POINTS]
    clipped, *missing = objects_msg_to_dicts(msg)["objects"]
    assert clipped["box_size"].min() > 0 and clipped["points"].shape[0] > 0
    assert clipped["grasp_width"] > 0
    for d in missing:  # zeros, and has_3d false says they mean nothing
        assert not d["has_3d"] and d["points"].shape == (0, 3)
        for key in ("centroid", "box_center", "box_size", "grasp_point", "grasp_approach"):
            assert not d[key].any(), key
        assert d["grasp_width"] == 0.0
    # The 2D part is there for all of them.
    assert all(d["mask"].any() for d in missing)


def test_markers_and_cloud_leave_out_objects_without_3d(scene: Scene) -> None:
    header = Header(frame_id="cam")
    markers = scene_to_markers(scene, header).markers
    clipped = scene.objects[0]
    ident = clipped.track_id
    drawn = {(m.ns, m.id) for m in markers[1:]}  # [0] is DELETEALL
    assert drawn == {("seg_perception/boxes", ident), ("seg_perception/labels", ident),
                     ("seg_perception/grasps", ident)}
    points, _, labels = cloud_to_points(scene_to_cloud(scene, header))
    assert set(np.unique(labels).tolist()) == {ident + 1}
    assert points.shape[0] == clipped.geometry.num_points


def test_planning_frame_and_moveit_skip_objects_without_3d(scene: Scene, objects_msgs) -> None:
    try:
        import moveit_msgs.msg  # noqa: F401
    except ImportError as exc:
        pytest.fail(f"moveit_msgs is not importable ({exc}): run `bash "
                    "scripts/build_test_interfaces.sh` and `source scripts/env.sh`")
    msg = scene_to_objects_msg(scene, make_header(1_000_000_000, "cam"))
    T = Transform.from_xyz_rpy([1.0, 2.0, 3.0], [0.0, 0.0, math.pi / 2])
    world = transform_objects_msg(msg, T, "world")
    assert [(o.has_3d, o.geometry_status) for o in world.objects] == [
        (o.has_3d, o.geometry_status) for o in msg.objects]
    for o in world.objects[1:]:  # zeros stay zeros, not the camera's origin in the world
        assert (o.centroid.x, o.centroid.y, o.centroid.z) == (0.0, 0.0, 0.0)
        assert (o.grasp_point.x, o.grasp_point.y, o.grasp_point.z) == (0.0, 0.0, 0.0)
    update = CollisionObjectTracker().update(world)
    assert set(update.added) == {f"seg_{scene.objects[0].track_id}", SUPPORT_SURFACE_ID}
    for obj, status in zip(scene.objects[1:], EXPECTED[1:]):
        assert any(f"track {obj.track_id}" in n and status in n for n in update.notes), status


def test_perception_node_publishes_has_3d_false_beyond_max_depth(harness, node_scene,
                                                                  objects_msgs) -> None:
    # Every object of the scene lies beyond 0.4 m: found in 2D, no 3D, over real DDS.
    assert min(node_scene.frame.depth[node_scene.instance_labels > 0]) > 0.4
    h = harness(max_depth=0.4)
    h.wait_for_subscribers()
    assert h.spin_until(lambda: h.got["objects"] and h.got["markers"])
    msg = h.got["objects"][-1]
    assert len(msg.objects) == len(node_scene.objects)
    for o in msg.objects:
        assert o.has_3d is False
        assert o.geometry_status == objects_msgs.ObjectInstance.GEOMETRY_OUT_OF_RANGE
        assert (o.centroid.z, o.box_size.x, o.grasp_width, o.cloud.width) == (0.0, 0.0, 0.0, 0)
        assert o.mask.width > 0
    # No boxes or arrows at the camera origin: only the DELETEALL marker.
    assert [m.action for m in h.got["markers"][-1].markers] == [Marker.DELETEALL]
