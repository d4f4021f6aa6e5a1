"""Pinhole back-projection (metres, camera optical frame)."""
from __future__ import annotations

import numpy as np

from ..frames import CameraIntrinsics

__all__ = ["depth_to_points", "depth_to_xyz_image"]


def depth_to_xyz_image(depth: np.ndarray, intrinsics: CameraIntrinsics) -> np.ndarray:
    """Organised point image ``float32[H, W, 3]``; invalid pixels (depth 0) give (0, 0, 0).

    ``z = depth``, ``x = (u - cx) z / fx``, ``y = (v - cy) z / fy``.
    """
    u, v = intrinsics.pixel_rays()
    z = depth.astype(np.float32, copy=False)
    xyz = np.empty(depth.shape + (3,), np.float32)
    np.multiply(z, u[None, :], out=xyz[:, :, 0])
    np.multiply(z, v[:, None], out=xyz[:, :, 1])
    xyz[:, :, 2] = z
    return xyz


def depth_to_points(depth: np.ndarray, intrinsics: CameraIntrinsics,
                    mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Back-project valid pixels (optionally only inside ``mask``).

    Returns:
        points: ``float32[M, 3]`` metres, camera optical frame.
        pixels: ``int64[M]`` flat pixel indices ``v * W + u`` of each point,
            so callers can look up colours or labels without copies of images.
    """
    valid = depth > 0
    if mask is not None:
        valid &= mask
    pixels = np.flatnonzero(valid)
    rows, cols = np.divmod(pixels, intrinsics.width)
    z = depth.reshape(-1)[pixels].astype(np.float32, copy=False)
    u, v = intrinsics.pixel_rays()
    points = np.stack([u[cols] * z, v[rows] * z, z], axis=1)
    return points, pixels

