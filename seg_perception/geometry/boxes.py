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

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..results import Plane
from .transforms import cross3

__all__ = ["OrientedBox", "box_along_axes", "extend_box_down", "gravity_box", "gravity_frame",
           "min_area_rectangle", "oriented_box", "principal_axes"]


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
    pts = np.asarray(points)
    if pts.shape[0] < 3:
        return np.eye(3)
    # Coordinate rows [3, M]: numpy reduces rows much faster than [M, 3] columns.
    rows = np.array(pts.T, np.float64)
    return _principal_axes_rows(rows, rows.mean(axis=1))


def _principal_axes_rows(rows: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """:func:`principal_axes` of ``float64[3, M]`` coordinate rows with mean ``float64[3]``."""
    if rows.shape[1] < 3:
        return np.eye(3)
    centred = rows - mean[:, None]
    _, vecs = np.linalg.eigh(centred @ centred.T)  # ascending eigenvalues
    a = _canonical_sign(vecs[:, 2])
    b = _canonical_sign(vecs[:, 1])
    return np.stack([a, b, cross3(a, b)], axis=1)


def _plane_basis(up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors spanning the plane perpendicular to unit ``up``."""
    ref = np.array([1.0, 0.0, 0.0]) if abs(up[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = ref - (ref @ up) * up
    e1 /= np.linalg.norm(e1)
    return e1, cross3(up, e1)


def min_area_rectangle(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Minimum-area rectangle of ``float[M, 2]`` points (rotating calipers, OpenCV).

    Returns ``(center float64[2], size float64[2], angle)``: ``size[0]`` is the
    side along direction ``(cos angle, sin angle)``, ``size[1]`` along the
    perpendicular, ``angle`` in ``[0, pi/2)`` radians. The rectangle encloses
    every point (sides from the float64 points, the angle from OpenCV).
    """
    xy = np.asarray(xy, np.float64)
    origin = xy.T.mean(axis=1)  # float32 about the mean keeps sub-micron precision
    local = (xy - origin).T
    cx, cy, su, sv, angle = _min_area_rect(np.ascontiguousarray(local.T, dtype=np.float32), local)
    return origin + np.array([cx, cy]), np.array([su, sv]), angle


# Above this many points, cheap tests drop most interior points before the hull.
_PREFILTER_POINTS = 1500


def _min_area_rect(xy: np.ndarray, exact: np.ndarray) -> tuple[float, float, float, float, float]:
    """``(cx, cy, size_u, size_v, angle)``: minimum-area rectangle of ``float32[M, 2]``
    points, ``size_u`` along ``(cos angle, sin angle)``, ``angle`` in ``[0, pi/2)``.

    ``exact`` holds the same points as ``float64[2, M]`` rows: OpenCV finds the
    hull and the angle in float32, the sides and centre come from these.
    """
    import cv2

    candidates = _hull_candidates(xy) if xy.shape[0] > _PREFILTER_POINTS else None
    pts = xy if candidates is None else xy[candidates]
    hull = cv2.convexHull(pts, returnPoints=False).reshape(-1)
    if candidates is not None:
        hull = candidates[hull]
    _, _, degrees = cv2.minAreaRect(xy[hull])
    # OpenCV's angle convention changed between versions: any quarter turn
    # gives the same rectangle; reduce it to [0, pi/2).
    angle = math.radians(degrees) % (math.pi / 2)
    if angle >= math.pi / 2:  # rounding
        angle = 0.0
    c, s = math.cos(angle), math.sin(angle)
    x, y = exact[0, hull], exact[1, hull]
    u, v = c * x + s * y, c * y - s * x
    u_lo, u_hi, v_lo, v_hi = float(u.min()), float(u.max()), float(v.min()), float(v.max())
    cu, cv = (u_lo + u_hi) / 2, (v_lo + v_hi) / 2
    return cu * c - cv * s, cu * s + cv * c, u_hi - u_lo, v_hi - v_lo, angle


def _hull_candidates(xy: np.ndarray) -> np.ndarray:
    """``intp[K]``: indices of the points of ``float32[M, 2]`` not strictly inside the octagon
    of the extreme points in 8 directions (Akl-Toussaint); the convex hull is among them."""
    x, y = xy[:, 0], xy[:, 1]
    s, d = x + y, x - y
    # Extremes at 0, 45, ..., 315 degrees: counter-clockwise around the hull.
    corners = xy[[x.argmax(), s.argmax(), y.argmax(), d.argmin(),
                  x.argmin(), s.argmin(), y.argmin(), d.argmax()]].astype(np.float64)
    corners = corners[np.any(corners != np.roll(corners, 1, axis=0), axis=1)]
    if corners.shape[0] < 3:
        return np.arange(xy.shape[0])
    edges = np.roll(corners, -1, axis=0) - corners
    # [E, M] cross products (edge x (point - corner)): > 0 left of an edge, i.e. inside.
    inside = ((edges[:, :1] * (y - corners[:, 1:2])) > (edges[:, 1:] * (x - corners[:, :1])))
    return np.flatnonzero(~inside.all(axis=0))


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
            since a camera never sees an object's bottom. (Unconditionally:
            for an object stacked on another this makes the box include the
            lower object; :func:`~seg_perception.geometry.object3d.compute_objects`
            extends only objects that reach down to the plane.)

    Returns:
        :class:`OrientedBox` with a right-handed rotation.
    """
    pts = np.asarray(points, np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or pts.shape[0] == 0:
        raise ValueError(f"oriented_box: points must be float[M, 3] with M >= 1, got {pts.shape}")
    if up is None and support_plane is not None:
        up = support_plane.normal
    if up is None:
        rows = np.array(pts.T)
        return box_along_axes(rows, _principal_axes_rows(rows, rows.mean(axis=1)))

    up_v = np.asarray(up, np.float64)
    box, _ = _gravity_box_rows(np.array(pts.T), gravity_frame(up_v / np.linalg.norm(up_v)))
    if support_plane is not None:
        # Where the vertical line through the footprint centre meets the plane.
        n = np.asarray(support_plane.normal, np.float64)
        up_v = box.rotation[:, 2]
        foot = box.center - (box.center @ up_v) * up_v
        box = extend_box_down(box, -(support_plane.offset + float(n @ foot)) / float(n @ up_v))
    return box


def box_along_axes(rows: np.ndarray, rotation: np.ndarray) -> OrientedBox:
    """Box of ``float64[3, M]`` coordinate rows along the columns of ``rotation``."""
    local = rotation.T @ rows
    lo, hi = local.min(axis=1), local.max(axis=1)
    return OrientedBox(rotation @ ((lo + hi) / 2), rotation, hi - lo)


def gravity_frame(up: np.ndarray) -> np.ndarray:
    """``float64[3, 3]`` rows ``e1, e2, up``: a right-handed frame about unit ``up``."""
    e1, e2 = _plane_basis(up)
    return np.stack([e1, e2, up])


def _gravity_box_rows(rows: np.ndarray, frame: np.ndarray) -> tuple[OrientedBox, np.ndarray]:
    """Gravity-aligned box of ``float64[3, M]`` coordinate rows in ``frame``
    (:func:`gravity_frame`), and the ``float64[M]`` heights ``p @ up`` of the points."""
    proj = frame @ rows  # [3, M]: plane coordinates and heights
    origin = proj[:2].mean(axis=1)  # float32 about the mean keeps sub-micron precision
    local = proj[:2] - origin[:, None]
    heights = proj[2]
    box = gravity_box(np.ascontiguousarray(local.T, dtype=np.float32), local, origin, float(heights.max()),
                       float(heights.min()), frame)
    return box, heights


def gravity_box(xy: np.ndarray, exact: np.ndarray, origin: np.ndarray, top: float,
                 bottom: float, frame: np.ndarray) -> OrientedBox:
    """Box from the footprint points ``float32[M, 2]`` (plane coordinates minus
    ``origin``; ``exact``: the same as ``float64[2, M]`` rows) and the height
    range ``[bottom, top]`` along ``frame``'s up row."""
    e1, e2, up = frame
    cx, cy, size_u, size_v, angle = _min_area_rect(xy, exact)
    axis_u = math.cos(angle) * e1 + math.sin(angle) * e2
    if size_v > size_u:  # major horizontal axis first
        axis_u, size_u, size_v = cross3(up, axis_u), size_v, size_u
    major = _canonical_sign(axis_u)
    center = (cx + origin[0]) * e1 + (cy + origin[1]) * e2 + up * ((top + bottom) / 2)
    rotation = np.stack([major, cross3(up, major), up], axis=1)
    return OrientedBox(center, rotation, np.array([size_u, size_v, top - bottom]))


def extend_box_down(box: OrientedBox, level: float) -> OrientedBox:
    """``box`` with its bottom face moved down to ``level`` along its third (up) axis.

    For gravity-aligned boxes (``box.rotation[:, 2]`` is up): ``level`` is a
    height ``p @ up`` in metres, e.g. ``-offset`` of a support plane whose unit
    normal is ``up``, or the top of an object underneath. A level at or above
    the bottom face returns ``box`` unchanged (boxes never shrink).
    """
    up = box.rotation[:, 2]
    mid = float(box.center @ up)
    top, bottom = mid + box.extent[2] / 2, mid - box.extent[2] / 2
    if level >= bottom:
        return box
    center = box.center + up * ((top + level) / 2 - mid)
    return OrientedBox(center, box.rotation, np.array([box.extent[0], box.extent[1], top - level]))
