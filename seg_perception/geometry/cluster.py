"""Clustering: connected components on the pixel grid with edge constraints, and on points.

Organised (image-grid) clustering is what the geometric segmenter uses: cut
pixels are found with vectorised tests between neighbouring pixels (depth
discontinuities, concave creases between surfaces, colour edges), the rest is
labelled with ``cv2.connectedComponentsWithStats`` and cut pixels are given
back to the nearest region. :func:`euclidean_clusters` clusters unorganised
points (voxel-grid connectivity, or Open3D's DBSCAN, imported lazily).

Example:
    >>> import numpy as np
    >>> pts = np.r_[np.zeros((50, 3)), np.ones((40, 3))] + np.linspace(0, 0.01, 90)[:, None]
    >>> labels = euclidean_clusters(pts.astype(np.float32), tolerance=0.05, min_points=10)
    >>> np.bincount(labels).tolist()
    [50, 40]
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = [
    "concave_edges",
    "depth_edges",
    "euclidean_clusters",
    "label_regions",
]


def _planes(image: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    """Three contiguous ``float32[H, W]`` planes of a ``[H, W, 3]`` image (or the planes given)."""
    import cv2

    if isinstance(image, np.ndarray) and image.ndim == 3:
        return list(cv2.split(np.ascontiguousarray(image, np.float32)))
    return [np.asarray(p, np.float32) for p in image]


def depth_edges(depth: np.ndarray, threshold: np.ndarray | float,
                valid: np.ndarray | None = None, slope_ratio: float | None = None,
                noise: np.ndarray | float = 0.0) -> np.ndarray:
    """``bool[H, W]``: pixels on the far side of a depth discontinuity.

    Between 4-neighbours ``p`` (near) and ``q`` (far) with step ``s = z_q - z_p``
    there is a discontinuity when ``s > threshold`` (metres, scalar or
    ``float32[H, W]`` at ``q``). With ``slope_ratio`` also when
    ``s > noise`` and ``s > slope_ratio * slope``, where ``slope`` is the larger
    depth step just before ``p`` and just after ``q`` on the same row/column: a
    step that stands out from the local slope is an edge even where a surface
    seen obliquely could produce it (the slope test keeps such surfaces whole).
    Only the far pixel is marked, so the occluding surface keeps its outline.

    Args:
        depth: ``float32[H, W]`` metres, 0 = invalid (never compared).
        threshold: metres, the step that is always an edge.
        valid: optional ``bool[H, W]`` restricting which pixels are compared.
        slope_ratio: dimensionless, e.g. 3; None disables the slope test.
        noise: metres (scalar or ``float32[H, W]``), smallest step of the slope test.
    """
    z = np.asarray(depth, np.float32)
    ok = z > 0 if valid is None else (np.asarray(valid, bool) & (z > 0))
    thr = np.broadcast_to(np.asarray(threshold, np.float32), z.shape)
    nse = np.broadcast_to(np.asarray(noise, np.float32), z.shape)
    edges = np.zeros(z.shape, bool)
    zt, okt, thrt, nset, et = z, ok, thr, nse, edges
    for axis in (0, 1):
        if axis == 1:  # same code along rows: work on transposed views
            zt, okt, thrt, nset, et = z.T, ok.T, thr.T, nse.T, edges.T
        if zt.shape[0] < 2:
            continue
        step = zt[1:] - zt[:-1]                      # z[i+1] - z[i]
        pair = okt[1:] & okt[:-1]
        step = np.where(pair, step, np.float32(0))
        mag = np.abs(step)
        far_next = step > 0                          # i+1 is the far pixel
        thr_far = np.where(far_next, thrt[1:], thrt[:-1])
        edge = pair & (mag > thr_far)
        if slope_ratio is not None and zt.shape[0] >= 3:
            before = np.zeros_like(mag)
            after = np.zeros_like(mag)
            before[1:] = mag[:-1]                    # step (i-1, i)
            after[:-1] = mag[1:]                     # step (i+1, i+2)
            # Steps next to an invalid pixel were zeroed: they count as flat.
            slope = np.maximum(before, after)
            noise_far = np.where(far_next, nset[1:], nset[:-1])
            edge |= pair & (mag > noise_far) & (mag > np.float32(slope_ratio) * slope)
        et[1:] |= edge & far_next
        et[:-1] |= edge & ~far_next
    return edges


def concave_edges(xyz: np.ndarray | Sequence[np.ndarray],
                  normals: np.ndarray | Sequence[np.ndarray], ok: np.ndarray,
                  baseline: int = 2, min_score: float = 0.5,
                  max_gap: np.ndarray | float | None = None) -> np.ndarray:
    """``bool[H, W]``: pixels in the middle of a concave crease between two surfaces.

    For pixel pairs ``p = x - baseline``, ``q = x + baseline`` along rows and
    columns the local convexity score ``c = (n_q - n_p) . (q - p) / |q - p|``
    is negative at a concave crease (a box standing on another box, an object
    side meeting the surface below), positive at a convex one (the edge of a
    box top) and about zero on a smooth surface (this is the convexity test of
    LCCP, Stein et al., CVPR 2014). ``x`` is marked when ``c < -min_score``; 0.5
    is a crease of ~40 degrees seen across it, 1.4 a right angle.

    Args:
        xyz: ``float32[H, W, 3]`` metres (or its three ``[H, W]`` planes).
        normals: ``float32[H, W, 3]`` unit normals facing the camera (or planes).
        ok: ``bool[H, W]`` where normals are valid.
        baseline: pixel offset of ``p`` and ``q`` from ``x``.
        min_score: crease strength threshold, dimensionless, in (0, 2]: a scalar or
            ``float32[H, W]`` per pixel (e.g. above the normals' noise at each depth).
        max_gap: optional metres (scalar or ``float32[H, W]`` at ``x``): pairs
            farther apart than this in 3D straddle a depth discontinuity and are
            not tested (that edge is a depth edge, not a crease).
    """
    import cv2

    pts, nrm = _planes(xyz), _planes(normals)
    k = int(baseline)
    h, w = ok.shape
    edges = np.zeros((h, w), bool)
    ok8 = np.ascontiguousarray(ok, bool).view(np.uint8)
    for kernel in (np.zeros((1, 2 * k + 1), np.float32), np.zeros((2 * k + 1, 1), np.float32)):
        flat = kernel.reshape(-1)
        flat[0], flat[-1] = -1.0, 1.0
        if max(kernel.shape) > (w if kernel.shape[0] == 1 else h):
            continue
        # Differences q - p centred on x, as filters: full-size, contiguous results.
        d = [cv2.filter2D(p, -1, kernel, borderType=cv2.BORDER_REPLICATE) for p in pts]
        dn = [cv2.filter2D(n, -1, kernel, borderType=cv2.BORDER_REPLICATE) for n in nrm]
        dist = np.sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2])
        score = dn[0] * d[0]
        score += dn[1] * d[1]
        score += dn[2] * d[2]
        # Both ends must have valid normals: erode with a two-point structuring element.
        both = cv2.erode(ok8, np.abs(kernel).astype(np.uint8), borderValue=0).view(bool)
        test = both & (score < -np.asarray(min_score, np.float32) * dist)
        if max_gap is not None:
            test &= dist < np.asarray(max_gap, np.float32)
        edges |= test
    return edges


def label_regions(mask: np.ndarray, cuts: np.ndarray | None = None, min_pixels: int = 1,
                  reassign_radius: float = 0.0, depth: np.ndarray | None = None,
                  depth_tolerance: np.ndarray | float | None = None,
                  connectivity: int = 4, erode: int = 0) -> np.ndarray:
    """Connected regions of ``mask`` that do not cross ``cuts``.

    Cut pixels and regions smaller than ``min_pixels`` are then given to the
    nearest kept region within ``reassign_radius`` pixels (optionally only when
    their depth differs from that region's nearest pixel by less than
    ``depth_tolerance`` metres), so regions touch across the cut lines again.

    Args:
        mask: ``bool[H, W]`` pixels to label.
        cuts: ``bool[H, W]`` pixels that separate regions.
        min_pixels: smallest region kept as a seed.
        reassign_radius: pixels; 0 leaves cut pixels unlabelled.
        depth: ``float32[H, W]`` metres, for the depth check.
        depth_tolerance: metres, scalar or ``float32[H, W]``.
        connectivity: 4 or 8. Use 4 when cuts are thin lines from row/column tests.
        erode: pixels; seeds are the regions eroded by this radius, which closes
            gaps of up to ``2 * erode`` pixels in the cut lines and drops slivers
            thinner than ``2 * erode + 1`` pixels (their pixels are reassigned).

    Returns:
        ``int32[H, W]``: 0 = unlabelled, ``1..N`` regions, largest first.
    """
    import cv2

    mask = np.asarray(mask, bool)
    seeds = mask if cuts is None else (mask & ~np.asarray(cuts, bool))
    if erode > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode + 1, 2 * erode + 1))
        seeds = cv2.erode(seeds.view(np.uint8), kernel, borderValue=0).view(bool)
    n, comp, stats, _ = cv2.connectedComponentsWithStats(
        seeds.view(np.uint8), connectivity=connectivity, ltype=cv2.CV_32S)
    areas = stats[:, cv2.CC_STAT_AREA].copy()
    areas[0] = 0
    keep = np.flatnonzero(areas >= max(1, min_pixels))
    order = keep[np.argsort(-areas[keep], kind="stable")]
    lut = np.zeros(n, np.int32)
    lut[order] = np.arange(1, order.size + 1, dtype=np.int32)
    labels = np.take(lut, comp)  # (np.take: a faster lookup than lut[comp])
    if reassign_radius > 0 and order.size:
        labels = _reassign(labels, mask & (labels == 0), reassign_radius, depth, depth_tolerance)
    return labels


def _reassign(labels: np.ndarray, todo: np.ndarray, radius: float, depth: np.ndarray | None,
              tolerance: np.ndarray | float | None) -> np.ndarray:
    import cv2

    if not todo.any():
        return labels
    src = (labels == 0).view(np.uint8)
    dist, nearest = cv2.distanceTransformWithLabels(src, cv2.DIST_L2, 5,
                                                    labelType=cv2.DIST_LABEL_PIXEL)
    seed_index = np.flatnonzero(labels.ravel() > 0)
    flat_todo = np.flatnonzero(todo.ravel() & (dist.ravel() <= radius))
    src_pixel = seed_index[nearest.ravel()[flat_todo] - 1]
    if depth is not None and tolerance is not None:
        z = np.asarray(depth, np.float32).ravel()
        tol = np.broadcast_to(np.asarray(tolerance, np.float32), labels.shape).ravel()
        good = np.abs(z[flat_todo] - z[src_pixel]) <= tol[flat_todo]
        flat_todo, src_pixel = flat_todo[good], src_pixel[good]
    out = labels.copy()
    out.ravel()[flat_todo] = labels.ravel()[src_pixel]
    return out


def euclidean_clusters(points: np.ndarray, tolerance: float = 0.02, min_points: int = 10,
                       max_points: int | None = None, method: str = "voxel") -> np.ndarray:
    """Cluster unorganised points by distance (the classic tabletop baseline).

    Args:
        points: ``float[M, 3]`` metres.
        tolerance: metres. ``"voxel"``: points in 26-adjacent voxels of this
            size are connected (exact neighbours up to ``tolerance``, some up to
            ``2 * sqrt(3) * tolerance``); ``"dbscan"``: Open3D's DBSCAN radius.
        min_points: clusters with fewer points are noise (label -1); for
            ``"dbscan"`` also its ``min_points`` density parameter (capped at 10).
        max_points: clusters with more points are dropped (label -1).
        method: ``"voxel"`` (numpy/scipy, fast) or ``"dbscan"`` (needs open3d).

    Returns:
        ``int32[M]``: cluster index per point, 0 = largest cluster, -1 = noise.
    """
    pts = np.asarray(points, np.float64)
    m = pts.shape[0]
    if m == 0:
        return np.zeros(0, np.int32)
    if method == "dbscan":
        try:
            import open3d as o3d
        except ImportError:
            raise ImportError("euclidean_clusters(method='dbscan') needs open3d: "
                              "pip install open3d-cpu, or use method='voxel'") from None
        cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
        raw = np.asarray(cloud.cluster_dbscan(eps=float(tolerance),
                                              min_points=int(min(min_points, 10))), np.int64)
    elif method == "voxel":
        raw = _voxel_components(pts, float(tolerance))
    else:
        raise ValueError(f"unknown method {method!r}; use 'voxel' or 'dbscan'")
    return _relabel_by_size(raw, min_points, max_points)


def _voxel_components(pts: np.ndarray, size: float) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    cells = np.floor((pts - pts.min(axis=0)) / size).astype(np.int64) + 1
    dims = cells.max(axis=0) + 2
    keys = (cells[:, 0] * dims[1] + cells[:, 1]) * dims[2] + cells[:, 2]
    uniq, inverse = np.unique(keys, return_inverse=True)
    # 13 "forward" neighbour offsets cover all 26 adjacencies once.
    offsets = [(a, b, c) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1)
               if (a, b, c) > (0, 0, 0)]
    rows, cols = [], []
    for a, b, c in offsets:
        nk = uniq + (a * dims[1] + b) * dims[2] + c
        pos = np.searchsorted(uniq, nk)
        pos = np.minimum(pos, uniq.size - 1)
        hit = uniq[pos] == nk
        rows.append(np.flatnonzero(hit))
        cols.append(pos[hit])
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    graph = coo_matrix((np.ones(r.size, np.int8), (r, c)), shape=(uniq.size, uniq.size))
    _, comp = connected_components(graph, directed=False)
    return comp[inverse]


def _relabel_by_size(raw: np.ndarray, min_points: int, max_points: int | None) -> np.ndarray:
    out = np.full(raw.shape, -1, np.int32)
    valid = raw >= 0
    if not valid.any():
        return out
    ids, inverse, counts = np.unique(raw[valid], return_inverse=True, return_counts=True)
    ok = counts >= min_points
    if max_points is not None:
        ok &= counts <= max_points
    order = np.argsort(-counts, kind="stable")
    order = order[ok[order]]
    lut = np.full(ids.size, -1, np.int32)
    lut[order] = np.arange(order.size, dtype=np.int32)
    out[valid] = lut[inverse]
    return out
