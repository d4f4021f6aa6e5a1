"""Colour split: a region cut by a crease that does not close (two flush box faces
of different colour) is split along the colour boundary between the two surfaces.
Colour is CIELAB a*b* without lightness, so a printed or striped object stays one."""
from __future__ import annotations

import math

import numpy as np

from ...geometry.filters import median_of
from .grid import GridScene, pixels_of

__all__ = ["colour_similarity", "colour_split", "two_means"]


def colour_split(g: GridScene, labels: np.ndarray, cuts: np.ndarray,
                 window: tuple[slice, slice] | None = None) -> np.ndarray:
    """Split regions in two by colour where an unclosed geometric cut supports it.

    ``window``: grid rows and columns holding every labelled pixel with at least
    ``2 * crease_baseline + 2`` pixels to spare (work outside it is skipped)."""
    import cv2
    from scipy.ndimage import find_objects

    k = g.cfg.crease_baseline
    win = np.ones((4 * k + 3, 4 * k + 3), np.uint8)
    window = window or (slice(0, labels.shape[0]), slice(0, labels.shape[1]))
    crop = labels[window]
    lab16 = crop.astype(np.uint16)
    # Cut pixels with no other region within two crease baselines: the cut did
    # not separate anything. Cuts along the outline between two regions (an
    # occluder's edge) do not count.
    others = np.where(crop > 0, lab16, np.uint16(65535))
    internal = np.zeros(labels.shape, bool)
    internal[window] = (cuts[window] & (crop > 0)
                        & (cv2.dilate(lab16, win) == cv2.erode(others, win)))
    n = int(labels.max()) + 1
    counts = np.bincount(crop[internal[window]], minlength=n)
    out = labels
    next_label = n
    tried = np.flatnonzero(counts >= max(4, 2 * k))
    boxes = find_objects(crop, max_label=int(tried.max())) if tried.size else []
    y0, x0 = window[0].start, window[1].start
    for r in tried:
        if boxes[r - 1] is None:
            continue
        rows, cols = boxes[r - 1]
        box = (slice(rows.start + y0, rows.stop + y0), slice(cols.start + x0, cols.stop + x0))
        split = try_colour_split(g, out, int(r), internal, box)
        if split is not None:
            out = out.copy() if out is labels else out
            out[split] = next_label
            next_label += 1
    return out


