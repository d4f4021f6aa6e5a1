"""Rigid-transform helpers of the tabletop world: look-at poses and quaternions.

Quaternions are ``(x, y, z, w)``. These keep the simulator's own float64
arithmetic (no normalisation of the input), so scenes stay bit-identical per seed.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ...errors import ConfigError

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
    """``float64[3, 3]`` rotation of a unit ``(x, y, z, w)`` quaternion (not normalised)."""
    x, y, z, w = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def matrix_to_quat(R: np.ndarray) -> tuple[float, float, float, float]:
    """Rotation matrix to a unit ``(x, y, z, w)`` quaternion with w >= 0."""
    m = R
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    if tr > 0:
        s = math.sqrt(tr + 1.0) * 2
        q = ((m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s)
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2
        q = (0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s)
    elif m[1, 1] > m[2, 2]:
        s = math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2
        q = ((m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s)
    else:
        s = math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2
        q = ((m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s, (m[1, 0] - m[0, 1]) / s)
    qa = np.asarray(q)
    qa /= np.linalg.norm(qa)
    if qa[3] < 0:
        qa = -qa
    return (float(qa[0]), float(qa[1]), float(qa[2]), float(qa[3]))


def yaw_quat(yaw: float) -> tuple[float, float, float, float]:
    """The quaternion of a rotation by ``yaw`` radians about the world z axis."""
    return (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2))


def tuple3(a: np.ndarray) -> tuple[float, float, float]:
    """The first three entries as Python floats (for frozen dataclass fields)."""
    return (float(a[0]), float(a[1]), float(a[2]))

