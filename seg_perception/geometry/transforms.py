"""Rigid transforms: rotation matrix <-> quaternion ``(x, y, z, w)`` <-> roll/pitch/yaw.

The conversion functions accept a single rotation or a batch (leading
dimensions are kept), so converting the boxes of all objects of a frame is one
call. :class:`Transform` is a frozen rigid transform ``p_parent = R p_child + t``
with the usual verbs (compose, inverse, apply); the result types move themselves
through one (``Plane.transformed``, ``ObjectGeometry.transformed``,
``TopDownGrasp.transformed`` in :mod:`seg_perception.results`), so a planner bridge
can express objects in its planning frame.

Conventions (REP 103): quaternions ``(x, y, z, w)`` with ``w >= 0`` on output;
roll/pitch/yaw are rotations about the fixed X, Y, Z axes, applied in that
order, i.e. ``R = Rz(yaw) @ Ry(pitch) @ Rx(roll)`` (tf2's ``setRPY``).

Example:
    >>> T = Transform.from_xyz_rpy((1.0, 0.0, 0.0), (0.0, 0.0, np.pi / 2))
    >>> np.round(T.apply([[1.0, 0.0, 0.0]]), 6).tolist()
    [[1.0, 1.0, 0.0]]
    >>> np.allclose((T @ T.inverse()).matrix, np.eye(4))
    True
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


__all__ = [
    "Transform",
    "cross3",
    "quaternion_to_rotation_matrix",
    "rotation_matrix_to_quaternion",
    "rotation_matrix_to_rpy",
    "rpy_to_rotation_matrix",
]


def cross3(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product of two 3-vectors (``float64[3]``), or row by row of two ``[M, 3]``
    arrays (in their dtype): the same arithmetic as ``np.cross`` (the same bits),
    without its ~20 us of overhead per call."""
    if np.ndim(a) == 1:
        return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
                         a[0] * b[1] - a[1] * b[0]])
    a0, a1, a2 = a[:, 0], a[:, 1], a[:, 2]
    b0, b1, b2 = b[:, 0], b[:, 1], b[:, 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=1)


# Rows: the branch whose component is largest (w, x, y, z); columns: the terms of
# rotation_matrix_to_quaternion that give x, y, z, w * 4 * that component.
_SHEPPERD_TERMS = np.array([[0, 1, 2, 3], [3, 4, 5, 0], [4, 3, 6, 1], [5, 6, 3, 2]])


def rotation_matrix_to_quaternion(rotation: np.ndarray) -> np.ndarray:
    """Unit quaternion ``float64[..., 4]`` ``(x, y, z, w)`` of ``float[..., 3, 3]`` rotations.

    The columns of ``rotation`` are the rotated frame's axes expressed in the
    parent frame (as in ``ObjectGeometry.box_rotation``), so the quaternion is the
    orientation of a ``geometry_msgs/Pose``. The sign is chosen so that ``w >= 0``.
    Uses the numerically stable branch per matrix (Shepperd's method): the
    largest of ``w, x, y, z`` is computed from the diagonal, the rest from it.

    Raises:
        ValueError: ``rotation`` is not ``[..., 3, 3]``, not finite, or is a
            reflection (determinant < 0), which no quaternion represents.

    Example:
        >>> rotation_matrix_to_quaternion(np.eye(3)).tolist()
        [0.0, 0.0, 0.0, 1.0]
    """
    R = np.asarray(rotation, dtype=np.float64)
    if R.shape[-2:] != (3, 3):
        raise ValueError(f"rotation must have shape [..., 3, 3], got {R.shape}")
    if not np.all(np.isfinite(R)):
        raise ValueError("rotation contains NaN or inf")
    det = np.linalg.det(R)
    if np.any(det <= 0):
        raise ValueError(
            f"rotation has determinant {float(np.min(det)):.3g}: a reflection or degenerate "
            "matrix is not a rotation; make the box axes right-handed (z = x cross y)")
    batch_shape = R.shape[:-2]
    R = R.reshape(-1, 3, 3)
    m00, m11, m22 = R[:, 0, 0], R[:, 1, 1], R[:, 2, 2]
    # 4w^2, 4x^2, 4y^2, 4z^2 from the trace; the largest gives the best-conditioned division.
    t = np.stack([1.0 + m00 + m11 + m22, 1.0 + m00 - m11 - m22,
                  1.0 - m00 + m11 - m22, 1.0 - m00 - m11 + m22], axis=1)
    best = np.argmax(t, axis=1)
    big = t[np.arange(len(t)), best]          # 4 * (largest component)^2
    s = 2.0 * np.sqrt(big)                    # 4 * largest component
    terms = np.stack([
        R[:, 2, 1] - R[:, 1, 2],               # 4 w x
        R[:, 0, 2] - R[:, 2, 0],               # 4 w y
        R[:, 1, 0] - R[:, 0, 1],               # 4 w z
        big,                                   # 4 * (largest component)^2
        R[:, 0, 1] + R[:, 1, 0],               # 4 x y
        R[:, 0, 2] + R[:, 2, 0],               # 4 x z
        R[:, 1, 2] + R[:, 2, 1],               # 4 y z
    ], axis=1)
    # (x, y, z, w) * 4 * largest: each branch's picks of the terms (one gather, no branches).
    q = np.take_along_axis(terms, _SHEPPERD_TERMS[best], axis=1) / s[:, None]
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q *= np.where(q[:, 3:4] < 0, -1.0, 1.0)
    return q.reshape(batch_shape + (4,))