def try_colour_split(g: GridScene, labels: np.ndarray, r: int, internal: np.ndarray,
                     box: tuple[slice, slice]) -> np.ndarray | None:
    """``bool[h, w]`` part of region ``r`` (inside grid ``box``) to split off, or None.

    The unclosed crease inside the region separates two surfaces: the pixels
    near it are grouped into two colours (CIELAB a*b*, 2-means), which must
    lie on differently oriented surfaces, and each pixel of the region joins
    the nearer colour (connected to the crease). Colour so
    completes the cut where geometry is silent, e.g. between two flush box
    faces. The split is kept only if the two parts differ in colour, so a
    crease inside one object (a bowl) does not split it.
    """
    import cv2

    cfg = g.cfg
    k = cfg.crease_baseline
    pad = 2
    rows, cols = box
    y0, y1 = max(0, rows.start - pad), min(labels.shape[0], rows.stop + pad)
    x0, x1 = max(0, cols.start - pad), min(labels.shape[1], cols.stop + pad)
    reg = labels[y0:y1, x0:x1] == r  # the region's box only: much less to scan
    # The longest connected piece of the internal cut must be a line of its own,
    # not a few noisy crease pixels (the usual way out, so tested first).
    # (Pieces up to two pixels apart count as one line: noise breaks creases.)
    inner = internal[y0:y1, x0:x1] & reg
    n_c, comp, stats, _ = cv2.connectedComponentsWithStats(
        cv2.dilate(inner.view(np.uint8), np.ones((3, 3), np.uint8)), connectivity=8)
    if n_c < 2:
        return None
    longest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    extent = max(stats[longest, cv2.CC_STAT_WIDTH], stats[longest, cv2.CC_STAT_HEIGHT]) - 2
    if extent < 4 * k + 2:
        return None
    ys, xs = pixels_of(reg)
    min_px = float(g.min_pixels(median_of(g.z[y0:y1, x0:x1][ys, xs])))
    if ys.size < 2 * min_px:
        return None
    crease = (comp == longest) & inner
    near = (cv2.dilate(crease.view(np.uint8), np.ones((2 * k + 3, 2 * k + 3), np.uint8)) > 0)
    ok = g.normals_ok[y0:y1, x0:x1]
    ring = near & reg & ~crease & ok
    if ring.sum() < 8:
        return None
    # The two colours around the crease ...
    lab = g.lab_of(slice(y0, y1), slice(x0, x1))
    ab = lab[:, :, 1:].astype(np.float32)
    rv, ru = pixels_of(ring)
    side = two_means(ab[rv, ru])
    if side is None:
        return None
    c1 = ab[rv[~side], ru[~side]].mean(axis=0)
    c2 = ab[rv[side], ru[side]].mean(axis=0)
    if float(np.linalg.norm(c1 - c2)) < cfg.colour_min_distance:
        return None
    # ... must lie on two differently oriented surfaces (geometry supports the cut).
    nrm = np.stack([n[y0:y1, x0:x1][rv, ru] for n in g.normals], axis=1)
    n1, n2 = nrm[~side].mean(axis=0), nrm[side].mean(axis=0)
    cos = float(n1 @ n2) / max(1e-9, float(np.linalg.norm(n1) * np.linalg.norm(n2)))
    if cos > math.cos(math.radians(20)):
        return None
    # Every pixel of the region takes the nearer of the two colours.
    nearer2 = _squared_distance(ab, c2) < _squared_distance(ab, c1)
    nearer2 = cv2.medianBlur(nearer2.astype(np.uint8), 5).view(bool) & reg
    parts = []
    for m, seed in ((reg & ~nearer2, (rv[~side], ru[~side])), (nearer2, (rv[side], ru[side]))):
        n_p, comp_p = cv2.connectedComponents(m.view(np.uint8), connectivity=4)
        ids = comp_p[seed]
        ids = ids[ids > 0]
        if n_p < 2 or ids.size == 0:
            return None
        parts.append(comp_p == np.bincount(ids).argmax())
    # Pixels in neither connected colour patch go to the nearer patch.
    # (Two plain distance transforms: several times faster than one with labels.)
    d1 = cv2.distanceTransform((~parts[0]).view(np.uint8), cv2.DIST_L2, 3)
    d2 = cv2.distanceTransform((~parts[1]).view(np.uint8), cv2.DIST_L2, 3)
    part = reg & (d2 < d1)
    rest = reg & ~part
    n_part, n_rest = int(part.sum()), int(rest.sum())
    if min(n_part, n_rest) < max(min_px, 0.1 * reg.sum()):
        return None
    sim = colour_similarity(lab[part], lab[rest])
    if sim >= cfg.merge_colour_similarity:
        return None
    out = np.zeros(labels.shape, bool)
    out[y0:y1, x0:x1] = part
    return out


def two_means(ab: np.ndarray, iterations: int = 8) -> np.ndarray | None:
    """``bool[M]`` 2-means assignment of ``float32[M, 2]`` colours (None if degenerate)."""
    if ab.shape[0] < 4:
        return None
    centre = ab.mean(axis=0)
    d = ab - centre
    cov = np.array([[(d[:, 0] ** 2).mean(), (d[:, 0] * d[:, 1]).mean()],
                    [(d[:, 0] * d[:, 1]).mean(), (d[:, 1] ** 2).mean()]])
    axis = np.linalg.eigh(cov)[1][:, -1].astype(np.float32)
    proj = d[:, 0] * axis[0] + d[:, 1] * axis[1]
    assign = proj > 0
    for _ in range(iterations):
        if assign.all() or not assign.any():
            return None
        c0, c1 = ab[~assign].mean(axis=0), ab[assign].mean(axis=0)
        new = _squared_distance(ab, c1) < _squared_distance(ab, c0)
        if np.array_equal(new, assign):
            break
        assign = new
    if assign.all() or not assign.any():
        return None
    return assign


def _squared_distance(ab: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """``((ab - centre) ** 2).sum(axis=-1)`` of ``[..., 2]`` colours: the same two squares
    and one sum, without numpy's slow reduction over a 2-long last axis."""
    d = ab - centre
    a, b = d[..., 0], d[..., 1]
    return a * a + b * b


def colour_histogram(lab: np.ndarray) -> np.ndarray:
    """``float64[64]`` normalised 8 x 8 histogram of CIELAB a*b* of ``uint8[M, 3]`` pixels.

    Lightness is left out: shading and printed brightness patterns do not
    change an object's colour.
    """
    key = (lab[:, 1] >> 5).astype(np.int64) * 8 + (lab[:, 2] >> 5)
    hist = np.bincount(key, minlength=64).astype(np.float64)
    return hist / max(hist.sum(), 1.0)


def colour_similarity(lab_a: np.ndarray, lab_b: np.ndarray) -> float:
    """Histogram intersection in [0, 1] of two sets of ``uint8[M, 3]`` CIELAB pixels."""
    return float(np.minimum(colour_histogram(lab_a), colour_histogram(lab_b)).sum())
