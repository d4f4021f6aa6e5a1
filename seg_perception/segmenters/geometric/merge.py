"""Merges of grid regions: slivers into their neighbour, a container's inside into
its outside, an object's foot into it, small parts of one coloured object cut at its
own creases, and (:mod:`.occlusion`) fragments of one object split by an occluder."""
from __future__ import annotations

import numpy as np

from ...geometry.plane import SurfaceExtent
from .grid import GridScene
from .occlusion import merge_occluded
from .stats import RegionStats, distinct
from .workspace import footprints

__all__ = ["merge_regions"]

_MIN_CHROMA, _MAX_HUE_DEGREES = 10.0, 20.0
"""A container's inside and outside of one hue: both at least this CIELAB a*b* chroma
(0-255 scale; grey and white have no stable hue) and hues this close in degrees."""

_CRUMB_MIN_COLOUR_SIMILARITY = 0.1
"""A crumb with an object's area (``min_area``, only too thin for a seed: a plate or a
book seen edge-on between two cuts) stays apart from a neighbour whose a*b* histogram
it shares less than this of (another object's colour)."""

_SEAM_COLOUR_SIMILARITY, _MAX_SEAM_STEP, _MAX_PART_SIZE = 0.85, 0.05, 0.10
"""Two parts of one object cut at a crease of its own shape: a*b* histogram intersection
at least this (``merge_colour_similarity`` is 0.6), at most this share of their seam a
depth step, and the smaller part at most this size in metres (a limb, a head, a handle;
two boxes of one colour side by side are each larger)."""

_SHADE_HUE_DEGREES = 3.0
"""Two such parts whose a*b* histograms meet the bar only on bins shifted by half a bin
(one colour in light and shade straddling a bin edge) need hues this close: shade
scales a*b* towards grey along one hue, while two objects of a similar colour differ
by more (5 degrees and up in the simulated piles)."""

_HOLE_WIDTH = 2
"""Grid pixels each of those parts may grow into missing depth to meet the other (a band
of up to twice this width, as a sensor loses at an occlusion edge, is no gap)."""


def merge_regions(g: GridScene, labels: np.ndarray, uncut: np.ndarray, seeds: np.ndarray,
                  window: tuple[slice, slice] | None = None) -> np.ndarray:
    """``labels`` with regions of one object joined (union-find over region ids).
    ``uncut``: candidate pixels off the cuts; ``seeds``: those eroded (see regions);
    ``window``: grid rows and columns holding every labelled pixel."""
    cfg = g.cfg
    window = window or (slice(0, labels.shape[0]), slice(0, labels.shape[1]))
    stats = RegionStats(g, labels, window)
    n = stats.n
    parent = np.arange(n + 1)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(keep: int, other: int) -> None:
        parent[find(other)] = find(keep)

    seed_counts = np.bincount(labels[seeds], minlength=n + 1)
    min_px = g.min_pixels(stats.depth)
    crumbs = {i for i in range(1, n + 1) if stats.count[i] and seed_counts[i] < min_px[i]}
    solid = [i for i in range(1, n + 1) if stats.count[i] and i not in crumbs]

    def object_roots() -> set[int]:  # the regions holding an object, as merged so far
        return {find(i) for i in solid}

    # Regions joined by a thin uncut bridge (a cup's rim between its inside and
    # outside) with the same colour and top height: first, so that a crumb of an object
    # (a piece of its rim) is taken by its own object, not by the neighbour it happens
    # to share more outline with.
    if cfg.merge_bridged:
        pairs = bridged_pairs(labels[window], uncut[window])
        two_crumbs = [a in crumbs and b in crumbs for a, b in pairs]
        for (a, b), skip in zip(pairs, two_crumbs, strict=True):
            if not skip and find(a) != find(b) and same_colour_and_top(g, stats, a, b):
                union(a, b)
        # Two crumbs join only while neither holds an object: slivers of two objects
        # side by side in a pile, bridged at their seam, would join the objects.
        owned = object_roots()
        for (a, b), both in zip(pairs, two_crumbs, strict=True):
            if both and find(a) not in owned and find(b) not in owned \
                    and find(a) != find(b) and same_colour_and_top(g, stats, a, b):
                union(a, b)
    taken = object_roots()
    bridged = {c for c in crumbs if find(c) in taken}  # joined to an object already
    # Crumbs: regions too thin to hold a seed of min_points pixels (slivers
    # between two cut lines, mixed pixels at an edge) join the neighbour they
    # share most outline with, unless they stand in front of it or have an
    # object's area and none of its colour.
    by_outline: set[int] = set()
    for c in sorted(crumbs - bridged, key=lambda i: stats.count[i]):
        best, best_len = 0, 0
        for (a, b), length in stats.outline.items():
            other = b if a == c else a if b == c else 0
            if other and other not in crumbs and length > best_len:
                best, best_len = other, length
        if not best or stats.behind(best, c) >= 0.5:
            continue
        if stats.count[c] >= min_px[c] and \
                stats.colour_similarity(best, c) < _CRUMB_MIN_COLOUR_SIMILARITY:
            continue  # an object's area, only thin, of another colour: its own
        union(best, c)
        by_outline.add(c)
    big = [i for i in range(1, n + 1) if stats.count[i] >= min_px[i] and i not in crumbs]
    if cfg.merge_bridged:
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
    # Parts of one coloured object cut at a concave crease of its own shape (a toy's
    # neck, a handle's root): one colour, both chromatic (grey and white say
    # nothing), no depth step along the seam, the smaller part small; also where
    # only a thin band of missing depth parts them (a self-occlusion edge).
    pairs = [(a, b) for a, b in list(stats.outline) + across_holes(g, labels, stats)
             if find(a) != find(b)]
    objects = object_roots()
    for a, b in one_coloured_pairs(stats, pairs):
        if find(a) == find(b):
            continue
        # A crumb given to a neighbour for its outline alone does not join that
        # neighbour to a third object (a sliver of one object in a pile, between two).
        if (a in by_outline or b in by_outline) and find(a) in objects and find(b) in objects:
            continue
        if find(a) in objects or find(b) in objects:
            objects.add(find(a))  # the root union(a, b) keeps
        union(a, b)
    if cfg.merge_occluded and len(big) > 1:
        roots = np.array([find(i) for i in range(n + 1)])
        merge_occluded(g, labels, stats, big, union, roots)
    roots = np.array([find(i) for i in range(n + 1)], np.int32)
    out = np.zeros(labels.shape, np.int32)
    out[window] = np.take(roots, labels[window])  # (faster than roots[...])
    return out


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


