"""The 3D side of the per-object scores: GT visible-surface centroids and oriented boxes."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..geometry.transforms import quaternion_to_rotation_matrix
from ..metrics.geometry3d import OrientedBox3D
from ..results import SceneObject

__all__ = ["gt_box", "pred_box", "visible_centroids"]


def gt_box(annotation: Mapping[str, Any] | None) -> OrientedBox3D | None:
    """The annotation's whole-object box in the camera frame, or None if it has none."""
    if not annotation or not all(k in annotation for k in
                                 ("box_center_camera", "quaternion_camera", "extents")):
        return None
    try:
        return OrientedBox3D(np.asarray(annotation["box_center_camera"], np.float64),
                             quaternion_to_rotation_matrix(annotation["quaternion_camera"]),
                             np.asarray(annotation["extents"], np.float64))
    except ValueError:  # a degenerate box or quaternion
        return None


def pred_box(obj: SceneObject | None) -> OrientedBox3D | None:
    """The pipeline's oriented box of ``obj``, or None without geometry."""
    if obj is None or obj.geometry is None:
        return None
    try:
        return OrientedBox3D.from_geometry(obj.geometry)
    except ValueError:  # degenerate box of a tiny cloud
        return None


def visible_centroids(masks: np.ndarray, depth: np.ndarray, K: Any) -> np.ndarray:
    """``float64[N, 3]`` mean back-projected point (camera frame, metres) of each mask's
    pixels with depth > 0; NaN rows for masks without any.

    ``x = (u - cx) z / fx``, ``y = (v - cy) z / fy``; computed with pixel sums, so no
    per-pixel Python loop and no point arrays.
    """
    n = masks.shape[0]
    if n == 0:
        return np.zeros((0, 3))
    h, w = depth.shape
    z = np.where(depth > 0, depth, 0.0).astype(np.float64)
    # float64 rays, not the float32 CameraIntrinsics.pixel_rays(): those move a centroid
    # error of a few mm by up to 5e-6 relative (measured on simulated frames).
    x = ((np.arange(w, dtype=np.float64) - K.cx) / K.fx)[None, :] * z
    y = ((np.arange(h, dtype=np.float64) - K.cy) / K.fy)[:, None] * z
    valid = (masks & (z > 0)[None]).reshape(n, h * w).astype(np.float64)
    count = valid.sum(axis=1)
    sums = valid @ np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count[:, None] > 0, sums / count[:, None], np.nan)
