"""The workspace: the support surface(s) objects may stand on, and which objects do.

A live camera sees walls, floor, chairs and other tables beside the one the robot
works on. An object counts only if its footprint (its points dropped along the
plane normal onto the support plane) lies on a workspace surface's extent plus a
margin. Used by the pipeline for backends that do not apply the rule themselves
(learned models); the geometric segmenter applies the same surfaces on its grid.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..frames import CameraIntrinsics
from ..results import Plane
from .filters import median_of
from .plane import SurfaceExtent, depth_noise_from_residuals

if TYPE_CHECKING:
    from ..frames import RGBDFrame

__all__ = ["WORKSPACES", "Extents", "footprints", "in_view", "instances_on_workspace",
           "pixel_area", "row_ends", "surface_extents"]

WORKSPACES = ("largest_surface", "all_surfaces")

# A support surface smaller than this (square metres) is not a place to put objects on.
MIN_SURFACE_M2 = 0.01

# Missing depth at most this wide (metres: a cable, a shadow, a spill across the table)
# does not cut a surface in two. Wider missing depth joins nothing: the dropouts along
# occlusion edges and on dark furniture would otherwise chain the table to every band
# where a wall or a chair crosses its height.
MAX_GAP_M = 0.05


class Extents:
    """Several surface extents: a point is on the workspace if it is on any of them."""

    def __init__(self, extents: Sequence[SurfaceExtent]) -> None:
        self.extents = list(extents)

    def contains(self, points: np.ndarray) -> np.ndarray:
        out = self.extents[0].contains(points)
        for extent in self.extents[1:]:
            out |= extent.contains(points)
        return out


def surface_extents(support: np.ndarray, x: np.ndarray, y: np.ndarray, z: np.ndarray,
                    fx: float, fy: float, plane: Plane, workspace: str, margin: float,
                    bridge: np.ndarray | None = None, max_gap: float = MAX_GAP_M
                    ) -> tuple[Extents | None, np.ndarray]:
    """The workspace surfaces among the support-plane pixels ``support`` (``bool[h, w]``,
    with their camera-frame coordinates ``x, y, z`` on that grid of focal lengths
    ``fx, fy``).

    Surfaces are the connected pieces of ``support`` (gaps of a pixel, noise and
    missing depth, closed); ``largest_surface`` keeps the piece with the most support
    pixels, ``all_surfaces`` every piece of at least ``MIN_SURFACE_M2`` (0.01 m²),
    each with its own extent (a chair between two tables is on neither). ``bridge``
    (``bool[h, w]``): pixels that connect pieces without being support, e.g. no depth,
    where they fill a gap between support pixels at most ``max_gap`` metres wide at the
    support's median depth (default ``MAX_GAP_M``, 5 cm: a shadow or a cable across the
    table does not cut it in two; ``math.inf``: any bridge pixel connects). Returns the
    extents (None if there is no support) and ``bool[h, w]``: the support pixels of
    the chosen surfaces.

    Example:
        >>> import numpy as np
        >>> from seg_perception.results import Plane
        >>> z = np.ones((40, 60), np.float32)  # a table 1 m away, face-on: 1 cm a pixel
        >>> v, u = np.mgrid[0:40, 0:60].astype(np.float32)
        >>> x, y = (u - 30) / 100 * z, (v - 20) / 100 * z
        >>> support = np.ones(z.shape, bool)
        >>> support[:, 20:23] = False  # a 3 cm strip without depth across it
        >>> _, mine = surface_extents(support, x, y, z, 100.0, 100.0,
        ...                           Plane((0.0, 0.0, -1.0), 1.0), "largest_surface",
        ...                           margin=0.0, bridge=~support)
        >>> bool((mine == support).all())  # one surface: both sides of the strip
        True
    """
    import cv2

    if workspace not in WORKSPACES:
        raise ValueError(f"workspace {workspace!r}: choose one of {', '.join(WORKSPACES)}")
    support = np.ascontiguousarray(support, bool)
    if not support.any():
        return None, np.zeros(support.shape, bool)
    joined = support
    if bridge is not None:
        bridge = np.asarray(bridge, bool)
        if math.isfinite(max_gap):
            # A bridge pixel counts only between support pixels at most max_gap apart (in
            # pixels at the support's median depth): a closing of the support by that
            # width, nothing from beyond the image border.
            zs = z[::2, ::2][support[::2, ::2]]  # every 2nd pixel is plenty for a median
            far = median_of(zs if zs.size else z[support])
            r = max(1, math.ceil(max_gap * min(fx, fy) / max(far, 1e-3) / 2))
            spanned = cv2.morphologyEx(support.view(np.uint8), cv2.MORPH_CLOSE,
                                       np.ones((2 * r + 1, 2 * r + 1), np.uint8),
                                       borderType=cv2.BORDER_CONSTANT, borderValue=0)
            bridge = bridge & spanned.view(bool)
        joined = support | bridge
    closed = cv2.morphologyEx(joined.view(np.uint8), cv2.MORPH_CLOSE,
                              np.ones((3, 3), np.uint8))
    n, comp = cv2.connectedComponents(closed, connectivity=8)
    comp = np.where(support, comp, 0)
    if workspace == "largest_surface":
        seen = np.bincount(comp.ravel(), minlength=n)  # support pixels, not bridges (0)
        chosen = [1 + int(np.argmax(seen[1:]))] if n > 1 else []
    else:
        sel = np.flatnonzero(support)
        area = np.bincount(comp.ravel()[sel], weights=pixel_area(z.ravel()[sel], fx, fy),
                           minlength=n)
        chosen = [c for c in range(1, n) if area[c] >= MIN_SURFACE_M2]
    extents = []
    for c in chosen:
        piece = comp[::2, ::2] == c  # every 2nd pixel outlines a surface
        if np.count_nonzero(piece) >= 3:
            sv, su = row_ends(piece)
            sv, su = sv * 2, su * 2
            pts = np.stack([x[sv, su], y[sv, su], z[sv, su]], axis=1)
            extents.append(SurfaceExtent(pts, plane, margin))
    mine = (comp == chosen[0]) if len(chosen) == 1 else np.isin(comp, chosen)
    return (Extents(extents) if extents else None), support & mine


def row_ends(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, cols)``: the first and the last pixel of each row of ``bool[h, w]``
    ``mask`` that has any. They hold every vertex of the mask's convex hull, and so of
    its hull on a plane it lies on (the plane-to-image map keeps straight lines): a
    surface's extent from a few hundred points instead of every pixel."""
    rows = np.flatnonzero(mask.any(axis=1))
    inner = mask[rows]
    first = np.argmax(inner, axis=1)
    last = mask.shape[1] - 1 - np.argmax(inner[:, ::-1], axis=1)
    return np.concatenate([rows, rows]), np.concatenate([first, last])