def one_coloured_pairs(stats: RegionStats, pairs: list[tuple[int, int]]
                       ) -> list[tuple[int, int]]:
    """Those of ``pairs`` that are parts of one object: the smaller part at most
    ``_MAX_PART_SIZE``, no depth step along their seam (neither behind the other), one
    chromatic colour (a*b* histograms alike, the same hue at a stable chroma; or alike
    on half-bin shifted bins with hues within ``_SHADE_HUE_DEGREES``)."""
    if not pairs:
        return []
    ab = np.array(pairs, np.int64)
    a, b = ab[:, 0], ab[:, 1]
    ab = ab[np.minimum(stats.size[a], stats.size[b]) <= _MAX_PART_SIZE]
    if not ab.size:
        return []
    # No depth step along the seam (pairs that do not touch have none to measure).
    ab = ab[stats.seam_step(ab[:, 0], ab[:, 1]) <= _MAX_SEAM_STEP]
    similar = (np.minimum(stats.hist[ab[:, 0]], stats.hist[ab[:, 1]]).sum(axis=1)
               >= _SEAM_COLOUR_SIMILARITY)
    out = []
    for (i, j), alike in zip(ab.tolist(), similar.tolist(), strict=True):
        if alike:
            if stats.same_hue(i, j, _MIN_CHROMA, _MAX_HUE_DEGREES, of_pixels=True):
                out.append((i, j))
        # A shaded and a lit part of one colour can fall on either side of a bin edge:
        # alike on bins shifted by half a bin, and of one hue to a few degrees.
        elif stats.same_hue(i, j, _MIN_CHROMA, _SHADE_HUE_DEGREES, of_pixels=True) and \
                stats.shifted_similarity(i, j) >= _SEAM_COLOUR_SIMILARITY:
            out.append((i, j))
    return out


def across_holes(g: GridScene, labels: np.ndarray, stats: RegionStats
                 ) -> list[tuple[int, int]]:
    """Region pairs that do not touch but would once each grows by up to
    ``_HOLE_WIDTH`` grid pixels into pixels without depth (no evidence of a gap).
    ``stats`` gives the region count and the pairs that touch already."""
    import cv2

    if stats.n > 65535 or not stats.box:
        return []
    # Only around the regions: their bounding box grown by the reach.
    h, w = labels.shape
    boxes = np.array(list(stats.box.values()))
    y0, x0 = (max(0, int(v) - _HOLE_WIDTH) for v in boxes[:, [0, 2]].min(axis=0))
    y1, x1 = (int(v) + _HOLE_WIDTH for v in boxes[:, [1, 3]].max(axis=0))
    crop = (slice(y0, min(h, y1)), slice(x0, min(w, x1)))
    labels = labels[crop]
    hole = ~g.valid[crop]
    if not hole.any():
        return []
    grown = labels.astype(np.uint16)
    box3 = np.ones((3, 3), np.uint8)
    for _ in range(_HOLE_WIDTH):
        fill = hole & (grown == 0)
        np.copyto(grown, cv2.dilate(grown, box3), where=fill)
    new = grown != labels
    n1 = stats.n + 1
    keys = []
    for sa, sb in (((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
                   ((slice(None, -1), slice(None)), (slice(1, None), slice(None)))):
        la, lb = grown[sa], grown[sb]
        d = (la != lb) & (new[sa] | new[sb]) & (la > 0) & (lb > 0)
        a, b = la[d].astype(np.int64), lb[d].astype(np.int64)
        keys.append(np.minimum(a, b) * n1 + np.maximum(a, b))
    if not any(k.size for k in keys):
        return []
    pairs = [(int(k // n1), int(k % n1)) for k in distinct(np.concatenate(keys), n1 * n1)[0]]
    return [p for p in pairs if p not in stats.outline]


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
    key, _ = distinct(labels[both].astype(np.int64) * n_c + coarse[both],
                      (int(labels.max(initial=0)) + 1) * n_c)
    owner, comp = key // n_c, key % n_c
    pairs = []
    ids, cnt = distinct(comp, n_c)
    for c in ids[cnt > 1]:
        members = owner[comp == c]
        pairs += [(int(a), int(b)) for i, a in enumerate(members) for b in members[i + 1:]]
    return pairs