def quaternion_to_rotation_matrix(quaternion: np.ndarray) -> np.ndarray:
    """``float64[..., 3, 3]`` rotation of ``float[..., 4]`` quaternions ``(x, y, z, w)``.

    The quaternion is normalised first, so a ROS message's slightly
    non-unit orientation still gives an orthonormal matrix.

    Raises:
        ValueError: wrong shape, NaN/inf, or a zero quaternion.

    Example:
        >>> quaternion_to_rotation_matrix([0.0, 0.0, 0.0, 1.0]).tolist() == np.eye(3).tolist()
        True
    """
    q = np.asarray(quaternion, dtype=np.float64)
    if q.shape[-1:] != (4,):
        raise ValueError(f"quaternion must have shape [..., 4] (x, y, z, w), got {q.shape}")
    if not np.all(np.isfinite(q)):
        raise ValueError("quaternion contains NaN or inf")
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    if np.any(norm < 1e-12):
        raise ValueError("quaternion (0, 0, 0, 0) is not a rotation; "
                         "use (0, 0, 0, 1) for the identity")
    x, y, z, w = np.moveaxis(q / norm, -1, 0)
    R = np.empty(q.shape[:-1] + (3, 3), np.float64)
    R[..., 0, 0] = 1 - 2 * (y * y + z * z)
    R[..., 0, 1] = 2 * (x * y - z * w)
    R[..., 0, 2] = 2 * (x * z + y * w)
    R[..., 1, 0] = 2 * (x * y + z * w)
    R[..., 1, 1] = 1 - 2 * (x * x + z * z)
    R[..., 1, 2] = 2 * (y * z - x * w)
    R[..., 2, 0] = 2 * (x * z - y * w)
    R[..., 2, 1] = 2 * (y * z + x * w)
    R[..., 2, 2] = 1 - 2 * (x * x + y * y)
    return R


def rpy_to_rotation_matrix(rpy: Sequence[float] | np.ndarray) -> np.ndarray:
    """``float64[..., 3, 3]`` of ``float[..., 3]`` (roll, pitch, yaw) radians, fixed axes X, Y, Z.

    ``R = Rz(yaw) @ Ry(pitch) @ Rx(roll)``, the convention of URDF and tf2.
    """
    a = np.asarray(rpy, dtype=np.float64)
    if a.shape[-1:] != (3,):
        raise ValueError(f"rpy must have shape [..., 3] (roll, pitch, yaw), got {a.shape}")
    cr, sr = np.cos(a[..., 0]), np.sin(a[..., 0])
    cp, sp = np.cos(a[..., 1]), np.sin(a[..., 1])
    cy, sy = np.cos(a[..., 2]), np.sin(a[..., 2])
    R = np.empty(a.shape[:-1] + (3, 3), np.float64)
    R[..., 0, 0] = cy * cp
    R[..., 0, 1] = cy * sp * sr - sy * cr
    R[..., 0, 2] = cy * sp * cr + sy * sr
    R[..., 1, 0] = sy * cp
    R[..., 1, 1] = sy * sp * sr + cy * cr
    R[..., 1, 2] = sy * sp * cr - cy * sr
    R[..., 2, 0] = -sp
    R[..., 2, 1] = cp * sr
    R[..., 2, 2] = cp * cr
    return R


def rotation_matrix_to_rpy(rotation: np.ndarray) -> np.ndarray:
    """``float64[..., 3]`` (roll, pitch, yaw) radians of ``float[..., 3, 3]`` rotations.

    Inverse of :func:`rpy_to_rotation_matrix` with pitch in ``[-pi/2, pi/2]``;
    at gimbal lock (pitch = +-pi/2) roll is set to 0 and yaw absorbs it.
    """
    R = np.asarray(rotation, dtype=np.float64)
    if R.shape[-2:] != (3, 3):
        raise ValueError(f"rotation must have shape [..., 3, 3], got {R.shape}")
    pitch = np.arcsin(np.clip(-R[..., 2, 0], -1.0, 1.0))
    locked = np.abs(R[..., 2, 0]) > 1.0 - 1e-12
    roll = np.where(locked, 0.0, np.arctan2(R[..., 2, 1], R[..., 2, 2]))
    yaw = np.where(locked, np.arctan2(-R[..., 0, 1], R[..., 1, 1]),
                   np.arctan2(R[..., 1, 0], R[..., 0, 0]))
    return np.stack([roll, pitch, yaw], axis=-1)


def _orthonormalise(rotation: np.ndarray) -> np.ndarray:
    """The nearest rotation (SVD), so accumulated rounding never breaks orthonormality."""
    u, _, vt = np.linalg.svd(rotation)
    r = u @ vt
    if np.linalg.det(r) < 0:
        raise ValueError("rotation is a reflection (determinant < 0), not a rotation")
    return r


