"""Fragments of one object that an occluder split in the image: joined when the gap
between them is hidden by something in front and they continue one surface."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ...geometry.plane import fit_plane_lstsq
from ...results import Plane
from .grid import GridScene, signed_distance
from .stats import RegionStats

__all__ = ["merge_occluded", "smallest_k"]

# Outline samples per region, and closest point pairs tried per region pair.
_CONTOUR_POINTS, _CLOSEST_LINES = 60, 40


def merge_occluded(g: GridScene, labels: np.ndarray, stats: RegionStats, big: list[int],
                   union: Callable[[int, int], None], roots: np.ndarray | None = None) -> None:
    """Join fragments of one surface that an occluder split in the image.

    ``roots``: each region's id after the merges so far (crumbs joined to their
    neighbour): a sliver of ``a`` or ``b`` on the way across the gap is part of it,
    not another object seen behind the gap."""
    import cv2

    cfg = g.cfg
    # Every region's outline as _CONTOUR_POINTS evenly spaced grid pixels (x, y).
    contours: dict[int, np.ndarray] = {}
    spread = np.arange(_CONTOUR_POINTS) / (_CONTOUR_POINTS - 1)
    for r in big:
        y0, y1, x0, x1 = stats.box[r]
        cs, _ = cv2.findContours((labels[y0:y1, x0:x1] == r).view(np.uint8),
                                 cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        if cs:
            pts = np.concatenate(cs).reshape(-1, 2)
            pick = np.round(spread * (len(pts) - 1)).astype(np.int64)
            contours[r] = (pts[pick] + (x0, y0)).astype(np.float32)
    # Candidate pairs: not touching (touching regions were separated by a cut on
    # purpose), centroids within reach of each other.
    ids = np.array([r for r in big if r in contours], np.int64)
    ia, ib = np.triu_indices(ids.size, 1)
    a_ids, b_ids = ids[ia], ids[ib]
    reach = cfg.merge_max_gap + 0.5 * (stats.size[a_ids] + stats.size[b_ids])
    close = np.linalg.norm(stats.centroid[a_ids] - stats.centroid[b_ids], axis=1) <= reach
    pairs = [(int(a), int(b)) for a, b, c in zip(a_ids, b_ids, close, strict=True)
             if c and (min(a, b), max(a, b)) not in stats.outline]
    if not pairs:
        return
    # The closest outline points of every pair at once: the gap is tested along
    # a few short lines spread over the pair (the very shortest may run along a
    # base, next to the table); majority vote.
    ca_all = np.stack([contours[a] for a, _ in pairs])
    cb_all = np.stack([contours[b] for _, b in pairs])
    # |a - b|^2 = |a|^2 + |b|^2 - 2 a.b: one batched matrix product, exact for
    # these integer pixel coordinates (several times faster than broadcasting).
    d2 = np.matmul(ca_all, cb_all.transpose(0, 2, 1))
    d2 *= -2
    d2 += (ca_all * ca_all).sum(axis=2)[:, :, None]
    d2 += (cb_all * cb_all).sum(axis=2)[:, None, :]
    order = smallest_k(d2, _CLOSEST_LINES)
    ia_all, ib_all = np.divmod(order, _CONTOUR_POINTS)
    starts = np.take_along_axis(ca_all, ia_all[:, :, None], axis=1)
    apart = np.maximum(np.abs(starts[:, :, None, 0] - starts[:, None, :, 0]),
                       np.abs(starts[:, :, None, 1] - starts[:, None, :, 1])) >= 4
    # Greedy in distance order: the closest line, the next one >= 4 px from it,
    # the next one >= 4 px from both (a later line is never before an earlier).
    rows = np.arange(len(pairs))
    second_ok = apart[:, 0, :]
    second = second_ok.argmax(axis=1)
    third_ok = second_ok & apart[rows, second, :]
    third = third_ok.argmax(axis=1)
    chosen = np.full((len(pairs), 3), -1)
    chosen[:, 0] = 0
    chosen[:, 1] = np.where(second_ok[rows, second], second, -1)
    chosen[:, 2] = np.where((chosen[:, 1] >= 0) & third_ok[rows, third], third, -1)
    line_pair, slot = np.nonzero(chosen >= 0)
    j = chosen[line_pair, slot]
    pa = ca_all[line_pair, ia_all[line_pair, j]].astype(np.int64)
    pb = cb_all[line_pair, ib_all[line_pair, j]].astype(np.int64)
    pair_ab = np.array(pairs, np.int64)
    if roots is None:
        hidden, gap = gaps_hidden(g, labels, pair_ab[line_pair, 0], pair_ab[line_pair, 1],
                                  pa, pb)
    else:
        hidden, gap = gaps_hidden(g, labels, roots[pair_ab[line_pair, 0]],
                                  roots[pair_ab[line_pair, 1]], pa, pb, roots)
    # Only lines across a hidden gap need the (per-line) surface test.
    votes = np.zeros(len(pairs), int)
    for line in np.flatnonzero(hidden):
        p = int(line_pair[line])
        a, b = pairs[p]
        votes[p] += same_surface(g, labels, stats, a, b, pa[line], pb[line],
                                       float(gap[line]))
    n_lines = (chosen >= 0).sum(axis=1)
    for p in np.flatnonzero(votes > n_lines / 2):
        union(*pairs[p])


def smallest_k(d2: np.ndarray, k: int) -> np.ndarray:
    """For each ``d2[p]`` (``[A, B]`` non-negative whole numbers, e.g. squared pixel
    distances from A points to B points), the flat indices ``a * B + b`` of its ``k``
    smallest values, smallest first, equal values in index order.

    Ties are broken by index on purpose: ``np.argpartition``'s pick among equal values
    depends on the CPU's SIMD code path (an AVX2 and an AVX-512 machine gave a real
    frame different objects). Partitioning unique integer keys (value, index) is exact
    on every CPU, and in 32 bits faster than the float arg-partition.
    """
    p_count = d2.shape[0]
    flat = d2.reshape(p_count, -1)
    n = flat.shape[1]
    k = min(k, n)
    index_bits = max(1, (n - 1).bit_length())
    fits = float(flat.max(initial=0)) < 2 ** (31 - index_bits)
    key = flat.astype(np.int32 if fits else np.int64)
    key <<= index_bits
    key |= np.arange(n, dtype=key.dtype)
    if k < n:
        key = np.partition(key, k - 1, axis=1)[:, :k]
    key.sort(axis=1)
    return (key & ((1 << index_bits) - 1)).astype(np.intp)


def gaps_hidden(g: GridScene, labels: np.ndarray, a: np.ndarray, b: np.ndarray,
                pa: np.ndarray, pb: np.ndarray, roots: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """For each image line ``pa[i] -> pb[i]`` (grid ``(u, v)``) from region ``a[i]``
    to ``b[i]``: is the gap between them hidden by something in front?

    Every pixel between the two regions must be either hidden (no depth) or in
    front of the surface joining the ends, and at least one in front. All lines
    at once, padded to the longest. ``roots``: each label's region after the merges
    so far (looked up on the lines' pixels only). Returns ``(bool[L], gap[L] metres)``.
    """
    cfg = g.cfg
    z = g.z
    za, zb = z[pa[:, 1], pa[:, 0]], z[pb[:, 1], pb[:, 0]]
    P = np.stack([g.x[pa[:, 1], pa[:, 0]], g.y[pa[:, 1], pa[:, 0]], za], axis=1)
    Q = np.stack([g.x[pb[:, 1], pb[:, 0]], g.y[pb[:, 1], pb[:, 0]], zb], axis=1)
    gap = np.linalg.norm(P.astype(np.float64) - Q, axis=1)
    ok = (za > 0) & (zb > 0) & (gap <= cfg.merge_max_gap)
    if not ok.any():
        return ok, gap
    d = pb - pa
    n = np.abs(d).max(axis=1) + 1
    # t as np.linspace(0, 1, n) per line; padding repeats the end point.
    i = np.arange(int(n.max()))[None, :]
    t = np.minimum(i * (1.0 / np.maximum(n - 1, 1))[:, None], 1.0)
    t[np.arange(len(n)), n - 1] = np.where(n > 1, 1.0, 0.0)
    inside = i < n[:, None]
    us = np.round(pa[:, :1] + t * d[:, :1]).astype(np.int64)
    vs = np.round(pa[:, 1:] + t * d[:, 1:]).astype(np.int64)
    za64 = np.where(ok, za, 1.0)[:, None].astype(np.float64)
    zb64 = np.where(ok, zb, 1.0)[:, None].astype(np.float64)
    expected = 1.0 / ((1 - t) / za64 + t / zb64)  # planes are linear in 1/z along a line
    zl, ll = z[vs, us], labels[vs, us]
    if roots is not None:
        ll = roots[ll]
    between = inside & (ll != a[:, None]) & (ll != b[:, None])
    in_front = (zl > 0) & (zl < expected - g.jump[vs, us])
    # What breaks the surface: the support, or another object, seen at or behind it.
    # (Missing depth and unlabelled object pixels are no evidence either way.)
    seen = (zl > 0) & ~in_front & ((ll > 0) | g.support[vs, us])
    ok &= (between & in_front).any(axis=1) & ~(between & seen).any(axis=1)
    return ok, gap


def same_surface(g: GridScene, labels: np.ndarray, stats: RegionStats, a: int, b: int,
                 pa: np.ndarray, pb: np.ndarray, gap: float) -> bool:
    """Regions ``a`` and ``b`` continue one surface across a hidden gap: the local
    planes at both ends of the line ``pa -> pb`` agree (or the colours do)."""
    cfg = g.cfg
    za, zb = float(g.z[pa[1], pa[0]]), float(g.z[pb[1], pb[0]])
    near_a = local_patch(g, labels, a, pa)
    near_b = local_patch(g, labels, b, pb)
    if near_a is None or near_b is None:
        return False
    plane_a, plane_b = near_a[0], near_b[0]
    tol_d = 2 * cfg.noise_k * float(cfg.sigma(np.float32(max(za, zb)))) + cfg.min_depth_jump
    angle_ok = abs(float(np.dot(plane_a.normal, plane_b.normal))) > math.cos(math.radians(20))
    coplanar = angle_ok and (
        abs(float(signed_distance(near_b[1], plane_a).mean())) < tol_d
        and abs(float(signed_distance(near_a[1], plane_b).mean())) < tol_d)
    if coplanar:
        return True
    return (stats.colour_similarity(a, b) >= cfg.merge_colour_similarity
            and gap < cfg.merge_max_gap / 2)


def local_patch(g: GridScene, labels: np.ndarray, r: int, p: np.ndarray
                ) -> tuple[Plane, np.ndarray] | None:
    """Least-squares plane of region ``r``'s pixels around grid pixel ``p = (u, v)``."""
    rad = 3 * g.cfg.crease_baseline + 2
    v, u = int(p[1]), int(p[0])
    h, w = labels.shape
    sl = (slice(max(0, v - rad), min(h, v + rad + 1)),
          slice(max(0, u - rad), min(w, u + rad + 1)))
    m = (labels[sl] == r) & g.valid[sl]
    if m.sum() < 6:
        return None
    pts = np.stack([g.x[sl][m], g.y[sl][m], g.z[sl][m]], axis=1)
    return fit_plane_lstsq(pts), pts

