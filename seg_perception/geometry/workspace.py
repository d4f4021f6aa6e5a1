"""The workspace: the support surface(s) objects may stand on, and which objects do.

A live camera sees walls, floor, chairs and other tables beside the one the robot
works on. An object counts only if its footprint (its points dropped along the
plane normal onto the support plane) lies on a workspace surface's extent plus a
margin. Used by the pipeline for backends that do not apply the rule themselves
(learned models); the geometric segmenter applies the same surfaces on its grid.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..results import Plane
from .plane import SurfaceExtent, depth_noise_from_residuals

if TYPE_CHECKING:
    from ..frames import RGBDFrame

__all__ = ["WORKSPACES", "Extents", "instances_on_workspace", "surface_extents"]

WORKSPACES = ("largest_surface", "all_surfaces")

# A support surface smaller than this (square metres) is not a place to put objects on.
MIN_SURFACE_M2 = 0.01


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
                    bridge: np.ndarray | None = None) -> tuple[Extents | None, np.ndarray]:
    """The workspace surfaces among the support-plane pixels ``support`` (``bool[h, w]``,
    with their camera-frame coordinates ``x, y, z`` on that grid of focal lengths
    ``fx, fy``).

    Surfaces are the connected pieces of ``support`` (gaps of a pixel, noise and
    missing depth, closed); ``largest_surface`` keeps the piece the camera sees most
    of, ``all_surfaces`` every piece of at least 0.01 m², each with its own extent
    (a chair between two tables is on neither). ``bridge`` (``bool[h, w]``): pixels
    that may connect pieces without being support, e.g. no depth (a shadow or a
    cable across the table does not cut it in two). Returns the extents (None if there is
    no support) and ``bool[h, w]``: the support pixels of the chosen surfaces.
    """
    import cv2

    if workspace not in WORKSPACES:
        raise ValueError(f"workspace {workspace!r}: choose one of {', '.join(WORKSPACES)}")
    support = np.ascontiguousarray(support, bool)
    if not support.any():
        return None, np.zeros(support.shape, bool)
    joined = support if bridge is None else support | np.asarray(bridge, bool)
    closed = cv2.morphologyEx(joined.view(np.uint8), cv2.MORPH_CLOSE,
                              np.ones((3, 3), np.uint8))
    n, comp = cv2.connectedComponents(closed, connectivity=8)
    comp = np.where(support, comp, 0)
    if workspace == "largest_surface":
        seen = np.bincount(comp[support], minlength=n)  # support pixels, not bridges
        chosen = [1 + int(np.argmax(seen[1:]))] if n > 1 else []
    else:
        sel = np.flatnonzero(support)
        zs = z.ravel()[sel].astype(np.float64)
        # Square metres a pixel covers seen face-on: a lower bound (oblique covers more).
        area = np.bincount(comp.ravel()[sel], weights=zs * zs / (fx * fy), minlength=n)
        chosen = [c for c in range(1, n) if area[c] >= MIN_SURFACE_M2]
    extents = []
    for c in chosen:
        sv, su = np.nonzero(comp[::2, ::2] == c)  # every 2nd pixel outlines a surface
        if sv.size >= 3:
            sv, su = sv * 2, su * 2
            pts = np.stack([x[sv, su], y[sv, su], z[sv, su]], axis=1)
            extents.append(SurfaceExtent(pts, plane, margin))
    mine = (comp == chosen[0]) if len(chosen) == 1 else np.isin(comp, chosen)
    return (Extents(extents) if extents else None), support & mine


def footprints(x: np.ndarray, y: np.ndarray, z: np.ndarray, height: np.ndarray,
               plane: Plane) -> np.ndarray:
    """Points ``(x, y, z)`` at ``height`` above ``plane`` dropped onto it: ``float32[M, 3]``."""
    nrm = np.asarray(plane.normal, np.float32)
    return np.stack([x - height * nrm[0], y - height * nrm[1], z - height * nrm[2]], axis=1)


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
    extents, _ = surface_extents(support, x, y, z, fx, fy, plane, workspace, margin,
                                 bridge=~valid)
    if extents is None:
        return keep
    sel = np.flatnonzero(valid & (lab > 0) & (lab <= count))
    if sel.size == 0:
        return keep
    foot = footprints(x.ravel()[sel], y.ravel()[sel], z.ravel()[sel], height.ravel()[sel],
                      plane)
    with np.errstate(divide="ignore", invalid="ignore"):
        fu = np.float32(fx) * foot[:, 0] / foot[:, 2] + np.float32(cx)
        fv = np.float32(fy) * foot[:, 1] / foot[:, 2] + np.float32(cy)
    h, w = z.shape
    in_view = (foot[:, 2] > 0) & (fu >= -0.5) & (fu < w - 0.5) & (fv >= -0.5) & (fv < h - 0.5)
    ids = lab.ravel()[sel].astype(np.int64)[in_view]
    on = extents.contains(foot[in_view]).astype(np.float64)
    seen = np.bincount(ids, minlength=count + 1)[1:]
    frac = np.bincount(ids, weights=on, minlength=count + 1)[1:] / np.maximum(seen, 1)
    keep[(seen > 0) & (frac < min_fraction)] = False
    return keep
