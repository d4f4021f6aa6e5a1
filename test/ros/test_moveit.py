"""MoveIt output: collision shapes, the support surface, ADD/MOVE/REMOVE tracking,
planning-frame transforms, and the bridge node over real DDS.

``moveit_msgs`` here is the real package where installed, else the test copy
that ``scripts/build_test_interfaces.sh`` builds (``make test`` runs it).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from geometry_msgs.msg import TransformStamped
from rclpy.parameter import Parameter
from sensor_msgs.msg import RegionOfInterest

from seg_perception.errors import ConfigError
from seg_perception.geometry.transforms import (Transform, quaternion_to_rotation_matrix,
                                                rotation_matrix_to_quaternion)
from seg_perception.ros.conversions import (cloud_to_points, make_header, numpy_to_image,
                                            points_to_cloud)
from seg_perception.ros.moveit import (SUPPORT_SURFACE_ID, CollisionObjectTracker, fit_shape,
                                       object_to_collision_object, remove_collision_object,
                                       support_plane_to_collision_object)
from seg_perception.ros.planning_frame import (FrameResolver, TransformUnavailableError,
                                               transform_from_msg, transform_from_params,
                                               transform_objects_msg, transform_to_msg)
from seg_perception.ros.qos import RELIABLE_OUTPUT_QOS


@pytest.fixture(scope="module")
def moveit_msgs():
    try:
        import moveit_msgs.msg as msgs
    except ImportError as exc:
        pytest.fail(f"moveit_msgs is not importable ({exc}): run `bash "
                    "scripts/build_test_interfaces.sh` and `source scripts/env.sh` (make test "
                    "does both)")
    return msgs


def _rot_z(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0],
                     [0.0, 0.0, 1.0]])


def _xyz(v) -> np.ndarray:
    return np.array([v.x, v.y, v.z])


def _quat(q) -> np.ndarray:
    return np.array([q.x, q.y, q.z, q.w])


def _rot(pose) -> np.ndarray:
    return quaternion_to_rotation_matrix(_quat(pose.orientation))


def make_object(objects_msgs, index=0, track=1, center=(0.0, 0.0, 0.8), size=(0.1, 0.05, 0.2),
                rotation=None, up=(0.0, 0.0, 1.0), grasp=True, points=None, class_name="cup",
                has_3d=None, status=None):
    """An ObjectInstance built by hand (3D fields in the array's frame); ``has_3d`` defaults
    to whether ``size`` is non-zero, ``status`` to OK / TOO_FEW_POINTS to match."""
    R = np.eye(3) if rotation is None else np.asarray(rotation, float)
    OI = objects_msgs.ObjectInstance
    has_3d = bool(np.any(np.asarray(size) > 0)) if has_3d is None else has_3d
    if status is None:
        status = OI.GEOMETRY_OK if has_3d else OI.GEOMETRY_TOO_FEW_POINTS
    obj = OI(id=index, track_id=track, track_age=1, class_id=3, class_name=class_name,
             score=0.9, has_3d=has_3d, geometry_status=status)
    obj.roi = RegionOfInterest(x_offset=10, y_offset=20, width=4, height=3)
    obj.mask = numpy_to_image(np.full((3, 4), 255, np.uint8), "mono8")
    c = np.asarray(center, float)
    obj.centroid.x, obj.centroid.y, obj.centroid.z = (c + [0.001, 0.002, 0.003]).tolist()
    p = obj.box_pose
    p.position.x, p.position.y, p.position.z = c.tolist()
    o = p.orientation
    o.x, o.y, o.z, o.w = rotation_matrix_to_quaternion(R).tolist()
    obj.box_size.x, obj.box_size.y, obj.box_size.z = [float(s) for s in size]
    u = np.asarray(up, float)
    obj.top_normal.x, obj.top_normal.y, obj.top_normal.z = u.tolist()
    if grasp:
        top = c + u * (size[2] / 2)
        obj.grasp_point.x, obj.grasp_point.y, obj.grasp_point.z = top.tolist()
        obj.grasp_approach.x, obj.grasp_approach.y, obj.grasp_approach.z = (-u).tolist()
        obj.grasp_axis.x, obj.grasp_axis.y, obj.grasp_axis.z = R[:, 1].tolist()
        obj.grasp_width = float(size[1])
    if points is None:
        points = np.zeros((0, 3), np.float32)
    colors = np.arange(len(points) * 3, dtype=np.uint8).reshape(-1, 3)
    obj.cloud = points_to_cloud(points, make_header(0, "cam"), colors=colors)
    return obj


def make_array(objects_msgs, objects, plane=(0.0, 0.0, 1.0, -0.7), frame="cam",
               stamp_ns=1_000_000_000):
    msg = objects_msgs.ObjectInstanceArray(header=make_header(stamp_ns, frame), image_width=64,
                                           image_height=48, backend="geometric", device="cpu")
    if plane is not None:
        msg.has_support_plane = True
        msg.support_plane = np.asarray(plane, np.float64)
    msg.objects = list(objects)
    return msg


# --------------------------------------------------------------------------- shapes

def test_auto_shape_picks_a_cylinder_for_a_square_footprint(objects_msgs, moveit_msgs):
    from shape_msgs.msg import SolidPrimitive

    can = make_object(objects_msgs, track=7, size=(0.066, 0.064, 0.12), rotation=_rot_z(30))
    header = make_header(5, "cam")
    msg = object_to_collision_object(can, header, shape="auto", padding=0.01)
    CO = moveit_msgs.CollisionObject
    assert msg.operation == CO.ADD and msg.id == "seg_7" and msg.type.key == "cup"
    assert msg.header.frame_id == "cam" and msg.header.stamp.nanosec == 5
    (prim,) = msg.primitives
    assert prim.type == SolidPrimitive.CYLINDER
    height, radius = prim.dimensions
    assert height == pytest.approx(0.12 + 0.02) and radius == pytest.approx(0.033 + 0.01)
    assert np.allclose(_xyz(msg.pose.position), [0.0, 0.0, 0.8])
    assert np.allclose(_rot(msg.pose)[:, 2], [0, 0, 1], atol=1e-9)  # cylinder axis = up
    (prim_pose,) = msg.primitive_poses
    assert np.allclose(_xyz(prim_pose.position), 0) and np.allclose(_quat(prim_pose.orientation),
                                                                    [0, 0, 0, 1])


def test_auto_shape_keeps_a_box_for_an_elongated_footprint(objects_msgs, moveit_msgs):
    from shape_msgs.msg import SolidPrimitive

    box = make_object(objects_msgs, size=(0.10, 0.05, 0.2), rotation=_rot_z(30))
    msg = object_to_collision_object(box, make_header(0, "cam"), shape="auto", padding=0.005)
    (prim,) = msg.primitives
    assert prim.type == SolidPrimitive.BOX
    assert np.allclose(prim.dimensions, [0.11, 0.06, 0.21])
    assert np.allclose(_rot(msg.pose), _rot_z(30))
    # The default shape is always the box.
    assert object_to_collision_object(box, make_header()).primitives[0].type == SolidPrimitive.BOX


def test_cylinder_axis_follows_up_when_the_box_lies_on_its_side(objects_msgs, moveit_msgs):
    from shape_msgs.msg import SolidPrimitive

    # Box x is vertical (the frame's -y, a camera looking horizontally): a lying bottle.
    R = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    up = np.array([0.0, -1.0, 0.0])
    bottle = make_object(objects_msgs, size=(0.25, 0.07, 0.07), rotation=R, up=up)
    fit = fit_shape(bottle, "auto")
    assert fit.kind == "cylinder" and fit.dimensions == pytest.approx((0.25, 0.035))
    assert np.allclose(fit.rotation[:, 2], up) and np.linalg.det(fit.rotation) == pytest.approx(1)
    # Forced cylinder on an elongated footprint: radius = half the larger side.
    forced = object_to_collision_object(make_object(objects_msgs, size=(0.1, 0.04, 0.2)),
                                        make_header(), shape="cylinder")
    assert forced.primitives[0].type == SolidPrimitive.CYLINDER
    assert forced.primitives[0].dimensions.tolist() == pytest.approx([0.2, 0.05])


def test_grasp_subframe_lands_on_the_grasp_point(objects_msgs, moveit_msgs):
    obj = make_object(objects_msgs, center=(0.1, -0.2, 0.9), size=(0.08, 0.05, 0.1),
                      rotation=_rot_z(40))
    msg = object_to_collision_object(obj, make_header(), shape="box")
    assert list(msg.subframe_names) == ["grasp"]
    sub = msg.subframe_poses[0]
    R_obj, p_obj = _rot(msg.pose), _xyz(msg.pose.position)
    world_grasp = R_obj @ _xyz(sub.position) + p_obj
    assert np.allclose(world_grasp, _xyz(obj.grasp_point))
    R_grasp = R_obj @ _rot(sub)
    assert np.allclose(R_grasp[:, 2], _xyz(obj.grasp_approach))  # z: approach
    assert np.allclose(R_grasp[:, 0], _xyz(obj.grasp_axis))      # x: closing direction
    no_grasp = object_to_collision_object(make_object(objects_msgs, grasp=False), make_header())
    assert list(no_grasp.subframe_names) == []


def test_objects_without_geometry_are_refused(objects_msgs, moveit_msgs):
    empty = make_object(objects_msgs, size=(0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="no 3D geometry .*has_3d is false.*too_few_points"):
        object_to_collision_object(empty, make_header())
    # has_3d decides, not the numbers: a box in a message that says "no 3D" is not added.
    stale = make_object(objects_msgs, has_3d=False,
                        status=objects_msgs.ObjectInstance.GEOMETRY_OUT_OF_RANGE)
    with pytest.raises(ValueError, match="has_3d is false, geometry_status out_of_range"):
        object_to_collision_object(stale, make_header())
    # has_3d but no size (a producer's bug) is refused too.
    with pytest.raises(ValueError, match="box_size is zero"):
        object_to_collision_object(make_object(objects_msgs, size=(0.0, 0.0, 0.0), has_3d=True),
                                   make_header())
    with pytest.raises(ValueError, match="shape must be one of"):
        object_to_collision_object(make_object(objects_msgs), make_header(), shape="sphere")


# --------------------------------------------------------------------------- support surface

def test_support_surface_box_top_lies_on_the_plane(objects_msgs, moveit_msgs):
    objs = [make_object(objects_msgs, 0, 1, center=(0.2, 0.1, 0.75)),
            make_object(objects_msgs, 1, 2, center=(0.4, 0.3, 0.75))]
    msg = support_plane_to_collision_object(make_array(objects_msgs, objs), 1.2, 0.04)
    assert msg.id == SUPPORT_SURFACE_ID and msg.operation == moveit_msgs.CollisionObject.ADD
    assert msg.primitives[0].dimensions.tolist() == pytest.approx([1.2, 1.2, 0.04])
    # Centre 2 cm under z = 0.7, below the objects' mean (0.3, 0.2); z axis up.
    assert np.allclose(_xyz(msg.pose.position), [0.3, 0.2, 0.68])
    assert np.allclose(_rot(msg.pose)[:, 2], [0, 0, 1])

    # A tilted plane in a camera frame: n = (0, -0.8, -0.6), d = 0.7.
    plane = np.array([0.0, -0.8, -0.6, 0.7])
    msg = support_plane_to_collision_object(make_array(objects_msgs, objs, plane=plane),
                                            (0.8, 0.5), 0.02)
    R, c = _rot(msg.pose), _xyz(msg.pose.position)
    assert np.allclose(R[:, 2], plane[:3])
    top = c + R[:, 2] * 0.01
    assert plane[:3] @ top + plane[3] == pytest.approx(0.0, abs=1e-12)
    anchor = np.mean([[0.2, 0.1, 0.75], [0.4, 0.3, 0.75]], axis=0)  # the box centres
    offset = top - anchor
    assert np.linalg.norm(offset - (offset @ plane[:3]) * plane[:3]) < 1e-12  # straight below
    assert msg.primitives[0].dimensions.tolist() == pytest.approx([0.8, 0.5, 0.02])
    # No plane, no table.
    assert support_plane_to_collision_object(make_array(objects_msgs, objs, plane=None)) is None


# --------------------------------------------------------------------------- tracker

def test_tracker_add_move_remove_sequence(objects_msgs, moveit_msgs):
    CO = moveit_msgs.CollisionObject
    tracker = CollisionObjectTracker(shape="box", remove_after=2, move_threshold=0.01)
    a = dict(track=1, center=(0.0, 0.0, 0.8))
    b = dict(track=2, center=(0.2, 0.0, 0.8), size=(0.06, 0.06, 0.1))

    first = tracker.update(make_array(objects_msgs, [make_object(objects_msgs, 0, **a),
                                                     make_object(objects_msgs, 1, **b)]))
    assert set(first.added) == {"seg_1", "seg_2", SUPPORT_SURFACE_ID}
    assert [m.operation for m in first.messages] == [CO.ADD] * 3
    assert tracker.known_ids == ("seg_1", "seg_2", SUPPORT_SURFACE_ID)

    # Jitter below the thresholds, and a box fit turned by 180 degrees: nothing to send.
    jitter = dict(a, center=(0.004, 0.0, 0.8), rotation=_rot_z(180))
    quiet = tracker.update(make_array(objects_msgs, [make_object(objects_msgs, 0, **jitter),
                                                     make_object(objects_msgs, 1, **b)]))
    assert quiet.messages == ()

    moved_a = dict(a, center=(0.05, 0.0, 0.8))
    step = tracker.update(make_array(objects_msgs, [make_object(objects_msgs, 0, **moved_a),
                                                    make_object(objects_msgs, 1, **b)]))
    assert step.moved == ("seg_1",) and step.added == () and step.removed == ()
    (move,) = step.messages
    assert move.operation == CO.MOVE and move.id == "seg_1"
    assert np.allclose(_xyz(move.pose.position), [0.05, 0.0, 0.8])
    assert len(move.primitives) == 0 and len(move.primitive_poses) == 0  # MOVE: pose only

    # Object 2 leaves: REMOVE after remove_after = 2 frames without it.
    gone1 = tracker.update(make_array(objects_msgs, [make_object(objects_msgs, 0, **moved_a)]))
    assert gone1.removed == ()
    gone2 = tracker.update(make_array(objects_msgs, [make_object(objects_msgs, 0, **moved_a)]))
    assert gone2.removed == ("seg_2",)
    (remove,) = gone2.messages
    assert remove.operation == CO.REMOVE and remove.id == "seg_2" and len(remove.primitives) == 0

    # It comes back: a new ADD. A grown object: ADD again (ADD replaces).
    back = tracker.update(make_array(objects_msgs, [
        make_object(objects_msgs, 0, **dict(moved_a, size=(0.1, 0.05, 0.26))),
        make_object(objects_msgs, 1, **b)]))
    assert set(back.added) == {"seg_1", "seg_2"}

    # The snapshot re-sends current objects as ADDs at their last pose.
    snap = {m.id: m for m in tracker.snapshot()}
    assert set(snap) == {"seg_1", "seg_2", SUPPORT_SURFACE_ID}
    assert all(m.operation == CO.ADD and len(m.primitives) == 1 for m in snap.values())
    assert snap["seg_1"].primitives[0].dimensions.tolist() == pytest.approx([0.1, 0.05, 0.26])

    cleared = tracker.clear(make_header(0, "cam"))
    assert set(cleared.removed) == {"seg_1", "seg_2", SUPPORT_SURFACE_ID}
    assert all(m.operation == CO.REMOVE for m in cleared.messages)
    assert tracker.known_ids == ()


def test_tracker_moves_updates_snapshot_and_skips_untracked(objects_msgs, moveit_msgs):
    tracker = CollisionObjectTracker(support_surface=False)
    tracker.update(make_array(objects_msgs, [make_object(objects_msgs, 0, track=4)]))
    turned = tracker.update(make_array(objects_msgs, [
        make_object(objects_msgs, 0, track=4, rotation=_rot_z(20))]))
    assert turned.moved == ("seg_4",)  # 20 deg > move_angle_threshold (0.1 rad)
    (snap,) = tracker.snapshot()
    assert np.allclose(_rot(snap.pose), _rot_z(20))

    untracked = tracker.update(make_array(objects_msgs, [
        make_object(objects_msgs, 0, track=4, rotation=_rot_z(20)),
        make_object(objects_msgs, 1, track=-1)]))
    assert untracked.messages == () and len(untracked.notes) == 1
    assert "no track id" in untracked.notes[0]
    assert remove_collision_object("seg_4", make_header()).operation == \
        moveit_msgs.CollisionObject.REMOVE


def test_tracker_skips_objects_without_3d_and_removes_those_that_lose_it(objects_msgs,
                                                                          moveit_msgs):
    OI = objects_msgs.ObjectInstance
    CO = moveit_msgs.CollisionObject
    tracker = CollisionObjectTracker(remove_after=2)
    # Beyond max_depth: zero 3D fields and has_3d false, as the perception node sends it.
    far = make_object(objects_msgs, 1, track=9, size=(0.0, 0.0, 0.0), grasp=False,
                      status=OI.GEOMETRY_OUT_OF_RANGE)
    far.centroid.x = far.centroid.y = far.centroid.z = 0.0
    far.box_pose.position.z = 0.0
    first = tracker.update(make_array(objects_msgs, [
        make_object(objects_msgs, 0, track=4, center=(0.2, 0.1, 0.75)), far]))
    assert set(first.added) == {"seg_4", SUPPORT_SURFACE_ID}  # nothing at the camera origin
    assert any("track 9" in n and "out_of_range" in n for n in first.notes)
    # The table sits under the objects that have 3D, not pulled towards the origin.
    table = next(m for m in first.messages if m.id == SUPPORT_SURFACE_ID)
    assert np.allclose(_xyz(table.pose.position)[:2], [0.2, 0.1], atol=1e-9)
    # seg_4 loses its 3D (e.g. it moved beyond max_depth): not moved to zeros, removed
    # after remove_after frames like an object not seen.
    lost = make_object(objects_msgs, 0, track=4, size=(0.0, 0.0, 0.0), grasp=False,
                       status=OI.GEOMETRY_OUT_OF_RANGE)
    updates = [tracker.update(make_array(objects_msgs, [lost])) for _ in range(2)]
    assert updates[0].messages == () and updates[0].moved == ()
    assert updates[1].removed == ("seg_4",)
    assert [m.operation for m in updates[1].messages] == [CO.REMOVE]


# --------------------------------------------------------------------------- frames

def test_transform_from_params_quaternion_and_rpy_agree():
    q = transform_from_params([1.0, 2.0, 3.0], [0.0, 0.0, math.sqrt(0.5), math.sqrt(0.5)])
    r = transform_from_params([1.0, 2.0, 3.0], [0.0, 0.0, math.pi / 2])
    assert q.allclose(r) and np.allclose(q.rotation, _rot_z(90))
    assert transform_from_msg(TransformStamped(transform=transform_to_msg(q))).allclose(q)
    with pytest.raises(ConfigError, match="quaternion"):
        transform_from_params([0.0, 0.0, 0.0], [1.0, 0.0])
    with pytest.raises(ConfigError, match="translation"):
        transform_from_params([0.0, 0.0], [0.0, 0.0, 0.0, 1.0])
    with pytest.raises(ConfigError, match="not a rotation"):
        transform_from_params([0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0])


def test_frame_resolver_static():
    T = transform_from_params([0.0, 0.0, 1.0], [0.0, 0.0, 0.0])
    resolver = FrameResolver("world", T)
    assert resolver.source == "static"
    assert resolver.lookup("cam").allclose(T)
    assert resolver.lookup("world") is None          # already there
    assert FrameResolver("", T).lookup("cam") is None  # no planning frame: keep the frame


def test_frame_resolver_tf2_falls_back_to_the_latest_transform(monkeypatch):
    """The tf2 path, against a stand-in tf2_ros (the real one is not installable here)."""
    import sys
    import types

    T = transform_from_params([0.5, 0.0, 1.0], [0.0, 0.0, math.pi / 2])
    calls = []

    class Buffer:
        known = True

        def lookup_transform(self, target, source, when, timeout):
            calls.append((target, source, when.nanoseconds, timeout.nanoseconds))
            if when.nanoseconds != 0 or not self.known:  # only "latest" is in the buffer
                raise RuntimeError("extrapolation into the future")
            return TransformStamped(transform=transform_to_msg(T))

    class TransformListener:
        def __init__(self, buffer, node):
            self.node, self.unregistered = node, False

        def unregister(self):
            self.unregistered = True

    monkeypatch.setitem(sys.modules, "tf2_ros", types.SimpleNamespace(
        Buffer=Buffer, TransformListener=TransformListener))
    resolver = FrameResolver("world", None, node=object(), use_tf=True)
    assert resolver.source == "tf2"
    stamp = make_header(5_000_000_123, "cam").stamp
    assert resolver.lookup("cam", stamp).allclose(T)
    assert calls == [("world", "cam", 5_000_000_123, 0), ("world", "cam", 0, 0)]  # never blocks
    resolver._buffer.known = False
    with pytest.raises(TransformUnavailableError, match="from 'cam' to 'world'"):
        resolver.lookup("cam", stamp)
    listener = resolver._listener
    resolver.close()
    assert listener.unregistered and resolver.source == "static"


def test_transform_objects_msg_moves_every_3d_field(objects_msgs):
    T = Transform.from_xyz_rpy([1.0, 2.0, 3.0], [0.0, 0.0, math.pi / 2])  # 90 deg about z
    Rz = _rot_z(90)
    pts = np.array([[0.0, 0.0, 0.8], [0.1, -0.05, 0.75], [-0.02, 0.03, 0.9]], np.float32)
    R0 = _rot_z(30)
    obj = make_object(objects_msgs, 0, track=5, center=(0.1, -0.05, 0.8), rotation=R0,
                      up=(0.0, -0.6, -0.8), points=pts)
    bare = make_object(objects_msgs, 1, track=6, size=(0.0, 0.0, 0.0), grasp=False)
    plane = np.array([0.0, -0.8, -0.6, 0.7])
    msg = make_array(objects_msgs, [obj, bare], plane=plane, stamp_ns=1_700_000_000_123_456_789)

    out = transform_objects_msg(msg, T, "world")
    assert out.header.frame_id == "world" and out.header.stamp == msg.header.stamp
    assert (out.image_width, out.image_height, out.backend, out.device) == (64, 48, "geometric",
                                                                            "cpu")
    o, src = out.objects[0], msg.objects[0]
    # Independent arithmetic: 90 deg about z sends (x, y, z) to (-y, x, z).
    def moved(p):
        return np.array([-p[1] + 1.0, p[0] + 2.0, p[2] + 3.0])

    def turned(v):
        return np.array([-v[1], v[0], v[2]])
    assert np.allclose(_xyz(o.centroid), moved(_xyz(src.centroid)))
    assert np.allclose(_xyz(o.box_pose.position), moved([0.1, -0.05, 0.8]))
    assert np.allclose(_rot(o.box_pose), Rz @ R0) and np.allclose(_rot(o.box_pose), _rot_z(120))
    assert np.allclose(_xyz(o.box_size), _xyz(src.box_size))
    assert np.allclose(_xyz(o.top_normal), turned([0.0, -0.6, -0.8]))
    assert np.allclose(_xyz(o.grasp_point), moved(_xyz(src.grasp_point)))
    assert np.allclose(_xyz(o.grasp_approach), turned(_xyz(src.grasp_approach)))
    assert np.allclose(_xyz(o.grasp_axis), turned(_xyz(src.grasp_axis)))
    assert o.grasp_width == src.grasp_width
    assert (o.id, o.track_id, o.track_age, o.class_id, o.class_name, o.score) == (
        src.id, src.track_id, src.track_age, src.class_id, src.class_name, src.score)
    assert o.roi == src.roi and o.mask == src.mask  # 2D: still the camera's pixel grid
    cloud_pts, cloud_rgb, _ = cloud_to_points(o.cloud)
    assert o.cloud.header.frame_id == "world"
    assert np.allclose(cloud_pts, np.array([moved(p) for p in pts.astype(float)]), atol=1e-6)
    assert np.array_equal(cloud_rgb, cloud_to_points(src.cloud)[1])
    # The plane: n rotated, and a point of the old plane lies on the new one.
    n, d = np.asarray(out.support_plane[:3]), out.support_plane[3]
    assert out.has_support_plane and np.allclose(n, turned(plane[:3]))
    on_old = -plane[3] * plane[:3]  # the plane's point nearest the old origin
    assert n @ moved(on_old) + d == pytest.approx(0.0, abs=1e-12)
    # has_3d and geometry_status travel; an object without geometry keeps zeros (not the
    # frame's origin); its grasp too.
    assert (o.has_3d, o.geometry_status) == (True, objects_msgs.ObjectInstance.GEOMETRY_OK)
    b = out.objects[1]
    assert (b.has_3d, b.geometry_status) == (False,
                                             objects_msgs.ObjectInstance.GEOMETRY_TOO_FEW_POINTS)
    assert np.allclose(_xyz(b.centroid), 0) and np.allclose(_xyz(b.box_pose.position), 0)
    assert np.allclose(_xyz(b.grasp_point), 0) and np.allclose(_quat(b.box_pose.orientation),
                                                               [0, 0, 0, 1])
    # The input is untouched; with_clouds=False drops the clouds.
    assert msg.header.frame_id == "cam" and np.allclose(_xyz(src.box_pose.position),
                                                        [0.1, -0.05, 0.8])
    light = transform_objects_msg(msg, T, "world", with_clouds=False)
    assert light.objects[0].cloud.width == 0 and np.allclose(
        _xyz(light.objects[0].box_pose.position), moved([0.1, -0.05, 0.8]))


# --------------------------------------------------------------------------- node over DDS

def test_bridge_node_publishes_add_move_remove_over_dds(ros_context, executor, make_node,
                                                        spin_until, objects_msgs, moveit_msgs,
                                                        topic_prefix):
    from seg_perception.ros.nodes.moveit_bridge_node import MoveItBridgeNode, start_node

    CO = moveit_msgs.CollisionObject
    objects_topic = f"{topic_prefix}/perception_node/objects"
    bridge = MoveItBridgeNode("moveit_bridge_test", context=ros_context, parameter_overrides=[
        Parameter("objects_topic", value=objects_topic),
        Parameter("planning_frame", value="world"),
        Parameter("transform_translation", value=[1.0, 2.0, 3.0]),
        Parameter("transform_rotation", value=[0.0, 0.0, math.pi / 2]),  # rpy
        Parameter("remove_after", value=2),
        Parameter("refresh_period", value=0.0),
    ])
    executor.add_node(bridge)
    try:
        start_node(bridge)
        assert bridge.configured
        test_node = make_node("moveit_test")
        got: list = []
        test_node.create_subscription(CO, "/collision_object", got.append, RELIABLE_OUTPUT_QOS)
        pub = test_node.create_publisher(objects_msgs.ObjectInstanceArray, objects_topic,
                                         RELIABLE_OUTPUT_QOS)
        assert spin_until(lambda: pub.get_subscription_count() > 0
                          and bridge._pub.get_subscription_count() > 0, 10.0)

        def moved(p):  # world <- cam: 90 deg about z, then + (1, 2, 3)
            return np.array([-p[1] + 1.0, p[0] + 2.0, p[2] + 3.0])

        a = dict(track=1, center=(0.0, 0.1, 0.8))
        b = dict(track=2, center=(0.2, 0.0, 0.8), size=(0.06, 0.06, 0.1))
        # Track 3 has no 3D (has_3d false, e.g. beyond max_depth): never a collision object.
        no_3d = make_object(objects_msgs, 2, track=3, center=(0.0, 0.0, 0.0), size=(0, 0, 0),
                            grasp=False,
                            status=objects_msgs.ObjectInstance.GEOMETRY_OUT_OF_RANGE)
        pub.publish(make_array(objects_msgs, [make_object(objects_msgs, 0, **a),
                                              make_object(objects_msgs, 1, **b), no_3d],
                               stamp_ns=1))
        assert spin_until(lambda: len(got) >= 3, 5.0)
        spin_until(lambda: False, 0.2)  # nothing else may follow
        adds = {m.id: m for m in got}
        assert set(adds) == {"seg_1", "seg_2", SUPPORT_SURFACE_ID} and len(got) == 3
        assert bridge.counts["objects_without_3d"] == 1
        assert all(m.operation == CO.ADD and m.header.frame_id == "world" for m in got)
        assert np.allclose(_xyz(adds["seg_1"].pose.position), moved([0.0, 0.1, 0.8]), atol=1e-9)
        assert np.allclose(_rot(adds["seg_1"].pose), _rot_z(90), atol=1e-9)
        assert np.allclose(adds["seg_2"].primitives[0].dimensions, [0.06, 0.06, 0.1])
        table = adds[SUPPORT_SURFACE_ID]
        # Plane z = 0.7 in cam is z = 3.7 in world; the box top lies on it.
        assert _xyz(table.pose.position)[2] + 0.01 == pytest.approx(3.7)

        got.clear()
        a_moved = dict(a, center=(0.05, 0.1, 0.8))
        pub.publish(make_array(objects_msgs, [make_object(objects_msgs, 0, **a_moved),
                                              make_object(objects_msgs, 1, **b)], stamp_ns=2))
        assert spin_until(lambda: len(got) >= 1, 5.0)
        spin_until(lambda: False, 0.2)  # nothing else may follow
        assert [(m.id, m.operation) for m in got] == [("seg_1", CO.MOVE)]
        assert np.allclose(_xyz(got[0].pose.position), moved([0.05, 0.1, 0.8]), atol=1e-9)

        got.clear()
        for stamp in (3, 4):  # object 2 gone for remove_after = 2 frames
            pub.publish(make_array(objects_msgs, [make_object(objects_msgs, 0, **a_moved)],
                                   stamp_ns=stamp))
        assert spin_until(lambda: len(got) >= 1, 5.0)
        assert [(m.id, m.operation) for m in got] == [("seg_2", CO.REMOVE)]
        assert bridge.counts["added"] == 3 and bridge.counts["moved"] == 1
        assert bridge.counts["removed"] == 1

        # Deactivating removes what the bridge added (remove_on_shutdown).
        got.clear()
        bridge.trigger_deactivate()
        assert spin_until(lambda: len(got) >= 2, 5.0)
        assert {(m.id, m.operation) for m in got} == {("seg_1", CO.REMOVE),
                                                      (SUPPORT_SURFACE_ID, CO.REMOVE)}
    finally:
        executor.remove_node(bridge)
        bridge.destroy_node()


def test_bridge_node_refuses_bad_parameters_and_refreshes(ros_context, executor, make_node,
                                                          spin_until, objects_msgs, moveit_msgs,
                                                          topic_prefix):
    from seg_perception.ros.nodes.moveit_bridge_node import MoveItBridgeNode, start_node

    objects_topic = f"{topic_prefix}/objects"
    collision_topic = f"{topic_prefix}/collision_object"
    bad = MoveItBridgeNode("moveit_bridge_bad", context=ros_context, parameter_overrides=[
        Parameter("transform_rotation", value=[0.0, 1.0]), Parameter("autostart", value=False)])
    try:
        bad.trigger_configure()
        assert not bad.configured
        status = bad.diagnostics_status()
        assert status.level == status.ERROR and "rotation" in status.message
    finally:
        bad.destroy_node()

    bridge = MoveItBridgeNode("moveit_bridge_refresh", context=ros_context, parameter_overrides=[
        Parameter("objects_topic", value=objects_topic),
        Parameter("collision_object_topic", value=collision_topic),
        Parameter("refresh_period", value=0.2), Parameter("shape", value="auto")])
    executor.add_node(bridge)
    try:
        start_node(bridge)
        assert not bridge.set_parameters([Parameter("shape", value="sphere")])[0].successful
        assert not bridge.set_parameters([Parameter("padding", value=-1.0)])[0].successful
        assert not bridge.set_parameters(
            [Parameter("planning_frame", value="x")])[0].successful  # needs a reconfigure
        assert bridge.set_parameters([Parameter("padding", value=0.01)])[0].successful
        assert bridge.tracker.padding == 0.01
        test_node = make_node("refresh_test")
        pub = test_node.create_publisher(objects_msgs.ObjectInstanceArray, objects_topic,
                                         RELIABLE_OUTPUT_QOS)
        assert spin_until(lambda: pub.get_subscription_count() > 0, 10.0)
        can = make_object(objects_msgs, 0, track=3, size=(0.06, 0.06, 0.12))
        pub.publish(make_array(objects_msgs, [can], plane=None, frame="cam"))
        assert spin_until(lambda: bridge.tracker is not None and bridge.tracker.known_ids, 5.0)
        # A planning scene that subscribes only now still gets the object from the refresh.
        late: list = []
        test_node.create_subscription(moveit_msgs.CollisionObject, collision_topic, late.append,
                                      RELIABLE_OUTPUT_QOS)
        assert spin_until(lambda: len(late) >= 1, 5.0)
        msg = late[0]
        assert msg.id == "seg_3" and msg.operation == moveit_msgs.CollisionObject.ADD
        assert msg.header.frame_id == "cam"  # no planning_frame: the objects' own frame
        from shape_msgs.msg import SolidPrimitive
        assert msg.primitives[0].type == SolidPrimitive.CYLINDER
    finally:
        bridge.shutdown_bridge()
        executor.remove_node(bridge)
        bridge.destroy_node()
