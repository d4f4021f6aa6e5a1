"""The support plane of a frame: the most "up" of up to three large planes, of
parallel ones the nearest to the camera (a table over a floor), and the depth noise
measured on it."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ...geometry.plane import depth_noise_from_residuals, find_planes, refit_plane
from ...results import Plane
from .config import GeometricConfig
from .points import GridPoints

__all__ = ["measured_noise", "support_plane"]

# Metres: the lowest table (a coffee table) stands this high over the floor.
MIN_TABLE_HEIGHT = 0.3


def measured_noise(height: np.ndarray, z: np.ndarray, valid: np.ndarray,
                   config: GeometricConfig) -> GeometricConfig:
    """``config`` with ``noise_at_1m`` measured on the support plane (never below the
    configured value): every noise-scaled threshold then fits this camera and frame."""
    sub = (slice(None, None, 4), slice(None, None, 4))  # ~4800 pixels on a 320 x 240 grid
    m = valid[sub]
    a = depth_noise_from_residuals(height[sub][m], z[sub][m], config.noise_at_1m,
                                   config.noise_k, floor_m=0.5 * config.plane_distance)
    return config if a <= config.noise_at_1m else replace(config, noise_at_1m=a)


def support_plane(points: GridPoints, config: GeometricConfig,
                  prior: tuple[Plane, float] | None = None) -> tuple[Plane | None, float]:
    """``(support plane or None, share of the sampled points on it)``."""
    x, y, z, normals = points.x, points.y, points.z, points.normals
    # Only points with a known normal: their normals must agree with the plane's,
    # which keeps the band of a wall at table height out of the table plane.
    idx = np.flatnonzero(points.valid & points.normals_ok)
    if idx.size < 3 * config.min_points:
        return None, 0.0
    rng = np.random.default_rng(0)  # reproducible frame to frame
    if idx.size > 4096:  # plenty for a plane; duplicates are harmless
        idx = idx[rng.integers(0, idx.size, 4096)]
    pts = _gathered((x, y, z), idx)
    nrm = _gathered(normals, idx)
    thr = np.maximum(np.float32(config.plane_distance),
                     np.float32(config.noise_k) * config.sigma(pts[:, 2]))
    hint = config.up_hint
    angle = config.max_up_angle_deg if hint is not None else None
    if prior is not None:
        # The camera stream's last support plane: still the support if it holds
        # (nearly) as many points as it did. Moving the camera or the table breaks it.
        plane, inl = refit_plane(pts, prior[0], thr, normal_hint=hint, max_angle_deg=angle,
                                 normals=nrm)
        share = inl.size / pts.shape[0]
        if share >= max(0.9 * prior[1], 0.05) and inl.size >= 3 * config.min_points:
            return refit_in_disparity(points, plane, config), share
    # Up to three large planes inside the "up" cone (table, floor, a wall for a
    # nearly level camera), largest first; a plane after the first holds at least a
    # quarter of its points.
    planes = find_planes(pts, max_planes=3, distance_threshold=thr,
                         min_inliers=max(3 * config.min_points, 0.05 * pts.shape[0]),
                         num_iterations=config.plane_iterations, rng=rng, normal_hint=hint,
                         max_angle_deg=angle, normals=nrm, score_points=2048,
                         min_share_of_largest=0.25)
    found = [(plane, int(inl.size)) for plane, inl in planes]
    if not found:
        return None, 0.0
    best, best_count = found[0]
    if hint is not None and len(found) > 1:
        # The most "up" of the large planes: a wall facing a nearly level camera
        # can be larger than the table but is further from up.
        h = np.asarray(hint, np.float64) / np.linalg.norm(hint)
        deg = [math.degrees(math.acos(min(1.0, float(np.dot(p.normal, h))))) for p, _ in found]
        i = int(np.argmin(deg))
        if deg[i] < deg[0] - 10.0:
            best, best_count = found[i]
    # Of planes parallel to it, the nearest to the camera: the table over the floor.
    # A parallel plane less than a table's height above is the top of a large object
    # standing on it (a box, a book), not a table.
    for plane, count in found:
        if float(np.dot(plane.normal, best.normal)) > math.cos(math.radians(10.0)) \
                and plane.offset < best.offset - MIN_TABLE_HEIGHT:
            best, best_count = plane, count
    return refit_in_disparity(points, best, config), best_count / pts.shape[0]


def _gathered(arrays: tuple[np.ndarray, ...], idx: np.ndarray) -> np.ndarray:
    """``[len(idx), len(arrays)]``: the arrays' values at flat indices ``idx``, one
    column each, gathered straight into place (``np.stack`` of the gathers, faster)."""
    out = np.empty((idx.size, len(arrays)), arrays[0].dtype)
    for i, a in enumerate(arrays):
        np.take(a, idx, out=out[:, i])
    return out


_REFIT_ROUNDS = 3
"""Least-squares rounds of :func:`refit_in_disparity` (each re-selects the inliers)."""

_REFIT_STEP = 4
"""Grid pixels between the points of :func:`refit_in_disparity`, both ways (~5000 on a
320 x 240 grid): depth noise is correlated over a few pixels, so closer ones add little."""

_REFIT_NORMAL_DEG = 30.0
"""Degrees within which a point's normal must agree with the plane's to count as on
it (as in the RANSAC search): object sides and rims in the band stay out."""


def refit_in_disparity(points: GridPoints, plane: Plane, config: GeometricConfig) -> Plane:
    """``plane`` refit by least squares in inverse depth over its inliers (every
    ``_REFIT_STEP``-th grid pixel both ways, normals agreeing).

    With depth noise ``sigma = a z^2`` (stereo, structured light) the noise is one
    constant in disparity, and a plane ``n . p + d = 0`` is linear there:
    ``1 / z = -(n . (x / z, y / z, 1)) / d``. Ordinary least squares on ``1 / z``
    weights every pixel by its real noise; a 3D fit of a sample lets the far, noisy
    half of a table tilt it (up to a degree, 5-10 mm at an object 0.5 m away, as
    thick as a book). The RANSAC plane is kept if the refit leaves the ``up_hint`` cone.
    """
    sub = (slice(None, None, _REFIT_STEP), slice(None, None, _REFIT_STEP))
    ok = points.valid[sub] & points.normals_ok[sub]
    if np.count_nonzero(ok) < 3 * config.min_points:
        return plane
    xyz = np.stack([c[sub][ok] for c in (points.x, points.y, points.z)], axis=1)
    nrm = np.stack([c[sub][ok] for c in points.normals], axis=1)
    z = xyz[:, 2]
    thr = np.maximum(np.float32(config.plane_distance),
                     np.float32(config.noise_k) * config.sigma(z))
    # The normal equations of 1/z ~ (u, v, 1) as sums over the inliers: one product
    # of this 9 x N matrix with the inlier mask per round.
    # Written in place (no temporaries to stack); u, v, w are float32 quotients, widened.
    terms = np.empty((9, z.size))
    uu, uv, u, vv, v, one, uw, vw, w = terms
    np.divide(xyz[:, 0], z, out=u, dtype=np.float32)
    np.divide(xyz[:, 1], z, out=v, dtype=np.float32)
    np.divide(np.float32(1.0), z, out=w, dtype=np.float32)
    np.multiply(u, u, out=uu)
    np.multiply(u, v, out=uv)
    np.multiply(v, v, out=vv)
    one.fill(1.0)
    np.multiply(u, w, out=uw)
    np.multiply(v, w, out=vw)
    cos_normal = np.float32(math.cos(math.radians(_REFIT_NORMAL_DEG)))
    hint = None if config.up_hint is None else np.asarray(config.up_hint, np.float64)
    if hint is not None:
        hint = hint / np.linalg.norm(hint)
        cos_hint = math.cos(math.radians(config.max_up_angle_deg))
    n, d = np.asarray(plane.normal, np.float64), float(plane.offset)
    last = None
    for _ in range(_REFIT_ROUNDS):
        n32 = n.astype(np.float32)
        inl = (np.abs(xyz @ n32 + np.float32(d)) <= thr) & (nrm @ n32 >= cos_normal)
        if last is not None and np.array_equal(inl, last):
            break  # the same inliers: this round would refit the same plane
        last = inl
        if np.count_nonzero(inl) < 3 * config.min_points:
            break
        uu, uv, su, vv, sv, cnt, uw, vw, sw = terms @ inl.astype(np.float64)
        try:
            coef = np.linalg.solve(np.array([[uu, uv, su], [uv, vv, sv], [su, sv, cnt]]),
                                   np.array([uw, vw, sw]))
        except np.linalg.LinAlgError:
            break
        k = float(np.linalg.norm(coef))
        n_new = -coef / k
        if not np.all(np.isfinite(n_new)) or (hint is not None and n_new @ hint < cos_hint):
            break
        n, d = n_new, 1.0 / k
    return Plane((float(n[0]), float(n[1]), float(n[2])), d)

