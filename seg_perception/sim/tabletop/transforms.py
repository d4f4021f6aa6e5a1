"""Rigid-transform helpers of the tabletop world: look-at poses and quaternions.

Quaternions are ``(x, y, z, w)``; their maths is :mod:`seg_perception.geometry.transforms`'s
(these are the simulator's tuple-in, tuple-out spellings of it).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ...errors import ConfigError
from ...geometry.transforms import quaternion_to_rotation_matrix, rotation_matrix_to_quaternion

__all__ = ["look_at_transform", "matrix_to_quat", "quat_to_matrix", "tuple3", "yaw_quat"]


def look_at_transform(eye: Sequence[float], target: Sequence[float],
                      up: Sequence[float] = (0.0, 0.0, 1.0)) -> np.ndarray:
    """``float64[4, 4]`` world-to-optical transform of a camera at ``eye`` looking at ``target``.

    The image x axis is horizontal (perpendicular to ``up``), y points down.
    """
    eye_v = np.asarray(eye, np.float64)
    z = np.asarray(target, np.float64) - eye_v
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, np.float64))
    if np.linalg.norm(x) < 1e-9:
        raise ConfigError("look_at_transform: the view direction is parallel to 'up'")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])  # rows: camera axes in world = world-to-camera rotation
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = -R @ eye_v
    return T


def quat_to_matrix(q: Sequence[float]) -> np.ndarray:
    """``float64[3, 3]`` rotation of an ``(x, y, z, w)`` quaternion."""
    return quaternion_to_rotation_matrix(np.asarray(q, np.float64))


def matrix_to_quat(R: np.ndarray) -> tuple[float, float, float, float]:
    """Rotation matrix to a unit ``(x, y, z, w)`` quaternion with w >= 0."""
    q = rotation_matrix_to_quaternion(R)
    return (float(q[0]), float(q[1]), float(q[2]), float(q[3]))


def yaw_quat(yaw: float) -> tuple[float, float, float, float]:
    """The quaternion of a rotation by ``yaw`` radians about the world z axis."""
    return (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2))


def tuple3(a: np.ndarray) -> tuple[float, float, float]:
    """The first three entries as Python floats (for frozen dataclass fields)."""
    return (float(a[0]), float(a[1]), float(a[2]))

