"""seg_perception.geometry.transforms: rotation matrix <-> quaternion (x, y, z, w)."""
from __future__ import annotations

import numpy as np
import pytest

from seg_perception.geometry.transforms import (
    quaternion_to_rotation_matrix,
    rotation_matrix_to_quaternion,
)


def random_rotations(n: int, seed: int = 0) -> np.ndarray:
    q = np.random.default_rng(seed).normal(size=(n, 4))
    return quaternion_to_rotation_matrix(q)


def test_known_rotations() -> None:
    np.testing.assert_array_equal(rotation_matrix_to_quaternion(np.eye(3)), [0, 0, 0, 1])
    rz90 = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    s = np.sqrt(0.5)
    np.testing.assert_allclose(rotation_matrix_to_quaternion(rz90), [0, 0, s, s])
    # 180 deg about each axis: trace -1, the w branch is unusable.
    for axis in range(3):
        R = -np.eye(3)
        R[axis, axis] = 1.0
        expected = np.zeros(4)
        expected[axis] = 1.0
        np.testing.assert_allclose(rotation_matrix_to_quaternion(R), expected, atol=1e-15)
        np.testing.assert_allclose(quaternion_to_rotation_matrix(expected), R, atol=1e-15)


def test_round_trip_batch_and_canonical_sign() -> None:
    R = random_rotations(500)
    # Near-180-degree rotations exercise the x/y/z branches.
    R = np.concatenate([R, quaternion_to_rotation_matrix([[1, 0.01, 0, 0.001],
                                                          [0, 1, 0.02, 0.0],
                                                          [0.03, 0, 1, 0.0]])])
    q = rotation_matrix_to_quaternion(R)
    assert q.shape == (503, 4)
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-12)
    assert np.all(q[:, 3] >= 0)
    np.testing.assert_allclose(quaternion_to_rotation_matrix(q), R, atol=1e-12)
    # Leading dimensions are kept.
    assert rotation_matrix_to_quaternion(R[:6].reshape(2, 3, 3, 3)).shape == (2, 3, 4)


def test_quaternion_is_normalised_and_matrix_orthonormal() -> None:
    R = quaternion_to_rotation_matrix([0.0, 0.0, 2.0, 2.0])  # not unit: 90 deg about z
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(R, [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)


def test_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="determinant -1"):
        rotation_matrix_to_quaternion(np.diag([1.0, 1.0, -1.0]))
    with pytest.raises(ValueError, match=r"shape \[\.\.\., 3, 3\]"):
        rotation_matrix_to_quaternion(np.eye(4))
    with pytest.raises(ValueError, match="NaN"):
        rotation_matrix_to_quaternion(np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match=r"\(0, 0, 0, 1\) for the identity"):
        quaternion_to_rotation_matrix(np.zeros(4))
    with pytest.raises(ValueError, match=r"\(x, y, z, w\)"):
        quaternion_to_rotation_matrix(np.zeros(3))
