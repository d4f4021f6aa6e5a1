"""Which regions are objects: plausible metric size, a footprint on the workspace
surface(s), and not part of a wall or furniture side (steps 7-8 of the package
docstring)."""
from __future__ import annotations

import math

import numpy as np

from ...geometry import workspace as ws
from .grid import GridScene, bounding_window, labelled_pixels, pixels_of

__all__ = ["filter_regions"]

def filter_regions(g: GridScene, labels: np.ndarray, window: tuple[slice, slice] | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep regions of plausible metric size whose footprint lies on the workspace
    surface and that are not part of a larger vertical plane; relabel 1..N.
    ``window``: grid rows and columns holding every labelled pixel (the per-pixel work
    is done there only).

    Returns ``(labels, workspace, background)``: ``bool[h, w]`` support pixels of the
    surface(s) objects may stand on, and regions rejected as part of a wall.
    """
    cfg = g.cfg
    # The pipeline's workspace rule for learned backends, on the grid: a narrow strip
    # without depth (a shadow, a cable) does not cut the table in two.
    extent, workspace = ws.surface_extents(g.support, g.x, g.y, g.z, g.K.fx, g.K.fy, g.plane,
                                           cfg.workspace, cfg.workspace_margin,
                                           bridge=~g.valid)
    background = np.zeros(g.z.shape, bool)
    n_lab = int(labels.max())
    if n_lab == 0:
        return labels, workspace, background
    window = window or (slice(0, labels.shape[0]), slice(0, labels.shape[1]))
    crop, sel_c, sel = labelled_pixels(labels, window)
    lab = crop.ravel()[sel_c]
    px, py, pz = g.x.ravel()[sel], g.y.ravel()[sel], g.z.ravel()[sel]
    counts = np.bincount(lab, minlength=n_lab + 1).astype(np.float64)
    safe = np.maximum(counts, 1)
    # Size from second moments (robust to a few flying pixels, no per-region sort):
    # a uniform extent L has variance L^2 / 12.
    coords = (px, py, pz)
    mean = [np.bincount(lab, weights=c, minlength=n_lab + 1) / safe for c in coords]
    cov = np.zeros((n_lab + 1, 3, 3))
    for i in range(3):
        for j in range(i, 3):
            m = np.bincount(lab, weights=coords[i] * coords[j], minlength=n_lab + 1) / safe
            cov[:, i, j] = cov[:, j, i] = m - mean[i] * mean[j]
    eigval, eigvec = np.linalg.eigh(cov)
    extent_m = np.sqrt(12.0 * np.clip(eigval[:, -1], 0, None))
    area = np.bincount(lab, weights=pixel_area(g, sel), minlength=n_lab + 1)
    # Footprint: each point dropped onto the plane must land on the workspace
    # surface's extent (every 2nd object pixel is enough).
    half = slice(None, None, 2)
    sel2, lab2 = sel[half], lab[half]
    foot, in_view = footprints(g, sel2)
    on_support = np.ones(sel2.size, np.float64)  # footprint out of view: cannot tell, accept
    if extent is None:
        on_support[in_view] = 0.0
    else:
        on_support[in_view] = extent.contains(foot[in_view])
    frac_on = np.bincount(lab2, weights=on_support, minlength=n_lab + 1) / np.maximum(
        np.bincount(lab2, minlength=n_lab + 1), 1)
    keep = ((counts >= cfg.min_points) & (area >= cfg.min_area)
            & (frac_on >= cfg.min_footprint_on_support)
            & (extent_m >= cfg.min_size) & (extent_m <= cfg.max_size))
    keep[0] = False
    thin = keep & under_the_band(g, lab, sel, n_lab + 1)
    keep &= ~like_the_support(g, labels, thin)
    if cfg.reject_wall_planes:
        wall = wall_like(g, labels, keep, np.stack(mean, axis=1), eigval, eigvec[:, :, 0])
        background[window] = np.take(wall, crop) & (crop > 0)
        keep &= ~wall
    lut = np.zeros(n_lab + 1, np.int32)
    lut[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    labels = np.zeros(labels.shape, np.int32)
    labels[window] = np.take(lut, crop)  # (np.take: a faster lookup than lut[crop])
    if (thin & keep).any():
        labels = grow_thin_tops(g, labels, lut[thin & keep], workspace)
    if keep.any():
        labels = fill_enclosed(g, labels)
    return labels, workspace, background


def fill_enclosed(g: GridScene, labels: np.ndarray) -> np.ndarray:
    """``labels`` with each unlabelled pocket that one object encloses on all sides
    given to it where it has depth and looks like the object, not the table (a mug's
    inside, whose floor is at table height; not the table seen through its handle).

    Pixels without depth stay unlabelled (real labels never hold them).
    """
    import cv2

    win = bounding_window(labels)
    if win[0].stop == 0:
        return labels
    crop = labels[win]  # a view: written through
    free = (crop == 0).view(np.uint8)
    n, comp, stats, _ = cv2.connectedComponentsWithStats(free, connectivity=4)
    h, w = crop.shape
    x0, y0, bw, bh = stats[:, 0], stats[:, 1], stats[:, 2], stats[:, 3]
    # Pockets that reach the window's edge are open to the rest of the image.
    inside = np.flatnonzero((x0 > 0) & (y0 > 0) & (x0 + bw < w) & (y0 + bh < h))
    inside = inside[inside > 0]
    if inside.size == 0:
        return labels
    # Labels 4-next to each pocket: one object encloses it if their min == max.
    # Only the pockets' own pixels are looked at (few: the rest is open table).
    is_in = np.zeros(n, bool)
    is_in[inside] = True
    py, px = pixels_of(np.take(is_in, comp))
    pc = comp[py, px]
    lab = g.lab_of(*win)
    big = np.int32(np.iinfo(np.int32).max)
    lo = np.full(n, big, np.int32)
    hi = np.zeros(n, np.int32)
    # The enclosing object's colour where it meets the pocket (a mug's rim).
    rim_n = np.zeros(n)
    rim = np.zeros((3, n))
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):  # inside pockets never touch the edge
        nb = crop[py + dy, px + dx]
        np.maximum.at(hi, pc, nb)
        np.minimum.at(lo, pc, np.where(nb > 0, nb, big))
        on = nb > 0
        rim_n += np.bincount(pc[on], minlength=n)
        col = lab[py[on] + dy, px[on] + dx]
        for c in range(3):
            rim[c] += np.bincount(pc[on], weights=col[:, c], minlength=n)
    one = is_in & (lo == hi)
    have = one[pc] & g.valid[win][py, px]
    py, px, pc = py[have], px[have], pc[have]
    if pc.size == 0:
        return labels
    # The pocket's mean colour against its object's and the table's (median of the
    # support pixels in the window, every 4th row and column).
    sub = (slice(None, None, 4), slice(None, None, 4))
    table_px = lab[sub][g.support[win][sub] & (crop[sub] == 0)]
    if len(table_px) < 8:
        return labels
    table = np.median(table_px, axis=0).astype(np.float64)
    cnt = np.bincount(pc, minlength=n)
    col = lab[py, px]
    pk = np.stack([np.bincount(pc, weights=col[:, c], minlength=n) for c in range(3)])
    pk /= np.maximum(cnt, 1)
    obj = rim / np.maximum(rim_n, 1)
    nearer = ((pk - obj) ** 2).sum(axis=0) < ((pk - table[:, None]) ** 2).sum(axis=0)
    take = np.where(one & (cnt > 0) & nearer, hi, 0)
    val = take[pc]
    crop[py[val > 0], px[val > 0]] = val[val > 0]
    return labels


def under_the_band(g: GridScene, lab: np.ndarray, sel: np.ndarray, n1: int) -> np.ndarray:
    """``bool[n1]``: regions whose pixels are mostly under the plane's noise band
    (``noise_k`` sigmas of the noise measured on the plane): found only because their
    own noise is lower (:func:`.noise.local_noise`)."""
    cfg = g.cfg
    plane_band = np.float32(cfg.noise_k) * cfg.sigma(g.z.ravel()[sel])
    above = np.bincount(lab, weights=g.height.ravel()[sel] > plane_band, minlength=n1)
    count = np.maximum(np.bincount(lab, minlength=n1), 1)
    return above < 0.5 * count


def grow_thin_tops(g: GridScene, labels: np.ndarray, ids: np.ndarray,
                   workspace: np.ndarray) -> np.ndarray:
    """``labels`` with each region ``ids`` (a thin object found under the plane's noise
    band: a book's top on a noisy table) grown over the workspace pixels of its colour
    connected to it.

    Only part of such an object's top clears the band; the rest is in it, so labelled
    support, though no less the object: depth cannot tell, colour can. A pixel joins
    if its CIELAB is within ``_MIN_COLOUR_CONTRAST`` of the region's mean colour and
    nearer to it than to the support's (median over the workspace: the table).
    """
    import cv2

    # Growth is into the workspace only: its bounding box (one pixel more) is enough.
    win = bounding_window(workspace, margin=1)
    if win[0].stop == 0:
        return labels
    lab = g.lab_of(*win)
    crop = labels[win]  # a view: written through
    free = workspace[win] & g.valid[win] & (crop == 0)
    sample = (slice(None, None, 8), slice(None, None, 8))
    table_px = free[sample]
    if np.count_nonzero(table_px) < 50:
        return labels
    table = np.median(lab[sample][table_px], axis=0)
    lab_f = lab.astype(np.float32)
    ones = np.ones((1, 3), np.float32)

    def dist2(colour: tuple[float, ...]) -> np.ndarray:  # squared CIELAB distance
        d = cv2.subtract(lab_f, (*colour[:3], 0.0))
        return cv2.transform(cv2.multiply(d, d), ones)

    d_table = dist2(tuple(float(c) for c in table))
    for i in ids.tolist():  # Python ints: label compares stay int32
        mine = (crop == i).view(np.uint8)
        if not mine.any():
            continue
        d_obj = dist2(cv2.mean(lab, mask=mine))
        ok = free & (d_obj < np.float32(_MIN_COLOUR_CONTRAST ** 2)) & (d_obj < d_table)
        n, comp = cv2.connectedComponents(ok.view(np.uint8) | mine, connectivity=4)
        reached = np.zeros(n, bool)
        reached[comp[mine.view(bool)]] = True
        grow = np.take(reached, comp) & ok
        if not _object_sized(g, win, grow | mine.view(bool)):
            continue  # a flood over a patterned table, not one object's top
        crop[grow] = i
        free &= ~grow
    return labels


def _object_sized(g: GridScene, win: tuple[slice, slice], mask: np.ndarray) -> bool:
    """The grid pixels ``mask`` (in the crop ``win``) span at most ``max_size`` metres
    along their major axis (the size test of :func:`filter_regions`)."""
    pts = np.stack([c[win][mask] for c in (g.x, g.y, g.z)], axis=1).astype(np.float64)
    if len(pts) < 2:
        return True
    largest = float(np.linalg.eigvalsh(np.cov(pts, rowvar=False, bias=True))[-1])
    return math.sqrt(12.0 * max(largest, 0.0)) <= g.cfg.max_size


def like_the_support(g: GridScene, labels: np.ndarray, doubtful_mask: np.ndarray
                     ) -> np.ndarray:
    """``bool[n + 1]``: of the regions ``doubtful_mask`` (kept ones that stand out of the
    plane only by their own, lower noise: :func:`under_the_band`), those that look like
    the support around them: a noise bump of a noisy table.

    A region whose pixels are mostly under the plane's noise band is a thin object on a
    dark table, or a stretch of the table where the local estimate came out low by
    chance. Only the object looks different: its mean CIELAB differs from the support
    pixels around it by at least ``_MIN_COLOUR_CONTRAST``.
    """
    import cv2

    out = np.zeros(doubtful_mask.shape, bool)
    doubtful = np.flatnonzero(doubtful_mask)
    if doubtful.size == 0:
        return out
    lab_img = g.lab_of(slice(None), slice(None))
    h, w = labels.shape
    r = _RING_PX
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    for i in doubtful.tolist():  # Python ints: label compares stay int32
        ys, xs = pixels_of(labels == i)
        y0, y1 = max(0, ys.min() - r), min(h, ys.max() + r + 1)
        x0, x1 = max(0, xs.min() - r), min(w, xs.max() + r + 1)
        mine = labels[y0:y1, x0:x1] == i
        ring = (cv2.dilate(mine.view(np.uint8), disc) > 0) & ~mine & g.support[y0:y1, x0:x1]
        if np.count_nonzero(ring) < 8:
            continue  # nothing to compare with: keep it
        crop = lab_img[y0:y1, x0:x1].astype(np.float32)
        contrast = float(np.linalg.norm(crop[mine].mean(axis=0) - crop[ring].mean(axis=0)))
        out[i] = contrast < _MIN_COLOUR_CONTRAST
    return out


_RING_PX = 3
"""Grid pixels around a region where the support it is compared with lies."""

_MIN_COLOUR_CONTRAST = 20.0
"""CIELAB distance (0-255 scale; 20 ~ 8 L* units) between an object found only by its own
noise and the support around it (a bump of the table's noise has the table's colour)."""


def pixel_area(g: GridScene, sel: np.ndarray) -> np.ndarray:
    """Square metres each grid pixel ``sel`` (flat indices) covers seen face-on
    (:func:`...geometry.workspace.pixel_area`)."""
    return ws.pixel_area(g.z.ravel()[sel], g.K.fx, g.K.fy)


def footprints(g: GridScene, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points ``sel`` (flat indices) dropped onto the support plane (``float32[M, 3]``)
    and whether that footprint is in the camera's view (``bool[M]``)."""
    foot = ws.footprints(g.x.ravel()[sel], g.y.ravel()[sel], g.z.ravel()[sel],
                         g.height.ravel()[sel], g.plane)
    return foot, ws.in_view(foot, g.K)


def wall_like(g: GridScene, labels: np.ndarray, keep: np.ndarray, centroid: np.ndarray,
              variances: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """``bool[n + 1]``: kept regions that are one vertical plane continuing beyond what
    is seen of it: upwards into the same plane above ``max_height``, into missing
    depth or out of the image. Objects show where they end (their top side).

    One plane: the rms thickness is within the noise and both in-plane extents are
    ten times larger (a small noisy box is not a plane). ``variances``: ascending
    eigenvalues of each region's covariance; ``normal``: the smallest's vector.
    """
    cfg = g.cfg
    out = np.zeros(keep.shape, bool)
    up = np.asarray(g.plane.normal, np.float64)
    sigma = cfg.sigma(centroid[:, 2].astype(np.float32)).astype(np.float64)
    rms = np.sqrt(np.clip(variances[:, 0], 0, None))
    middle = np.sqrt(12.0 * np.clip(variances[:, 1], 0, None))
    planar = (rms <= 0.5 * cfg.plane_distance + 1.5 * sigma) & (middle >= 10.0 * rms)
    vertical = np.abs(normal @ up) <= math.sin(math.radians(20.0))
    h, w = labels.shape
    K = g.K
    for r in np.flatnonzero(keep & planar & vertical).tolist():
        c = centroid[r]
        above = c + 0.05 * up
        uv = [(K.fx * p[0] / p[2] + K.cx, K.fy * p[1] / p[2] + K.cy) for p in (c, above)]
        d = np.subtract(uv[1], uv[0])
        if not np.all(np.isfinite(d)) or np.linalg.norm(d) < 1e-6:
            continue
        d = 3.0 * d / np.linalg.norm(d)  # three grid pixels "up" in the image
        rv, ru = pixels_of(labels == r)
        qv = np.round(rv + d[1]).astype(np.int64)
        qu = np.round(ru + d[0]).astype(np.int64)
        outside = (qv < 0) | (qv >= h) | (qu < 0) | (qu >= w)
        qv_c, qu_c = np.clip(qv, 0, h - 1), np.clip(qu, 0, w - 1)
        upper = outside | (labels[qv_c, qu_c] != r)
        if int(upper.sum()) < 3:
            continue
        n = normal[r]
        off = -float(n @ c)
        dist = np.abs(g.x[qv_c, qu_c] * n[0] + g.y[qv_c, qu_c] * n[1]
                      + g.z[qv_c, qu_c] * n[2] + off)
        tol = np.maximum(cfg.plane_distance, cfg.noise_k * cfg.sigma(g.z[qv_c, qu_c]))
        valid = g.valid[qv_c, qu_c] & ~outside
        beyond = outside | ~valid | (dist <= tol)
        out[r] = float(beyond[upper].mean()) >= 0.5
    return out

