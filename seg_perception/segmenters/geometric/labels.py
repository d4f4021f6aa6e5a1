"""Labels at the frame's resolution: grid labels pasted back (outlines checked at full
resolution), and one mask per object."""
from __future__ import annotations

import math

import numpy as np

from ...frames import RGBDFrame
from ...results import InstanceMasks, Plane
from .config import GeometricConfig
from .grid import bounding_window, pixels_of, ray_terms

__all__ = ["instances", "upsample_labels"]

_BASE_K = 1.0
"""Noise sigmas above the support plane that an outline pixel next to an object must
be to join it (the plain test asks ``noise_k`` sigmas, at least ``min_height``). One
sigma: more likely above the plane than on it; the depth continuity with the object
pixel beside it does the rest (a noisy table hides more of a base than two sigmas
gave back)."""

_RING = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]


def upsample_labels(grid_labels: np.ndarray, stride: int, plane: Plane | None,
                    frame: RGBDFrame, config: GeometricConfig,
                    noise: np.ndarray | None = None
                    ) -> tuple[np.ndarray, tuple[slice, slice]]:
    """``(uint16[H, W] full-resolution labels, the window holding every labelled pixel)``:
    nearest grid label, checked against full depth.

    Only that window (the bounding box of all objects plus a margin) is processed at
    full size. ``noise``: the grid's depth noise at 1 m per pixel (else
    ``config.noise_at_1m``).
    """
    import cv2

    s = stride
    labels = grid_labels.astype(np.uint16)
    H, W = frame.height, frame.width
    if s == 1:
        return labels, (slice(0, H), slice(0, W))
    out = np.zeros((H, W), np.uint16)
    if plane is None or not labels.any():
        return out, (slice(0, 0), slice(0, 0))
    rows, cols = bounding_window(labels, margin=1)
    gy0, gy1, gx0, gx1 = rows.start, rows.stop, cols.start, cols.stop
    y0, x0 = gy0 * s, gx0 * s
    y1, x1 = min(H, gy1 * s), min(W, gx1 * s)
    up = cv2.resize(labels[gy0:gy1, gx0:gx1], ((gx1 - gx0) * s, (gy1 - gy0) * s),
                    interpolation=cv2.INTER_NEAREST)[:y1 - y0, :x1 - x0]
    # Full-resolution check: a pixel keeps the nearest grid label only if it is
    # itself above the support plane (object outlines at full resolution). Depth,
    # height and noise are looked up only at the pixels tested (outline bands).
    depth = frame.depth[y0:y1, x0:x1]
    along_u, along_v = ray_terms(frame.intrinsics, plane)
    along_u, along_v = along_u[x0:x1], along_v[y0:y1]
    offset = np.float32(plane.offset)
    if noise is not None:
        a = cv2.resize(np.ascontiguousarray(noise[gy0:gy1, gx0:gx1]),
                       ((gx1 - gx0) * s, (gy1 - gy0) * s),
                       interpolation=cv2.INTER_NEAREST)[:y1 - y0, :x1 - x0]

    def at(ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, ...]:
        """``(depth, height, sigma, tolerance)`` at window pixels ``ys, xs``."""
        z = depth[ys, xs]
        height = z * (along_u[xs] + along_v[ys]) + offset
        sigma = config.sigma(z) if noise is None else a[ys, xs] * z * z
        tol = np.maximum(np.float32(config.min_height), np.float32(config.noise_k) * sigma)
        return z, height, sigma, tol

    def in_range(z: np.ndarray) -> np.ndarray:
        return (z >= np.float32(config.min_depth)) & (z <= np.float32(config.max_depth))

    # Inside an object (its grid label on all 8 grid neighbours) the grid has decided:
    # a pixel there that is noisy, just under the height tolerance (a plate's top) or
    # without depth (a sensor dropout on a dark or shiny surface) is still the object.
    # Only the outline band is checked at full resolution.
    crop = labels[gy0:gy1, gx0:gx1]
    box3 = np.ones((3, 3), np.uint8)
    interior = (crop > 0) & (cv2.erode(crop, box3) == cv2.dilate(crop, box3))
    inner = cv2.resize(interior.view(np.uint8), ((gx1 - gx0) * s, (gy1 - gy0) * s),
                       interpolation=cv2.INTER_NEAREST)[:y1 - y0, :x1 - x0].view(bool)
    fine = np.zeros(up.shape, np.uint16)
    np.copyto(fine, up, where=inner)
    # Object pixels just outside the grid outline take the neighbouring label
    # (nearest-neighbour upsampling rounds outlines to the grid).
    grown = cv2.dilate(up, np.ones((2 * s - 1, 2 * s - 1), np.uint8))
    ys, xs = pixels_of((grown > 0) & ~inner)
    z, height, _, tol = at(ys, xs)
    ok = (height > tol) & in_range(z)
    ys, xs = ys[ok], xs[ok]
    own = up[ys, xs]
    fine[ys, xs] = np.where(own > 0, own, grown[ys, xs])
    # An object's base: its sides reach down to the support, through the band under
    # the height tolerance that the test above cuts off (a few pixels of every outline
    # against the table). Grown back by up to one grid cell (``stride`` pixels, what
    # the grid could not see) into pixels still _BASE_K noise sigmas above the plane
    # that continue the neighbouring object pixel's depth (within the noise of two
    # pixels): not the table in front of it, not a flying pixel at a back edge.
    # Only the pixels within one grid cell of an object are looked at.
    has = (fine > 0).view(np.uint8)
    band = cv2.dilate(has, np.ones((2 * s + 1, 2 * s + 1), np.uint8)) > has
    band[[0, -1], :] = False  # (neighbours below are read without bounds checks)
    band[:, [0, -1]] = False
    ys, xs = pixels_of(band)
    zb, hb, sigma, tol = at(ys, xs)
    keep = (hb > np.float32(_BASE_K) * sigma) & (hb <= tol) & in_range(zb)
    ys, xs, zb = ys[keep], xs[keep], zb[keep]
    step = np.float32(config.noise_k * math.sqrt(2.0)) * sigma[keep]
    for _ in range(s):  # one pixel ring per pass, all of a ring at once
        if ys.size == 0:
            break
        best = np.zeros(ys.size, fine.dtype)
        for dy, dx in _RING:
            yy, xx = ys + dy, xs + dx
            lab = fine[yy, xx]
            take = (lab > best) & (np.abs(depth[yy, xx] - zb) <= step)
            best = np.where(take, lab, best)
        new = best > 0
        fine[ys[new], xs[new]] = best[new]
        ys, xs, zb, step = ys[~new], xs[~new], zb[~new], step[~new]
    out[y0:y1, x0:x1] = fine
    return out, (slice(y0, y1), slice(x0, x1))


def instances(labels: np.ndarray, n: int,
              window: tuple[slice, slice] | None = None) -> InstanceMasks:
    """One instance per label ``1..n`` present, with exact boxes (one pass over
    ``window``, the part of the image holding every label, finds them), kept as the
    label image itself: no masks are made (issue 21)."""
    from scipy.ndimage import find_objects

    if n == 0:
        return InstanceMasks.empty(*labels.shape)
    rows0, cols0 = window or (slice(0, labels.shape[0]), slice(0, labels.shape[1]))
    y0, x0 = rows0.start or 0, cols0.start or 0
    found = [(i, sl) for i, sl in enumerate(find_objects(labels[rows0, cols0], max_label=n), 1)
             if sl is not None]
    if not found:
        return InstanceMasks.empty(*labels.shape)
    boxes = [(cols.start + x0, rows.start + y0, cols.stop + x0, rows.stop + y0)
             for _, (rows, cols) in found]
    return InstanceMasks.from_labels(labels, [i for i, _ in found], tight_boxes=boxes)

