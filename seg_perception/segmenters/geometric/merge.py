"""Merges of grid regions: slivers into their neighbour, a container's inside into
its outside, and (:mod:`.occlusion`) fragments of one object split by an occluder."""
from __future__ import annotations

import numpy as np

from ...geometry.plane import SurfaceExtent
from .grid import GridScene
from .occlusion import merge_occluded
from .stats import RegionStats
from .workspace import footprints

__all__ = ["merge_regions"]

_MIN_CHROMA, _MAX_HUE_DEGREES = 10.0, 20.0
"""A container's inside and outside of one hue: both at least this CIELAB a*b* chroma
(0-255 scale; grey and white have no stable hue) and hues this close in degrees."""


def merge_regions(g: GridScene, labels: np.ndarray, uncut: np.ndarray, seeds: np.ndarray
                  ) -> np.ndarray:
    """``labels`` with regions of one object joined (union-find over region ids).
    ``uncut``: candidate pixels off the cuts; ``seeds``: those eroded (see regions)."""
    cfg = g.cfg
    stats = RegionStats(g, labels)
    n = stats.n
    parent = np.arange(n + 1)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(keep: int, other: int) -> None:
        parent[find(other)] = find(keep)

    # Crumbs: regions too thin to hold a seed of min_points pixels (slivers
    # between two cut lines, mixed pixels at an edge) join the neighbour they
    # share most outline with, unless they stand in front of it.
    seed_counts = np.bincount(labels[seeds], minlength=n + 1)
    min_px = g.min_pixels(stats.depth)
    crumbs = {i for i in range(1, n + 1) if stats.count[i] and seed_counts[i] < min_px[i]}
    for c in sorted(crumbs, key=lambda i: stats.count[i]):
        best, best_len = 0, 0
        for (a, b), length in stats.outline.items():
            other = b if a == c else a if b == c else 0
            if other and other not in crumbs and length > best_len:
                best, best_len = other, length
        if best and stats.behind(best, c) < 0.5:
            union(best, c)
    big = [i for i in range(1, n + 1) if stats.count[i] >= min_px[i] and i not in crumbs]
    if cfg.merge_bridged:
        for a, b in bridged_pairs(labels, uncut):
            if find(a) != find(b) and same_colour_and_top(g, stats, a, b):
                union(a, b)
        # A container's inside and outside: the rim in front hides part of the
        # inside; both end at the rim height and have the same colour (two
        # different boxes of one height, one behind the other, differ in colour).
        for a, b in stats.outline:
            if a in crumbs or b in crumbs or find(a) == find(b):
                continue
            if max(stats.behind(a, b), stats.behind(b, a)) >= 0.5 and \
                    same_colour_and_top(g, stats, a, b, shading=True):
                union(a, b)
    # An object's foot (a bowl's foot ring, a pot's base): a lower region of the same
    # colour that touches it and stands wholly under it (its footprint on the support
    # inside the other's), cut off by the concave crease between them.
    extents: dict[int, SurfaceExtent] = {}
    for a, b in stats.outline:
        if find(a) == find(b) or a in crumbs and b in crumbs:
            continue
        low, high = (a, b) if stats.top[a] < stats.top[b] else (b, a)
        if under(g, stats, low, high, extents):
            union(high, low)
    if cfg.merge_occluded and len(big) > 1:
        roots = np.array([find(i) for i in range(n + 1)])
        merge_occluded(g, labels, stats, big, union, roots)
    roots = np.array([find(i) for i in range(n + 1)])
    return roots[labels].astype(np.int32)


def same_colour_and_top(g: GridScene, stats: RegionStats, a: int, b: int,
                        shading: bool = False) -> bool:
    """Regions ``a`` and ``b`` end at the same height (within the noise) and look alike
    (with ``shading``: or have one hue, a container's inside in its own shade)."""
    cfg = g.cfg
    z = max(stats.depth[a], stats.depth[b])
    tol = cfg.min_depth_jump + 2 * cfg.noise_k * float(cfg.sigma(np.float32(z)))
    if abs(stats.top[a] - stats.top[b]) > tol:
        return False
    if stats.colour_similarity(a, b) >= cfg.merge_colour_similarity:
        return True
    return shading and stats.same_hue(a, b, _MIN_CHROMA, _MAX_HUE_DEGREES)


def under(g: GridScene, stats: RegionStats, low: int, high: int,
          extents: dict[int, SurfaceExtent]) -> bool:
    """Region ``low`` is the foot of ``high``: lower by more than a depth step, not
    behind or in front of it, of its colour, and its footprint on the support plane
    (points dropped onto it) inside ``high``'s (convex, 1 cm cells; ``extents``
    caches them by region)."""

    cfg = g.cfg
    z = max(stats.depth[low], stats.depth[high])
    tol = cfg.min_depth_jump + 2 * cfg.noise_k * float(cfg.sigma(np.float32(z)))
    if stats.top[high] - stats.top[low] <= tol:
        return False
    if max(stats.behind(low, high), stats.behind(high, low)) >= 0.5:
        return False
    if stats.colour_similarity(low, high) < cfg.merge_colour_similarity:
        return False
    if stats.count[high] < 3 or stats.count[low] == 0:
        return False
    # (Cheap first: the centroids, dropped onto the plane, within high's half extent.)
    nrm = np.asarray(g.plane.normal, np.float64)
    d = stats.centroid[low] - stats.centroid[high]
    if float(np.linalg.norm(d - (d @ nrm) * nrm)) > 0.5 * stats.size[high]:
        return False
    if high not in extents:
        extents[high] = SurfaceExtent(footprints(g, stats.pixels(high))[0], g.plane, 0.0)
    inside = extents[high].contains(footprints(g, stats.pixels(low))[0])
    return float(inside.mean()) >= 0.9


def bridged_pairs(labels: np.ndarray, uncut: np.ndarray) -> list[tuple[int, int]]:
    """Region pairs in one connected component of ``uncut`` pixels (before seed erosion)."""
    import cv2

    n_c, coarse = cv2.connectedComponents(uncut.view(np.uint8), connectivity=4)
    both = (labels > 0) & (coarse > 0)
    key = np.unique(labels[both].astype(np.int64) * n_c + coarse[both])
    owner, comp = key // n_c, key % n_c
    pairs = []
    ids, cnt = np.unique(comp, return_counts=True)
    for c in ids[cnt > 1]:
        members = owner[comp == c]
        pairs += [(int(a), int(b)) for i, a in enumerate(members) for b in members[i + 1:]]
    return pairs
