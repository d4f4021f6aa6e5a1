"""seg_perception.geometry.transforms: Transform, roll/pitch/yaw, planes and geometry.

Matrix <-> quaternion conversions themselves are covered in test_geometry_transforms.py.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from seg_perception.geometry.transforms import (
    Transform,
    quaternion_to_rotation_matrix,
    rotation_matrix_to_quaternion,
    rotation_matrix_to_rpy,
    rpy_to_rotation_matrix,
)
from seg_perception.results import ObjectGeometry, Plane

S = np.sqrt(0.5)


def random_transform(rng: np.random.Generator) -> Transform:
    return Transform.from_xyz_quat(rng.normal(size=3), rng.normal(size=4))


def test_known_quaternions_and_rpy() -> None:
    T = Transform.from_xyz_quat((1.0, 2.0, 3.0), (0.0, 0.0, S, S))  # 90 deg about z
    np.testing.assert_allclose(T.apply([1.0, 0.0, 0.0]), [1.0, 3.0, 3.0], atol=1e-12)
    np.testing.assert_allclose(T.apply_vectors([1.0, 0.0, 0.0]), [0.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(T.rpy, [0.0, 0.0, np.pi / 2], atol=1e-12)
    # Same rotation from rpy; quaternion keeps w >= 0.
    T2 = Transform.from_xyz_rpy((1.0, 2.0, 3.0), (0.0, 0.0, np.pi / 2))
    assert T.allclose(T2, atol=1e-12)
    np.testing.assert_allclose(T2.quaternion, [0.0, 0.0, S, S], atol=1e-12)
    # Roll 90 deg: y -> z. Pitch 90 deg: z -> x.
    np.testing.assert_allclose(rpy_to_rotation_matrix([np.pi / 2, 0, 0]) @ [0, 1, 0], [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(rpy_to_rotation_matrix([0, np.pi / 2, 0]) @ [0, 0, 1], [1, 0, 0], atol=1e-12)
    # Fixed-axis order: R = Rz(yaw) Ry(pitch) Rx(roll).
    r, p, y = 0.3, -0.4, 1.2
    Rx = rpy_to_rotation_matrix([r, 0, 0])
    Ry = rpy_to_rotation_matrix([0, p, 0])
    Rz = rpy_to_rotation_matrix([0, 0, y])
    np.testing.assert_allclose(rpy_to_rotation_matrix([r, p, y]), Rz @ Ry @ Rx, atol=1e-12)
    # Quaternion from a 180 deg rotation about x (w = 0 branch).
    np.testing.assert_allclose(Transform.from_xyz_rpy((0, 0, 0), (np.pi, 0, 0)).quaternion,
                               [1, 0, 0, 0], atol=1e-12)


def test_rpy_round_trip_and_gimbal_lock() -> None:
    rng = np.random.default_rng(0)
    rpy = np.c_[rng.uniform(-np.pi, np.pi, 200), rng.uniform(-1.5, 1.5, 200),
                rng.uniform(-np.pi, np.pi, 200)]
    R = rpy_to_rotation_matrix(rpy)
    assert R.shape == (200, 3, 3)
    np.testing.assert_allclose(rotation_matrix_to_rpy(R), rpy, atol=1e-9)
    locked = rpy_to_rotation_matrix([0.4, np.pi / 2, 0.1])
    back = rotation_matrix_to_rpy(locked)
    assert back[0] == 0.0
    np.testing.assert_allclose(rpy_to_rotation_matrix(back), locked, atol=1e-9)


def test_matrix_quaternion_rpy_round_trips() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        T = random_transform(rng)
        assert Transform.from_matrix(T.matrix).allclose(T)
        xyz, q = T.to_xyz_quat()
        assert q[3] >= 0 and np.isclose(np.linalg.norm(q), 1.0)
        assert Transform.from_xyz_quat(xyz, q).allclose(T, atol=1e-12)
        assert Transform.from_xyz_rpy(xyz, T.rpy).allclose(T, atol=1e-9)
    np.testing.assert_allclose(
        quaternion_to_rotation_matrix(rotation_matrix_to_quaternion(T.rotation)), T.rotation,
        atol=1e-12)


def test_compose_and_inverse() -> None:
    rng = np.random.default_rng(2)
    A, B, C = (random_transform(rng) for _ in range(3))
    pts = rng.normal(size=(10, 3))
    np.testing.assert_allclose((A @ B).apply(pts), A.apply(B.apply(pts)), atol=1e-12)
    np.testing.assert_allclose((A @ B).matrix, A.matrix @ B.matrix, atol=1e-12)
    assert ((A @ B) @ C).allclose(A @ (B @ C), atol=1e-12)
    assert (A @ A.inverse()).allclose(Transform.identity(), atol=1e-12)
    assert (A @ B).inverse().allclose(B.inverse() @ A.inverse(), atol=1e-12)
    np.testing.assert_allclose(A.inverse().apply(A.apply(pts)), pts, atol=1e-12)
    assert A.compose(B).allclose(A @ B)
    # Long chains stay orthonormal.
    T = Transform.identity()
    for _ in range(1000):
        T = T @ A
    np.testing.assert_allclose(T.rotation.T @ T.rotation, np.eye(3), atol=1e-12)


def test_transform_is_frozen_and_validated() -> None:
    T = Transform.identity()
    with pytest.raises(dataclasses.FrozenInstanceError):
        T.translation = np.ones(3)  # type: ignore[misc]
    with pytest.raises(ValueError):
        T.translation[0] = 1.0  # read-only array
    with pytest.raises(ValueError, match="orthonormal"):
        Transform(np.diag([1.0, 1.0, 2.0]), np.zeros(3))
    with pytest.raises(ValueError, match="orthonormal"):
        Transform(np.diag([1.0, 1.0, -1.0]), np.zeros(3))
    with pytest.raises(ValueError, match="3x3 rotation"):
        Transform(np.eye(4), np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        Transform(np.eye(3), [np.nan, 0, 0])
    with pytest.raises(ValueError, match="4x4"):
        Transform.from_matrix(np.eye(3))
    with pytest.raises(ValueError, match="0 0 0 1"):
        Transform.from_matrix(np.ones((4, 4)))
    with pytest.raises(ValueError, match="rpy"):
        rpy_to_rotation_matrix([0.0, 1.0])


def test_transform_plane_keeps_points_on_plane_and_distances() -> None:
    rng = np.random.default_rng(3)
    T = random_transform(rng)
    n = rng.normal(size=3)
    n /= np.linalg.norm(n)
    plane = Plane(tuple(n), 0.7)
    moved = plane.transformed(T)
    assert np.isclose(np.linalg.norm(moved.normal), 1.0)
    pts = rng.normal(size=(20, 3))
    np.testing.assert_allclose(moved.signed_distance(T.apply(pts)), plane.signed_distance(pts),
                               atol=1e-5)


def test_transform_geometry() -> None:
    rng = np.random.default_rng(4)
    T = random_transform(rng)
    R = quaternion_to_rotation_matrix(rng.normal(size=4))
    g = ObjectGeometry(points=rng.normal(size=(50, 3)).astype(np.float32), colors=None,
                       centroid=np.array([0.1, 0.2, 0.9]), box_center=np.array([0.1, 0.2, 1.0]),
                       box_rotation=R, box_extent=np.array([0.1, 0.05, 0.2]),
                       principal_axes=R, top_normal=R[:, 2])
    h = g.transformed(T)
    np.testing.assert_allclose(h.points, T.apply(g.points), atol=1e-5)
    assert h.points.dtype == np.float32
    np.testing.assert_allclose(h.centroid, T.apply(g.centroid), atol=1e-12)
    np.testing.assert_allclose(h.box_center, T.apply(g.box_center), atol=1e-12)
    np.testing.assert_allclose(h.box_rotation, T.rotation @ R, atol=1e-12)
    assert np.isclose(np.linalg.det(h.box_rotation), 1.0)
    np.testing.assert_array_equal(h.box_extent, g.box_extent)
    np.testing.assert_allclose(h.top_normal, T.rotation @ g.top_normal, atol=1e-12)


def test_cross3_has_the_bits_of_np_cross():
    from seg_perception.geometry.transforms import cross3

    rng = np.random.default_rng(11)
    for a, b in rng.normal(size=(500, 2, 3)):
        np.testing.assert_array_equal(cross3(a, b), np.cross(a, b))
    for dtype in (np.float32, np.float64):  # row by row
        a, b = rng.normal(size=(2, 200, 3)).astype(dtype)
        assert cross3(a, b).dtype == dtype
        np.testing.assert_array_equal(cross3(a, b), np.cross(a, b))
