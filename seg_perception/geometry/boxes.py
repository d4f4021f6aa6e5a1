"""Oriented bounding boxes and principal axes of point clouds (numpy, OpenCV hull).

Two fits:

* **gravity aligned** (``up`` known, e.g. the support plane's normal): one box
  axis is ``up``; the rotation about it is the minimum-area rectangle of the
  points projected on the plane (rotating calipers on the convex hull). Right
  for objects standing on a table, and stable from frame to frame.
* **PCA** (no ``up``): axes are the principal axes of the points.

Rotations are right-handed (``det = +1``), axes are the matrix columns.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> pts = rng.uniform([-0.05, -0.02, 0.0], [0.05, 0.02, 0.1], (2000, 3))
    >>> box = oriented_box(pts, up=(0.0, 0.0, 1.0))
    >>> np.round(box.extent, 2).tolist()
    [0.1, 0.04, 0.1]
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..results import Plane

__all__ = ["OrientedBox", "min_area_rectangle", "oriented_box", "principal_axes"]


@dataclass(frozen=True, eq=False)
class OrientedBox:
    """A box in the frame of the points it was fitted to (metres).

    Attributes:
        center: ``float64[3]`` box centre.
        rotation: ``float64[3, 3]`` box axes as columns, right-handed. For a
            gravity-aligned box: ``[major horizontal, minor horizontal, up]``.
        extent: ``float64[3]`` full side lengths along each axis (not half sizes).
    """

    center: np.ndarray
    rotation: np.ndarray
    extent: np.ndarray

    @property
    def volume(self) -> float:
        """Cubic metres."""
        return float(np.prod(self.extent))

    def corners(self) -> np.ndarray:
        """``float64[8, 3]`` corners; index bits (x, y, z) pick -/+ half extents."""
        signs = np.array([[(i >> 2) & 1, (i >> 1) & 1, i & 1] for i in range(8)], np.float64)
        return self.center + ((signs - 0.5) * self.extent) @ self.rotation.T

    def contains(self, points: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """``bool[M]``: points inside the box grown by ``margin`` metres per side."""
        local = (np.asarray(points, np.float64) - self.center) @ self.rotation
        return np.all(np.abs(local) <= self.extent / 2 + margin, axis=1)


def _canonical_sign(v: np.ndarray) -> np.ndarray:
    """Flip ``v`` so its first clearly non-zero component is positive (deterministic axes)."""
    for c in v:
        if abs(c) > 1e-9:
            return v if c > 0 else -v
    return v


def principal_axes(points: np.ndarray) -> np.ndarray:
    """``float64[3, 3]`` PCA axes of ``float[M, 3]`` points as columns, major to minor.

    The first two axes have their first non-zero component positive and the
    third is their cross product, so the matrix is a right-handed rotation.
    Fewer than 3 points give the identity.
    """
    pts = np.asarray(points, np.float64)
    if pts.shape[0] < 3:
        return np.eye(3)
    centred = pts - pts.mean(axis=0)
    _, vecs = np.linalg.eigh(centred.T @ centred)  # ascending eigenvalues
    a = _canonical_sign(vecs[:, 2])
    b = _canonical_sign(vecs[:, 1])
    return np.stack([a, b, np.cross(a, b)], axis=1)


def _plane_basis(up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors spanning the plane perpendicular to unit ``up``."""
    ref = np.array([1.0, 0.0, 0.0]) if abs(up[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = ref - (ref @ up) * up
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(up, e1)


def min_area_rectangle(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Minimum-area rectangle of ``float[M, 2]`` points (rotating calipers).

    Returns ``(center float64[2], size float64[2], angle)``: ``size[0]`` is the
    side along direction ``(cos angle, sin angle)``, ``size[1]`` along the
    perpendicular, ``angle`` in ``[0, pi/2)`` radians.
    """
    import cv2

    xy = np.asarray(xy, np.float64)
    origin = xy.mean(axis=0)  # hull in float32 about the mean keeps sub-micron precision
    hull = cv2.convexHull((xy - origin).astype(np.float32)).reshape(-1, 2).astype(np.float64)
    edges = np.roll(hull, -1, axis=0) - hull
    lengths = np.hypot(edges[:, 0], edges[:, 1])
    angles = np.mod(np.arctan2(edges[:, 1], edges[:, 0])[lengths > 0], np.pi / 2)
    if angles.size == 0:
        angles = np.zeros(1)
    angles = np.unique(np.round(angles, 12))
    c, s = np.cos(angles), np.sin(angles)
    u = hull[:, :1] * c + hull[:, 1:] * s  # [H, A] coordinate along each candidate axis
    v = -hull[:, :1] * s + hull[:, 1:] * c
    u_min, u_max, v_min, v_max = u.min(0), u.max(0), v.min(0), v.max(0)
    best = int(np.argmin((u_max - u_min) * (v_max - v_min)))
    cu, cv = (u_min[best] + u_max[best]) / 2, (v_min[best] + v_max[best]) / 2
    cb, sb = c[best], s[best]
    center = origin + np.array([cu * cb - cv * sb, cu * sb + cv * cb])
    size = np.array([u_max[best] - u_min[best], v_max[best] - v_min[best]])
    return center, size, float(angles[best])


def oriented_box(points: np.ndarray, up: Sequence[float] | np.ndarray | None = None, *,
                 support_plane: Plane | None = None) -> OrientedBox:
    """Oriented bounding box of ``float[M, 3]`` points (metres, any frame).

    Args:
        points: at least one point.
        up: unit-ish "up" direction; gives a gravity-aligned box whose axes are
            ``[major horizontal, minor horizontal, up]`` (the horizontal pair
            from the minimum-area rectangle of the points projected along
            ``up``). None: a PCA box (axes major to minor).
        support_plane: the plane the object stands on, in the points' frame.
            ``up`` defaults to its normal, and the box is extended down to it,
            since a camera never sees an object's bottom. (For an object
            stacked on another this makes the box include the lower object.)

    Returns:
        :class:`OrientedBox` with a right-handed rotation.
    """
    pts = np.asarray(points, np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or pts.shape[0] == 0:
        raise ValueError(f"oriented_box: points must be float[M, 3] with M >= 1, got {pts.shape}")
    if up is None and support_plane is not None:
        up = support_plane.normal
    if up is None:
        rotation = principal_axes(pts)
        local = pts @ rotation
        lo, hi = local.min(axis=0), local.max(axis=0)
        return OrientedBox(rotation @ ((lo + hi) / 2), rotation, hi - lo)

    up_v = np.asarray(up, np.float64)
    up_v = up_v / np.linalg.norm(up_v)
    e1, e2 = _plane_basis(up_v)
    center2, size2, angle = min_area_rectangle(np.stack([pts @ e1, pts @ e2], axis=1))
    axis_u = np.cos(angle) * e1 + np.sin(angle) * e2
    axis_v = np.cross(up_v, axis_u)
    if size2[1] > size2[0]:  # major horizontal axis first
        axis_u, axis_v, size2 = axis_v, -axis_u, size2[::-1]
    major = _canonical_sign(axis_u)
    minor = np.cross(up_v, major)
    heights = pts @ up_v
    top, bottom = float(heights.max()), float(heights.min())
    if support_plane is not None:
        # Where the vertical line through the footprint centre meets the plane.
        n = np.asarray(support_plane.normal, np.float64)
        foot = center2[0] * e1 + center2[1] * e2
        plane_level = -(support_plane.offset + float(n @ foot)) / float(n @ up_v)
        bottom = min(bottom, plane_level)
    center = center2[0] * e1 + center2[1] * e2 + up_v * (top + bottom) / 2
    rotation = np.stack([major, minor, up_v], axis=1)
    return OrientedBox(center, rotation, np.array([size2[0], size2[1], top - bottom]))
