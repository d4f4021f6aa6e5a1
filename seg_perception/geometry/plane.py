"""Plane fitting: vectorised RANSAC with a least-squares refit, several planes, support plane.

All points are ``float[M, 3]`` metres in the camera optical frame (x right,
y down, z forward). Planes are :class:`~seg_perception.results.Plane`
``n . p + d = 0`` with the unit normal oriented towards the camera (the camera
centre, the origin, has positive signed distance ``d``).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> xy = rng.uniform(-0.5, 0.5, (2000, 2))
    >>> pts = np.c_[xy, np.full(2000, 1.0)]          # the plane z = 1 m
    >>> plane, inliers = segment_plane(pts, distance_threshold=0.005)
    >>> (np.round(plane.normal, 3) + 0.0).tolist(), round(plane.offset, 3), len(inliers)
    ([0.0, 0.0, -1.0], 1.0, 2000)
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..errors import InvalidFrameError
from ..results import Plane
from .filters import median_of
from .transforms import cross3

if TYPE_CHECKING:
    from ..frames import RGBDFrame

__all__ = [
    "DEFAULT_UP_HINT",
    "SurfaceExtent",
    "depth_noise_from_residuals",
    "depth_noise_on_plane",
    "estimate_support_plane",
    "find_planes",
    "fit_plane_lstsq",
    "refit_plane",
    "segment_plane",
]

# "Up" in the camera optical frame of a camera tilted 45 degrees down at a table.
# With a 60 degree cone this accepts the table for any tilt from level to straight
# down, and rejects a wall facing a camera that looks down at all.
DEFAULT_UP_HINT: tuple[float, float, float] = (0.0, -math.sqrt(0.5), -math.sqrt(0.5))

# Scoring subsample: RANSAC hypotheses are scored on at most this many points
# (the inlier ratio estimate is accurate to ~1 % with 4096 samples); the refit uses all.
_SCORE_POINTS = 4096
# Hypotheses per batch: a dominant plane (inlier ratio >= 0.6) needs fewer than 32
# for 99.9 % confidence, so usually one batch is all that runs.
_BATCH = 32


def _as_points(points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise InvalidFrameError(f"points must be float[M, 3] metres, got shape {pts.shape}")
    return pts.astype(np.float32, copy=False)


def _orient(normal: np.ndarray, offset: float) -> tuple[np.ndarray, float]:
    # The camera centre (origin) has signed distance `offset`: make it positive.
    if offset < 0:
        return -normal, -offset
    return normal, offset


def fit_plane_lstsq(points: np.ndarray, weights: np.ndarray | None = None) -> Plane:
    """Total least-squares plane through ``float[M, 3]`` points (M >= 3).

    The normal is the eigenvector of the smallest eigenvalue of the (weighted)
    covariance, oriented towards the camera.
    """
    pts = np.asarray(points, np.float64)
    if pts.shape[0] < 3:
        raise InvalidFrameError(f"a plane needs at least 3 points, got {pts.shape[0]}")
    # Unweighted: the same sums without the products by 1 (the same values summed).
    w = None if weights is None else np.asarray(weights, np.float64)
    if w is None:
        centroid = pts.sum(axis=0) / np.float64(pts.shape[0])
    else:
        centroid = (w[:, None] * pts).sum(axis=0) / w.sum()
    c = [pts[:, i] - centroid[i] for i in range(3)]
    # Six elementwise sums instead of a BLAS product (faster on thin matrices).
    cov = np.empty((3, 3))
    for i in range(3):
        wc = c[i] if w is None else w * c[i]
        for j in range(i, 3):
            cov[i, j] = cov[j, i] = float((wc * c[j]).sum())
    _, vecs = np.linalg.eigh(cov)
    normal = vecs[:, 0]
    normal, offset = _orient(normal, -float(normal @ centroid))
    return Plane(tuple(float(a) for a in normal), float(offset))


def _distances(points: np.ndarray, normal: np.ndarray, offset: float) -> np.ndarray:
    """``float32[M]`` absolute distances; elementwise, not BLAS (see :func:`_ransac`)."""
    n = np.asarray(normal, np.float32)
    d = points[:, 0] * n[0]
    d += points[:, 1] * n[1]
    d += points[:, 2] * n[2]
    d += np.float32(offset)
    return np.abs(d, out=d)


def _ransac(points: np.ndarray, threshold: np.ndarray | float, num_iterations: int,
            rng: np.random.Generator, hint: np.ndarray | None, cos_max: float,
            confidence: float, point_normals: np.ndarray | None = None,
            cos_normal: float = -1.0, score_points: int = _SCORE_POINTS,
            min_inliers: int = 0) -> tuple[np.ndarray, float] | None:
    """Best ``(normal, offset)`` by inlier count on a subsample, or None.

    Sampling stops once ``confidence`` is reached for the best plane so far, or
    for a plane of ``min_inliers`` points (smaller ones are of no interest).

    Distances are computed with elementwise products rather than a matrix
    product: multi-threaded BLAS on these small, thin matrices is slower than
    numpy's loops, and much slower when the CPU is shared.
    """
    m = points.shape[0]
    if m > score_points:
        sub = rng.choice(m, score_points, replace=False)
        sample = points[sub]
        thr = threshold[sub] if isinstance(threshold, np.ndarray) else threshold
        snorm = None if point_normals is None else point_normals[sub]
    else:
        sample, thr, snorm = points, threshold, point_normals
    n_s = sample.shape[0]
    sx, sy, sz = (np.ascontiguousarray(sample[:, i]) for i in range(3))
    if snorm is not None:
        snx, sny, snz = (np.ascontiguousarray(snorm[:, i]) for i in range(3))
    best_count, best = 0, None
    log_fail = math.log(max(1e-12, 1.0 - confidence))

    def iterations_for(ratio: float) -> int:
        # Standard adaptive stop: enough samples to draw one all-inlier triple.
        p_good = ratio ** 3
        if p_good <= 1e-9:
            return num_iterations
        return 0 if p_good >= 1.0 else int(math.ceil(log_fail / math.log(1.0 - p_good)))

    enough_for_smallest = iterations_for(min(1.0, min_inliers / m))
    needed = enough_for_smallest
    done = 0
    while done < min(needed, num_iterations):
        b = min(_BATCH, num_iterations - done)
        idx = rng.integers(0, n_s, size=(b, 3))
        p0, p1, p2 = sample[idx[:, 0]], sample[idx[:, 1]], sample[idx[:, 2]]
        normals = cross3(p1 - p0, p2 - p0).astype(np.float32)
        norm = np.sqrt((normals * normals).sum(axis=1))
        ok = norm > 1e-9
        normals /= np.where(ok, norm, np.float32(1))[:, None]
        offsets = -(normals * p0).sum(axis=1)
        flip = offsets < 0  # towards the camera
        normals[flip] *= -1
        offsets[flip] *= -1
        if hint is not None:
            ok &= (normals * hint.astype(np.float32)).sum(axis=1) >= cos_max
        done += b
        if not ok.any():
            continue
        normals, offsets = normals[ok], offsets[ok]
        dist = normals[:, 0:1] * sx  # [b, n_s]
        dist += normals[:, 1:2] * sy
        dist += normals[:, 2:3] * sz
        dist += offsets[:, None]
        np.abs(dist, out=dist)
        inl = dist <= thr
        if snorm is not None:  # the point's own normal must agree with the plane's
            agree = np.multiply(normals[:, 0:1], snx, out=dist)  # (dist is done with)
            agree += normals[:, 1:2] * sny
            agree += normals[:, 2:3] * snz
            inl &= agree >= cos_normal
        counts = np.count_nonzero(inl, axis=1)
        k = int(np.argmax(counts))
        if counts[k] > best_count:
            best_count = int(counts[k])
            best = (normals[k].astype(np.float64), float(offsets[k]))
            needed = min(enough_for_smallest, max(done, iterations_for(best_count / n_s)))
    if best is None or best_count < 3:
        return None
    return best


def _inlier_mask(points: np.ndarray, threshold: np.ndarray | float, normal: np.ndarray,
                 offset: float, point_normals: np.ndarray | None, cos_normal: float) -> np.ndarray:
    inl = _distances(points, normal, offset) <= threshold
    if point_normals is not None:
        n = np.asarray(normal, np.float32)
        agree = point_normals[:, 0] * n[0]
        agree += point_normals[:, 1] * n[1]
        agree += point_normals[:, 2] * n[2]
        inl &= agree >= np.float32(cos_normal)
    return inl


def _refine(points: np.ndarray, threshold: np.ndarray | float, normal: np.ndarray,
            offset: float, hint: np.ndarray | None, cos_max: float, rounds: int = 2,
            point_normals: np.ndarray | None = None, cos_normal: float = -1.0,
            ) -> tuple[np.ndarray, float, np.ndarray]:
    """Least-squares refit on the inliers, repeated; keeps the hint constraint."""
    inliers = np.flatnonzero(_inlier_mask(points, threshold, normal, offset, point_normals,
                                          cos_normal))
    for _ in range(rounds):
        if inliers.size < 3:
            break
        fit = fit_plane_lstsq(points[inliers])
        n_new = np.asarray(fit.normal)
        if hint is not None and n_new @ hint < cos_max:
            break  # the refit left the allowed cone: keep the RANSAC model
        normal, offset = n_new, fit.offset
        new = np.flatnonzero(_inlier_mask(points, threshold, normal, offset, point_normals,
                                          cos_normal))
        if new.size == inliers.size and np.array_equal(new, inliers):
            break
        inliers = new
    return normal, offset, inliers


def _hint(normal_hint: Sequence[float] | None, max_angle_deg: float | None
          ) -> tuple[np.ndarray | None, float]:
    if normal_hint is None:
        return None, -1.0
    hint = np.asarray(normal_hint, np.float64)
    norm = np.linalg.norm(hint)
    if hint.shape != (3,) or not np.isfinite(norm) or norm == 0:
        raise ValueError(f"normal_hint must be a non-zero 3-vector, got {normal_hint!r}")
    angle = 90.0 if max_angle_deg is None else float(max_angle_deg)
    return hint / norm, math.cos(math.radians(angle))


def segment_plane(points: np.ndarray, distance_threshold: float | np.ndarray = 0.01,
                  num_iterations: int = 500, rng: np.random.Generator | int | None = None,
                  normal_hint: Sequence[float] | None = None,
                  max_angle_deg: float | None = None, confidence: float = 0.999,
                  normals: np.ndarray | None = None, max_normal_angle_deg: float = 30.0,
                  score_points: int = _SCORE_POINTS, min_inliers: int = 0,
                  ) -> tuple[Plane, np.ndarray]:
    """Find the dominant plane by RANSAC and refit it by least squares.

    Hypotheses are drawn in batches and scored together (vectorised per batch)
    on a random subsample of at most ``score_points`` points; sampling stops early once
    ``confidence`` is reached for the current inlier ratio. The winner is refit
    on all its inliers (total least squares), twice.

    Args:
        points: ``float[M, 3]`` metres, camera optical frame, M >= 3.
        distance_threshold: inlier distance in metres, a scalar or ``float[M]``
            per point (e.g. growing with depth noise, ``~ z**2``).
        num_iterations: maximum number of 3-point hypotheses.
        rng: a Generator or seed; ``None`` uses seed 0 so results are reproducible.
        normal_hint: optional direction (camera frame); with ``max_angle_deg``
            only planes whose camera-facing normal is within that angle of it count
            (e.g. ``(0, -1, 0)`` with 45 for "roughly up" for a level camera).
        max_angle_deg: cone half-angle in degrees around ``normal_hint``
            (90 when only the hint is given: the normal's half space).
        confidence: stop probability of having drawn one all-inlier sample.
        normals: optional ``float[M, 3]`` unit surface normals of the points (as
            PCL's normal-plane model): a point is an inlier only if its normal is
            within ``max_normal_angle_deg`` of the plane's (both facing the camera).
            Keeps a wall's band at table height out of the table; zero normals
            (unknown) are never inliers.
        score_points: hypotheses are scored on at most this many points (the
            inlier ratio of a large plane is then known to about 1 %).
        min_inliers: the smallest plane of interest, in points: sampling also
            stops once a plane this large would have been drawn with
            ``confidence`` (a search for a second, smaller plane ends early).

    Returns:
        ``(plane, inliers)``: the plane with its normal towards the camera and
        ``int64[K]`` indices into ``points`` of its inliers.

    Raises:
        InvalidFrameError: fewer than 3 points, or no plane satisfies the hint.
    """
    pts = _as_points(points)
    if pts.shape[0] < 3:
        raise InvalidFrameError(f"plane segmentation needs at least 3 points, got {pts.shape[0]}")
    thr = _threshold(distance_threshold, pts.shape[0])
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(
        0 if rng is None else rng)
    hint, cos_max = _hint(normal_hint, max_angle_deg)
    pn, cos_n = _point_normals(normals, pts.shape[0], max_normal_angle_deg)
    best = _ransac(pts, thr, int(num_iterations), gen, hint, cos_max, confidence, pn, cos_n,
                   max(3, int(score_points)), max(0, int(min_inliers)))
    if best is None:
        raise InvalidFrameError(
            "no plane found" + (f" within {max_angle_deg} degrees of normal_hint {normal_hint}"
                                if hint is not None else "")
            + ": check the points (enough valid depth?) or relax the hint")
    normal, offset, inliers = _refine(pts, thr, best[0], best[1], hint, cos_max,
                                      point_normals=pn, cos_normal=cos_n)
    return Plane(tuple(float(a) for a in normal), float(offset)), inliers.astype(np.int64)


def refit_plane(points: np.ndarray, plane: Plane,
                distance_threshold: float | np.ndarray = 0.01,
                normal_hint: Sequence[float] | None = None, max_angle_deg: float | None = None,
                normals: np.ndarray | None = None, max_normal_angle_deg: float = 30.0,
                ) -> tuple[Plane, np.ndarray]:
    """A known plane (e.g. last frame's table) checked against new points and refit.

    The same inlier test and least-squares refit as :func:`segment_plane`, without
    the search: the caller decides from the inlier count whether the plane still
    holds. Arguments as in :func:`segment_plane`.

    Returns:
        ``(plane, inliers)``: the refit plane (``plane`` itself when fewer than three
        points agree or the refit leaves the hint's cone) and ``int64`` inlier indices.
    """
    pts = _as_points(points)
    thr = _threshold(distance_threshold, pts.shape[0])
    hint, cos_max = _hint(normal_hint, max_angle_deg)
    pn, cos_n = _point_normals(normals, pts.shape[0], max_normal_angle_deg)
    normal, offset, inliers = _refine(pts, thr, np.asarray(plane.normal, np.float64),
                                      float(plane.offset), hint, cos_max,
                                      point_normals=pn, cos_normal=cos_n)
    return Plane(tuple(float(a) for a in normal), float(offset)), inliers.astype(np.int64)


def _point_normals(normals: np.ndarray | None, m: int, max_angle_deg: float
                   ) -> tuple[np.ndarray | None, float]:
    if normals is None:
        return None, -1.0
    pn = np.asarray(normals, np.float32)
    if pn.shape != (m, 3):
        raise ValueError(f"normals must be float[M, 3] with one row per point ({m}), "
                         f"got shape {pn.shape}")
    return pn, math.cos(math.radians(max_angle_deg))


def _threshold(distance_threshold: float | np.ndarray, m: int) -> np.ndarray | float:
    if np.ndim(distance_threshold) == 0:
        value = float(distance_threshold)  # type: ignore[arg-type]
        if not value > 0:
            raise ValueError(f"distance_threshold must be > 0 metres, got {value}")
        return value
    thr = np.asarray(distance_threshold, np.float32)
    if thr.shape != (m,):
        raise ValueError(f"distance_threshold array must have one value per point ({m}), "
                         f"got shape {thr.shape}")
    return thr


def find_planes(points: np.ndarray, max_planes: int = 3,
                distance_threshold: float | np.ndarray = 0.01, min_inliers: float = 500,
                num_iterations: int = 300, rng: np.random.Generator | int | None = None,
                normal_hint: Sequence[float] | None = None,
                max_angle_deg: float | None = None, normals: np.ndarray | None = None,
                max_normal_angle_deg: float = 30.0, score_points: int = _SCORE_POINTS,
                min_share_of_largest: float = 0.0) -> list[tuple[Plane, np.ndarray]]:
    """Several dominant planes by sequential RANSAC (e.g. table, floor, wall).

    Each plane's inliers are removed before the next search; the search stops
    at ``max_planes`` or when a plane has fewer than ``min_inliers`` inliers
    (after the first, also fewer than ``min_share_of_largest`` times the first's).
    Other arguments as in :func:`segment_plane`: each search is the same RANSAC
    and refit.

    Returns:
        ``[(plane, inliers), ...]`` largest first; ``inliers`` are ``int64``
        indices into the original ``points``.
    """
    pts = _as_points(points)
    thr_all = _threshold(distance_threshold, pts.shape[0])
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(
        0 if rng is None else rng)
    hint, cos_max = _hint(normal_hint, max_angle_deg)
    pn_all, cos_n = _point_normals(normals, pts.shape[0], max_normal_angle_deg)
    remaining = np.arange(pts.shape[0])
    found: list[tuple[Plane, np.ndarray]] = []
    while len(found) < max_planes:
        floor = max(min_inliers, min_share_of_largest * found[0][1].size if found else 0)
        if remaining.size < max(3, floor):
            break
        sub = pts[remaining]
        thr = thr_all[remaining] if isinstance(thr_all, np.ndarray) else thr_all
        pn = None if pn_all is None else pn_all[remaining]
        best = _ransac(sub, thr, num_iterations, gen, hint, cos_max, 0.999, pn, cos_n,
                       max(3, int(score_points)), max(0, int(floor)))
        if best is None:
            break
        normal, offset, inliers = _refine(sub, thr, best[0], best[1], hint, cos_max,
                                          point_normals=pn, cos_normal=cos_n)
        if inliers.size < floor:
            break
        found.append((Plane(tuple(float(a) for a in normal), float(offset)),
                      remaining[inliers].astype(np.int64)))
        keep = np.ones(remaining.size, bool)
        keep[inliers] = False
        remaining = remaining[keep]
    return found


def estimate_support_plane(frame: "RGBDFrame", exclude: np.ndarray | None = None,
                           up_hint: Sequence[float] | None = DEFAULT_UP_HINT,
                           max_angle_deg: float = 60.0, distance_threshold: float = 0.008,
                           noise_at_1m: float = 0.0015, grid_width: int = 320,
                           ) -> Plane | None:
    """The table (or floor) the objects stand on, or None if no plane qualifies.

    Uses the frame's valid depth on a grid of about ``grid_width`` columns,
    leaves out ``exclude`` (``bool[H, W]``, e.g. the union of instance masks), and
    takes the dominant plane whose camera-facing normal lies within
    ``max_angle_deg`` of ``up_hint`` (camera frame); points count only where
    their surface normal agrees with the plane's. The inlier threshold is
    ``max(distance_threshold, 3 * noise_at_1m * z**2)`` metres, since structured
    light and stereo depth noise grows with the square of the depth ``z``.
    """
    from ..frames import CameraIntrinsics
    from .normals import normals_planar

    stride = max(1, int(round(frame.width / max(1, grid_width))))
    z = np.ascontiguousarray(frame.depth[::stride, ::stride], np.float32)
    K = frame.intrinsics
    grid_k = CameraIntrinsics(z.shape[1], z.shape[0], K.fx / stride, K.fy / stride,
                              K.cx / stride, K.cy / stride)
    u, v = grid_k.pixel_rays()
    x, y = z * u[None, :], z * v[:, None]
    valid = z > 0
    normals, ok = normals_planar(x, y, z, valid)
    use = valid & ok
    if exclude is not None:
        use &= ~np.asarray(exclude, bool)[::stride, ::stride]
    idx = np.flatnonzero(use)
    if idx.size < 50:
        return None
    rng = np.random.default_rng(0)
    if idx.size > 8192:
        idx = idx[rng.integers(0, idx.size, 8192)]
    points = np.stack([x.ravel()[idx], y.ravel()[idx], z.ravel()[idx]], axis=1)
    nrm = np.stack([n.ravel()[idx] for n in normals], axis=1)
    thr = np.maximum(np.float32(distance_threshold),
                     np.float32(3.0 * noise_at_1m) * points[:, 2] ** 2)
    try:
        plane, _ = segment_plane(points, thr, rng=rng, normal_hint=up_hint,
                                 max_angle_deg=max_angle_deg, normals=nrm)
    except InvalidFrameError:
        return None
    return plane


def plane_basis(normal: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Two ``float32[3]`` unit vectors spanning the plane with this normal."""
    n = np.asarray(normal, np.float64)
    helper = np.array([1.0, 0.0, 0.0]) if abs(n[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = cross3(n, helper)
    e1 /= np.linalg.norm(e1)
    return e1.astype(np.float32), cross3(n, e1).astype(np.float32)


class SurfaceExtent:
    """The convex outline of a support surface in its own plane, grown by a margin.

    ``points`` (``float32[M, 3]``, on the plane) are projected into a 2D metric
    raster of ``cell`` metres; their convex hull, dilated by ``margin`` metres, is
    the surface's extent. :meth:`contains` tells which footprint points fall on it.
    """

    def __init__(self, points: np.ndarray, plane: Plane, margin: float,
                 cell: float = 0.01) -> None:
        import cv2

        self.e1, self.e2 = plane_basis(plane.normal)
        self.cell = float(cell)
        a, b = self._coords(points)
        pad = margin + 2 * cell
        self.origin = (float(a.min()) - pad, float(b.min()) - pad)
        size = (int((float(a.max()) + pad - self.origin[0]) / cell) + 1,
                int((float(b.max()) + pad - self.origin[1]) / cell) + 1)
        self.raster = np.zeros((size[1], size[0]), np.uint8)
        cols, rows = self._cells(a, b)
        hull = cv2.convexHull(np.stack([cols, rows], axis=1).astype(np.int32))
        cv2.fillConvexPoly(self.raster, hull, 1)
        radius = int(math.ceil(margin / cell))
        if radius > 0:  # the outline drawn with round caps and joins: a disc's dilation
            cv2.polylines(self.raster, [hull], True, 1, thickness=2 * radius + 1)
        self.area_m2 = float(np.count_nonzero(self.raster)) * cell * cell

    def _coords(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = np.asarray(points, np.float32)
        a = p[:, 0] * self.e1[0] + p[:, 1] * self.e1[1] + p[:, 2] * self.e1[2]
        b = p[:, 0] * self.e2[0] + p[:, 1] * self.e2[1] + p[:, 2] * self.e2[2]
        return a, b

    def _cells(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (np.floor((a - self.origin[0]) / self.cell).astype(np.int64),
                np.floor((b - self.origin[1]) / self.cell).astype(np.int64))

    def contains(self, points: np.ndarray) -> np.ndarray:
        """``bool[M]``: the points' projections onto the plane lie on the extent."""
        cols, rows = self._cells(*self._coords(points))
        h, w = self.raster.shape
        inside = (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h)
        out = np.zeros(cols.shape, bool)
        out[inside] = self.raster[rows[inside], cols[inside]] > 0
        return out


def depth_noise_on_plane(points: np.ndarray, plane: Plane, noise_at_1m: float,
                         noise_k: float = 3.0, floor_m: float = 0.0,
                         iterations: int = 3) -> float:
    """The sensor's depth noise at 1 m measured on ``plane`` from ``float[M, 3]`` points
    (see :func:`depth_noise_from_residuals`)."""
    pts = _as_points(points)
    dist = _distances(pts, np.asarray(plane.normal, np.float32), float(plane.offset))
    return depth_noise_from_residuals(dist, pts[:, 2], noise_at_1m, noise_k, floor_m,
                                      iterations)


def depth_noise_from_residuals(residuals: np.ndarray, z: np.ndarray, noise_at_1m: float,
                               noise_k: float = 3.0, floor_m: float = 0.0,
                               iterations: int = 3) -> float:
    """The sensor's depth noise at 1 m, ``a`` in ``sigma(z) = a z^2``, from distances
    to a plane (``residuals``, metres) of points at depth ``z``.

    ``a`` is a robust scale (1.4826 x median) of ``|residual| / z^2`` over the
    points within ``noise_k`` sigmas (at least ``floor_m``) of the plane, refined
    ``iterations`` times starting from ``noise_at_1m``, which is also the least it
    returns: a camera noisier than configured (a stereo camera far away, a dark
    table) is measured, never assumed quieter. Fewer than 50 inliers: ``noise_at_1m``.
    """
    z = np.asarray(z, np.float32)
    ok = z > 0
    z_ok = z[ok]
    z2 = z_ok * z_ok
    ratio = np.abs(np.asarray(residuals, np.float32)[ok]) / z2
    floor_ratio = np.float32(floor_m) / z2
    a = float(noise_at_1m)
    for _ in range(iterations):
        inl = ratio <= np.maximum(floor_ratio, np.float32(noise_k * a))
        if int(np.count_nonzero(inl)) < 50:
            break
        a_next = max(float(noise_at_1m), 1.4826 * median_of(ratio[inl]))
        if a_next == a:  # a fixed point: every further round would repeat this one
            break
        a = a_next
    return a