def pixel_area(z: np.ndarray, fx: float, fy: float) -> np.ndarray:
    """``float64[M]`` square metres a pixel at depth ``z`` (metres) covers seen face-on,
    ``z^2 / (fx fy)``: a lower bound (an oblique surface covers more)."""
    zs = np.asarray(z, np.float64)
    return zs * zs / (fx * fy)


def footprints(x: np.ndarray, y: np.ndarray, z: np.ndarray, height: np.ndarray,
               plane: Plane) -> np.ndarray:
    """Points ``(x, y, z)`` at ``height`` above ``plane`` dropped onto it: ``float32[M, 3]``."""
    nrm = np.asarray(plane.normal, np.float32)
    return np.stack([x - height * nrm[0], y - height * nrm[1], z - height * nrm[2]], axis=1)


def in_view(points: np.ndarray, K: CameraIntrinsics) -> np.ndarray:
    """``bool[M]``: camera-frame ``float32[M, 3]`` points in front of the camera that
    project into its ``K.width x K.height`` image (``u = fx x / z + cx``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.float32(K.fx) * points[:, 0] / points[:, 2] + np.float32(K.cx)
        v = np.float32(K.fy) * points[:, 1] / points[:, 2] + np.float32(K.cy)
    return ((points[:, 2] > 0) & (u >= -0.5) & (u < K.width - 0.5)
            & (v >= -0.5) & (v < K.height - 0.5))


def instances_on_workspace(frame: "RGBDFrame", labels: np.ndarray, count: int, plane: Plane,
                           workspace: str = "largest_surface", margin: float = 0.05,
                           min_fraction: float = 0.5, noise_at_1m: float = 0.0015,
                           distance: float = 0.008, grid_width: int = 320) -> np.ndarray:
    """``bool[count]``: which instances of the label image ``labels`` (``1..count``,
    0 = none) stand on the workspace of ``frame`` (see :func:`surface_extents`).

    The support pixels are those within ``max(distance, 3 a z^2)`` of ``plane`` and
    in no instance, ``a`` the depth noise at 1 m measured on the plane (never below
    ``noise_at_1m``), on a grid of about ``grid_width`` columns. An
    instance is kept when at least ``min_fraction`` of its footprint points that the
    camera can see the place of lie on the extents. An instance with no depth, or
    whose footprint is all out of view, cannot be judged and is kept; so is every
    instance when no support is seen.
    """
    keep = np.ones(count, bool)
    if count == 0:
        return keep
    stride = max(1, int(round(frame.width / max(1, grid_width))))
    z = np.ascontiguousarray(frame.depth[::stride, ::stride], np.float32)
    lab = np.asarray(labels)[::stride, ::stride]
    K = frame.intrinsics
    fx, fy, cx, cy = K.fx / stride, K.fy / stride, K.cx / stride, K.cy / stride
    ru = (np.arange(z.shape[1], dtype=np.float32) - np.float32(cx)) / np.float32(fx)
    rv = (np.arange(z.shape[0], dtype=np.float32) - np.float32(cy)) / np.float32(fy)
    x, y = z * ru[None, :], z * rv[:, None]
    valid = np.isfinite(z) & (z > 0)
    nrm = np.asarray(plane.normal, np.float32)
    with np.errstate(invalid="ignore"):
        height = x * nrm[0] + y * nrm[1] + z * nrm[2] + np.float32(plane.offset)
        free = valid & (lab == 0)
        near = free & (np.abs(height) <= 0.05)
        a = depth_noise_from_residuals(height[near], z[near], noise_at_1m) if near.any() \
            else noise_at_1m
        tol = np.maximum(np.float32(distance), np.float32(3.0 * a) * z * z)
        support = free & (np.abs(height) <= tol)
    # Missing depth of any width bridges here: a learned model's masks (phantoms too)
    # cut the support, and its plane may be the floor. With MAX_GAP_M, maskrcnn_mobilenet
    # on the simulated live rooms: 309 -> 282 predictions but 75 -> 72 of 151 objects.
    extents, _ = surface_extents(support, x, y, z, fx, fy, plane, workspace, margin,
                                 bridge=~valid, max_gap=math.inf)
    if extents is None:
        return keep
    sel = np.flatnonzero(valid & (lab > 0) & (lab <= count))
    if sel.size == 0:
        return keep
    foot = footprints(x.ravel()[sel], y.ravel()[sel], z.ravel()[sel], height.ravel()[sel],
                      plane)
    seen_at = in_view(foot, CameraIntrinsics(z.shape[1], z.shape[0], fx, fy, cx, cy))
    ids = lab.ravel()[sel].astype(np.int64)[seen_at]
    on = extents.contains(foot[seen_at]).astype(np.float64)
    seen = np.bincount(ids, minlength=count + 1)[1:]
    frac = np.bincount(ids, weights=on, minlength=count + 1)[1:] / np.maximum(seen, 1)
    keep[(seen > 0) & (frac < min_fraction)] = False
    return keep
