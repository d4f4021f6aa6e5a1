"""Top-down parallel-jaw grasp candidates from an object's oriented box.

The grasp comes straight down onto the centre of the object's top surface
and closes across the box's narrower horizontal side, the usual first guess
for picking boxes, cans and bottles off a table. All values are metres in the
frame of the :class:`~seg_perception.results.ObjectGeometry` (the camera
optical frame unless it was transformed).

Example:
    >>> import numpy as np
    >>> from seg_perception.results import ObjectGeometry
    >>> g = ObjectGeometry(points=np.zeros((1, 3), np.float32), colors=None,
    ...                    centroid=np.zeros(3), box_center=np.array([0.0, 0.0, 0.05]),
    ...                    box_rotation=np.eye(3), box_extent=np.array([0.10, 0.04, 0.10]),
    ...                    principal_axes=np.eye(3), top_normal=np.array([0.0, 0.0, 1.0]))
    >>> grasp = top_down_grasp(g)
    >>> grasp.point.tolist(), grasp.axis.tolist(), round(grasp.width, 3)
    ([0.0, 0.0, 0.1], [0.0, 1.0, 0.0], 0.04)
"""
from __future__ import annotations

import numpy as np

from ..results import ObjectGeometry, TopDownGrasp

__all__ = ["TopDownGrasp", "top_down_grasp"]


def _canonical_sign(v: np.ndarray) -> np.ndarray:
    for c in v:
        if abs(c) > 1e-9:
            return v if c > 0 else -v
    return v


def top_down_grasp(geometry: ObjectGeometry) -> TopDownGrasp:
    """Grasp ``geometry`` from above its top surface, closing across its narrow side.

    Uses the oriented box and ``top_normal``: for a gravity-aligned box (and a
    PCA box, whose minor axis is the normal) one box axis is the normal and the
    two others are horizontal; the narrower of those is the closing axis. For
    any other box the two axes most perpendicular to the normal are projected
    onto the horizontal plane, and widths are the box's extents along the
    resulting directions.
    """
    n = np.asarray(geometry.top_normal, np.float64)
    n = n / np.linalg.norm(n)
    R = np.asarray(geometry.box_rotation, np.float64)
    extent = np.asarray(geometry.box_extent, np.float64)

    def extent_along(d: np.ndarray) -> float:  # support width of the box along unit d
        return float(np.abs(R.T @ d) @ extent)

    height = extent_along(n)
    point = np.asarray(geometry.box_center, np.float64) + n * height / 2
    order = np.argsort(np.abs(R.T @ n), kind="stable")  # most horizontal axes first
    candidates = []
    for i in order[:2]:
        d = R[:, i] - (R[:, i] @ n) * n
        d /= np.linalg.norm(d)
        candidates.append((extent_along(d), int(i), d))
    width, _, axis = min(candidates, key=lambda c: (c[0], c[1]))
    axis = _canonical_sign(axis)
    return TopDownGrasp(point=point, approach=-n, axis=axis, width=width, height=height)
