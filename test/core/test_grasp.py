"""seg_perception.geometry.grasp: top-down grasps on exact synthetic objects."""
from __future__ import annotations

import numpy as np
import pytest

from seg_perception.geometry.grasp import TopDownGrasp, top_down_grasp
from seg_perception.geometry.object3d import compute_objects
from seg_perception.geometry.transforms import Transform, quaternion_to_rotation_matrix
from seg_perception.results import InstanceMasks, ObjectGeometry
from seg_perception.sim.synthetic import Box, Cylinder, render_scene


def geometry(rotation: np.ndarray, extent, center=(0.0, 0.0, 0.0), normal=None) -> ObjectGeometry:
    rotation = np.asarray(rotation, float)
    return ObjectGeometry(points=np.zeros((1, 3), np.float32), colors=None,
                          centroid=np.asarray(center, float), box_center=np.asarray(center, float),
                          box_rotation=rotation, box_extent=np.asarray(extent, float),
                          principal_axes=rotation,
                          top_normal=rotation[:, 2] if normal is None else np.asarray(normal, float))


def check_frame(g: TopDownGrasp) -> None:
    assert np.isclose(np.linalg.norm(g.approach), 1.0)
    assert np.isclose(np.linalg.norm(g.axis), 1.0)
    assert abs(g.axis @ g.approach) < 1e-9
    R = g.rotation
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-9)
    assert np.isclose(np.linalg.det(R), 1.0)
    np.testing.assert_allclose(R[:, 0], g.axis)
    np.testing.assert_allclose(R[:, 2], g.approach)


def test_grasp_on_rendered_box_and_cylinder() -> None:
    yaw = 0.5
    box = Box((-0.08, 0.06), (0.10, 0.05, 0.09), yaw=yaw)
    can = Cylinder((0.12, 0.04), 0.03, 0.12)
    scene = render_scene([box, can], 320, 240)
    geoms = compute_objects(scene.frame, InstanceMasks.from_label_image(scene.instance_labels),
                            scene.table_plane)
    up_cam = np.asarray(scene.table_plane.normal)
    g_box, g_can = (top_down_grasp(g) for g in geoms if g is not None)
    for g in (g_box, g_can):
        check_frame(g)
        np.testing.assert_allclose(g.approach, -up_cam, atol=1e-9)
    # Point: centre of the top face (world z = height), camera frame.
    top = scene.camera.world_to_camera(np.array([*box.center_xy, 0.09]))
    assert np.linalg.norm(g_box.point - top) < 0.004
    assert abs(g_box.height - 0.09) < 0.001
    # Closing axis: the box's short side, world direction yaw + 90 deg.
    minor_world = np.array([-np.sin(yaw), np.cos(yaw), 0.0])
    assert abs(abs(scene.camera.rotation @ g_box.axis @ minor_world) - 1) < 1e-3
    assert -0.007 < g_box.width - 0.05 < 0.001  # see test_object3d: visible-surface bound
    assert -0.006 < g_can.width - 0.06 < 0.001
    top_can = scene.camera.world_to_camera(np.array([*can.center_xy, 0.12]))
    assert np.linalg.norm(g_can.point - top_can) < 0.004


def test_minor_axis_chosen_and_sign_canonical() -> None:
    rz90 = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    g = top_down_grasp(geometry(rz90, [0.04, 0.10, 0.2], center=(1.0, 2.0, 0.1)))
    np.testing.assert_allclose(g.axis, [0.0, 1.0, 0.0], atol=1e-12)  # box x axis, flipped to +
    assert np.isclose(g.width, 0.04) and np.isclose(g.height, 0.2)
    np.testing.assert_allclose(g.point, [1.0, 2.0, 0.2])
    np.testing.assert_allclose(g.approach, [0.0, 0.0, -1.0])
    np.testing.assert_allclose(g.pre_grasp_point(0.1), [1.0, 2.0, 0.3])


def test_tilted_box_and_normal_not_on_an_axis() -> None:
    rng = np.random.default_rng(0)
    R = quaternion_to_rotation_matrix(rng.normal(size=4))
    normal = R[:, 2] + 0.2 * R[:, 0]
    normal /= np.linalg.norm(normal)
    g = top_down_grasp(geometry(R, [0.2, 0.05, 0.1], normal=normal))
    check_frame(g)
    np.testing.assert_allclose(g.approach, -normal)
    # Width is the box's support width along the closing axis.
    assert np.isclose(g.width, np.abs(R.T @ g.axis) @ [0.2, 0.05, 0.1])
    assert g.width < 0.1


def test_pose_and_transformed_grasp_agree_with_transformed_geometry() -> None:
    rng = np.random.default_rng(1)
    R = quaternion_to_rotation_matrix(rng.normal(size=4))
    geom = geometry(R, [0.08, 0.03, 0.12], center=(0.1, 0.2, 0.7))
    T = Transform.from_xyz_rpy((0.4, -0.2, 1.1), (0.3, -0.5, 2.0))
    a = top_down_grasp(geom).transformed(T)
    b = top_down_grasp(geom.transformed(T))
    np.testing.assert_allclose(a.point, b.point, atol=1e-12)
    np.testing.assert_allclose(a.approach, b.approach, atol=1e-12)
    assert abs(abs(a.axis @ b.axis) - 1) < 1e-12  # same line; sign is canonical per frame
    assert np.isclose(a.width, b.width)
    pose = top_down_grasp(geom).pose()
    np.testing.assert_allclose(pose.translation, top_down_grasp(geom).point)
    np.testing.assert_allclose(pose.apply_vectors([0.0, 0.0, 1.0]), top_down_grasp(geom).approach)


def test_grasp_is_frozen() -> None:
    g = top_down_grasp(geometry(np.eye(3), [0.1, 0.1, 0.1]))
    with pytest.raises(AttributeError):
        g.width = 1.0  # type: ignore[misc]