@dataclass(frozen=True, eq=False)
class Transform:
    """Rigid transform from a child frame to a parent frame: ``p_parent = R @ p_child + t``.

    In tf2 terms, ``Transform`` for ``parent <- child`` is what
    ``lookup_transform(parent, child)`` returns. Compose with ``@``:
    ``T_a_c = T_a_b @ T_b_c``.

    Attributes:
        rotation: ``float64[3, 3]`` rotation (child axes as columns, in the parent frame).
        translation: ``float64[3]`` child origin in the parent frame, metres.
    """

    rotation: np.ndarray
    translation: np.ndarray

    def __post_init__(self) -> None:
        R = np.array(self.rotation, dtype=np.float64)
        t = np.array(self.translation, dtype=np.float64).reshape(-1)
        if R.shape != (3, 3) or t.shape != (3,):
            raise ValueError(f"Transform needs a 3x3 rotation and a 3-vector translation, "
                             f"got {R.shape} and {t.shape}")
        if not (np.all(np.isfinite(R)) and np.all(np.isfinite(t))):
            raise ValueError("Transform rotation or translation contains NaN or inf")
        if not np.allclose(R.T @ R, np.eye(3), atol=1e-6) or np.linalg.det(R) <= 0:
            raise ValueError("Transform rotation is not orthonormal with determinant +1; "
                             "build it with from_xyz_quat / from_xyz_rpy or normalise it")
        R.setflags(write=False)
        t.setflags(write=False)
        object.__setattr__(self, "rotation", R)
        object.__setattr__(self, "translation", t)

    @classmethod
    def identity(cls) -> "Transform":
        return cls(np.eye(3), np.zeros(3))

    @classmethod
    def from_matrix(cls, matrix: np.ndarray | Sequence[Sequence[float]]) -> "Transform":
        """From a ``4x4`` homogeneous matrix (last row ``0 0 0 1``)."""
        M = np.asarray(matrix, dtype=np.float64)
        if M.shape != (4, 4):
            raise ValueError(f"Transform.from_matrix needs a 4x4 matrix, got {M.shape}")
        if not np.allclose(M[3], (0.0, 0.0, 0.0, 1.0)):
            raise ValueError(f"last row of a rigid transform must be 0 0 0 1, got {M[3].tolist()}")
        return cls(M[:3, :3], M[:3, 3])

    @classmethod
    def from_xyz_quat(cls, xyz: Sequence[float] | np.ndarray,
                      quat_xyzw: Sequence[float] | np.ndarray) -> "Transform":
        """From a translation (metres) and a quaternion ``(x, y, z, w)`` (normalised here)."""
        return cls(quaternion_to_rotation_matrix(quat_xyzw), xyz)

    @classmethod
    def from_xyz_rpy(cls, xyz: Sequence[float] | np.ndarray,
                     rpy: Sequence[float] | np.ndarray) -> "Transform":
        """From a translation (metres) and roll, pitch, yaw (radians, fixed X, Y, Z axes)."""
        return cls(rpy_to_rotation_matrix(rpy), xyz)

    @property
    def matrix(self) -> np.ndarray:
        """``float64[4, 4]`` homogeneous matrix."""
        M = np.eye(4)
        M[:3, :3] = self.rotation
        M[:3, 3] = self.translation
        return M

    @property
    def quaternion(self) -> np.ndarray:
        """``float64[4]`` ``(x, y, z, w)``, ``w >= 0``."""
        return rotation_matrix_to_quaternion(self.rotation)

    @property
    def rpy(self) -> np.ndarray:
        """``float64[3]`` roll, pitch, yaw radians."""
        return rotation_matrix_to_rpy(self.rotation)

    def to_xyz_quat(self) -> tuple[np.ndarray, np.ndarray]:
        """``(translation float64[3], quaternion float64[4] (x, y, z, w))``, e.g. for a Pose."""
        return self.translation.copy(), self.quaternion

    def compose(self, other: "Transform") -> "Transform":
        """``self @ other``: apply ``other`` first, then ``self``."""
        R = _orthonormalise(self.rotation @ other.rotation)
        return Transform(R, self.rotation @ other.translation + self.translation)

    __matmul__ = compose

    def inverse(self) -> "Transform":
        """The parent-to-child transform."""
        Rt = self.rotation.T
        return Transform(Rt, -(Rt @ self.translation))

    def apply(self, points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        """``float64[..., 3]`` points moved to the parent frame (rotation and translation)."""
        p = np.asarray(points, dtype=np.float64)
        return p @ self.rotation.T + self.translation

    def apply_vectors(self, vectors: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        """``float64[..., 3]`` directions (normals, axes) rotated only, not translated."""
        return np.asarray(vectors, dtype=np.float64) @ self.rotation.T

    def allclose(self, other: "Transform", atol: float = 1e-9) -> bool:
        return bool(np.allclose(self.rotation, other.rotation, atol=atol)
                    and np.allclose(self.translation, other.translation, atol=atol))
