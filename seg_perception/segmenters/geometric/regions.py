"""Object regions on the grid: cut the candidate pixels (above the support plane)
along depth discontinuities and concave creases, label what is left, then the
colour split, the merges and the filters (steps 4-8 of the package docstring)."""
from __future__ import annotations

import math

import numpy as np

from ...geometry.cluster import concave_edges, depth_edges, label_regions
from .colour import colour_split
from .grid import GridScene, bounding_window, eroded, pixels_of
from .merge import merge_regions
from .timing import StageTimer
from .workspace import filter_regions

__all__ = ["colour_edges", "crease_threshold", "grown_labels", "segment_objects"]

_LOW_STEP_MIN_COLOUR_STEP = 20.0
"""CIELAB change (0-255 scale, any channel; 20 ~ 8 L* units) within 3 x 3 pixels that
a low depth step (``jump_slope_ratio``) needs to be a cut."""


def segment_objects(g: GridScene, timer: StageTimer
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(int32[h, w] object labels 1..N, workspace, background)`` on the grid (see
    :func:`.workspace.filter_regions`); each step's time goes to ``timer``."""
    cfg = g.cfg
    k = cfg.crease_baseline
    reassign_radius = 2 * k + 1.5 + cfg.seed_erosion
    # Cuts and regions only where candidates are: the window around them (with room for
    # every neighbourhood these steps read) gives the same result as the whole grid.
    win = bounding_window(g.candidates, margin=int(math.ceil(reassign_radius)) + 2 * k + 2)
    cuts = _cuts(g, win)
    timer.lap("edges")
    candidates = g.candidates[win]
    far = float(np.max(g.z[win], where=candidates, initial=0.0)) or 1.0
    labels = np.zeros(g.z.shape, np.int32)
    seeds = np.zeros(g.z.shape, bool)
    if candidates.size:
        labels[win] = label_regions(candidates, cuts[win],
                                    min_pixels=max(3, int(g.min_pixels(far)) // 4),
                                    reassign_radius=reassign_radius, depth=g.z[win],
                                    depth_tolerance=g.jump[win], erode=cfg.seed_erosion)
        seeds[win] = eroded(candidates & ~cuts[win], cfg.seed_erosion)
        unlabelled = candidates & (labels[win] == 0)
    timer.lap("components")
    if cfg.colour_split and labels.max() > 0:
        labels = colour_split(g, labels, cuts, win)
        timer.lap("colour_split")
    if (cfg.merge_bridged or cfg.merge_occluded) and labels.max() > 1:
        labels = merge_regions(g, labels, g.candidates & ~cuts, seeds, win)
        timer.lap("merge")
    labels, workspace, background = filter_regions(g, labels, win)
    if candidates.size:
        # Pixels the components stage left out (a cut pixel or crumb whose nearest seed
        # pixel is past a depth step: an object's side seen obliquely, a cup's inner
        # wall) join the object they continue, as far as that reassignment reaches.
        # After the merges and filters, so no two regions touch through them and no
        # rejected region's pixels are taken.
        labels[win] = grown_labels(labels[win], unlabelled, g.z[win], g.jump[win],
                                   int(reassign_radius))
    timer.lap("filter")
    return labels, workspace, background


def grown_labels(labels: np.ndarray, todo: np.ndarray, z: np.ndarray, tol: np.ndarray,
                 steps: int) -> np.ndarray:
    """``labels`` (``int32[h, w]``, 0 = none) grown into the unlabelled pixels of ``todo``
    one 4-neighbour ring per step, up to ``steps`` pixels: a pixel joins a labelled
    neighbour whose depth ``z`` it continues (step within ``tol``, metres, per pixel),
    the smallest step winning. Unlike the reassignment to the nearest seed pixel, which
    needs that one pixel's depth, this follows a surface over its depth slope."""
    out = labels.copy()
    idx = np.flatnonzero(todo & (out == 0))
    if idx.size == 0:
        return out
    h, w = out.shape
    ys, xs = np.divmod(idx, w)
    # Flat indices of the 4 neighbours; off the grid, the pixel itself (never labelled).
    nb = np.stack([np.where(ys > 0, idx - w, idx), np.where(ys < h - 1, idx + w, idx),
                   np.where(xs > 0, idx - 1, idx), np.where(xs < w - 1, idx + 1, idx)],
                  axis=1)
    zf, flat = z.ravel(), out.ravel()
    dz = np.abs(zf[nb] - zf[idx][:, None])
    dz[dz > tol.ravel()[idx][:, None]] = np.inf  # a depth step: never across it
    for _ in range(steps):
        near = flat[nb]  # labels before this step's assignments: one ring per step
        d = np.where(near > 0, dz, np.float32(np.inf))
        j = np.argmin(d, axis=1)
        rows = np.arange(idx.size)
        got = np.isfinite(d[rows, j])
        if not got.any():
            break
        flat[idx[got]] = near[rows, j][got]
        idx, nb, dz = idx[~got], nb[~got], dz[~got]
        if idx.size == 0:
            break
    return out


def _cuts(g: GridScene, win: tuple[slice, slice]) -> np.ndarray:
    """``bool[h, w]``: depth steps and concave creases between candidate pixels (within
    ``win``, which holds them all)."""
    cfg = g.cfg
    k = cfg.crease_baseline
    cuts = np.zeros(g.z.shape, bool)
    candidates, z, jump = g.candidates[win], g.z[win], g.jump[win]
    if candidates.size == 0:
        return cuts
    jumps = depth_edges(z, jump, g.valid[win], slope_ratio=cfg.jump_slope_ratio,
                        noise=_crop(g.step_noise, win)) & candidates
    creases = concave_edges([g.x[win], g.y[win], z], [n[win] for n in g.normals],
                            g.normals_ok[win] & candidates, baseline=k,
                            min_score=crease_threshold(g, win),
                            max_gap=jump * (2 * k))
    if cfg.jump_slope_ratio is not None:
        # Low steps that stand out from the slope on both sides (objects in a pile,
        # flush box faces) cut where the image shows an edge too: not the steps
        # between flat patches that depth noise makes on a dark or shiny face.
        low = jumps & ~creases & ~big_steps(z, g.valid[win], jump, jumps)
        if low.any():
            jumps &= ~low
            jumps |= colour_edges(g.lab_of(*win), low, _LOW_STEP_MIN_COLOUR_STEP)
    cuts[win] = jumps | creases
    return cuts


def _crop(value: np.ndarray | float, win: tuple[slice, slice]) -> np.ndarray | float:
    return value[win] if isinstance(value, np.ndarray) and value.ndim == 2 else value


def big_steps(z: np.ndarray, valid: np.ndarray, jump: np.ndarray, edges: np.ndarray
              ) -> np.ndarray:
    """``edges`` (far sides of depth steps, ``bool[h, w]``) whose step from a valid
    4-neighbour exceeds ``jump`` there: the plain test of :func:`depth_edges`."""
    ys, xs = pixels_of(edges)
    h, w = edges.shape
    # Neighbours off the grid are clipped onto the pixel itself: a step of 0.
    yy = np.clip(ys[:, None] + _DY4, 0, h - 1)
    xx = np.clip(xs[:, None] + _DX4, 0, w - 1)
    zn = np.where(valid[yy, xx], z[yy, xx], np.float32(np.inf))
    big = ((z[ys, xs] - jump[ys, xs])[:, None] > zn).any(axis=1)
    out = np.zeros(edges.shape, bool)
    out[ys[big], xs[big]] = True
    return out


def colour_edges(lab: np.ndarray, pixels: np.ndarray, min_step: float) -> np.ndarray:
    """``pixels`` (``bool[h, w]``) kept where CIELAB ``lab`` (``uint8[h, w, 3]``; any
    channel, 0-255 scale) changes by at least ``min_step`` within their 3 x 3
    neighbourhood: an edge in the image."""
    import cv2

    # Only around the pixels asked about (their 3 x 3 neighbourhoods lie inside).
    win = bounding_window(pixels, margin=1)
    if win[0].stop == 0:
        return np.zeros(pixels.shape, bool)
    box3 = np.ones((3, 3), np.uint8)
    crop = np.ascontiguousarray(lab[win])
    spread = cv2.split(cv2.subtract(cv2.dilate(crop, box3), cv2.erode(crop, box3)))
    largest = cv2.max(cv2.max(spread[0], spread[1]), spread[2])
    out = np.zeros(pixels.shape, bool)
    out[win] = pixels[win] & (largest >= min_step)
    return out


_DY4, _DX4 = np.array([[-1, 1, 0, 0]]), np.array([[0, 0, -1, 1]])


def crease_threshold(g: GridScene, win: tuple[slice, slice] | None = None
                     ) -> np.ndarray | np.float32:
    """``float32[h, w]`` (``win``: of that part of the grid; or one value for all): the
    smallest concave score taken as a crease at each pixel: ``crease_min_score``, or
    ``noise_k`` standard deviations of the score on a flat surface where the depth
    noise makes normals noisier than that.

    The normals are differences of box means (half-size ``s = normal_smoothing``)
    two grid pixels apart: on a plane with depth noise ``sigma`` and pixel
    spacing ``z / f``, each slope has noise ``sigma / (spacing (2 s + 1)^1.5)``;
    the score (a difference of two normals along one direction) has ``sqrt(2)``
    times that. A noisier camera, or the same camera farther away, so needs a
    sharper crease; nothing is cut by noise alone.
    """
    cfg = g.cfg
    f = np.float32(min(g.K.fx, g.K.fy))
    window = np.float32((2 * cfg.normal_smoothing + 1) ** 1.5)
    # sigma / spacing = a z^2 / (z / f) = a z f
    scale = np.float32(cfg.noise_k * math.sqrt(2.0) * cfg.noise_at_1m) * f / window
    if float(scale) * float(g.z.max(initial=0.0)) <= cfg.crease_min_score:
        return np.float32(cfg.crease_min_score)  # the noise is below it everywhere
    return np.maximum(np.float32(cfg.crease_min_score), scale * (g.z if win is None else g.z[win]))

