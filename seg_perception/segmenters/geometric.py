"""The ``geometric`` instance segmenter: tabletop objects from depth, no weights.

Algorithm (on a grid of about 320 columns; labels are pasted back to full size):

1. Back-project depth (isolated missing pixels filled); smoothed surface normals.
2. Support plane: RANSAC with normal agreement over up to three large planes
   whose normal lies in a cone around ``up_hint`` (camera frame); the most "up"
   of them, and of parallel ones the nearest to the camera (a table over a floor).
3. Object pixels lie between ``min_height`` and ``max_height`` above it; the
   threshold grows with the depth noise (``~ z**2``).
4. Cuts: depth discontinuities (occlusion edges, tolerant of surfaces seen
   obliquely) and concave creases between surfaces (an object standing on or
   against another: the convexity test of LCCP on normals). Regions are the
   connected cut-free pixels, seeded after a one-pixel erosion (closes small gaps
   in cut lines); cut pixels go back to the nearest region of similar depth.
5. Colour split, only where geometry supports it: a crease inside a region
   that does not close (e.g. two flush boxes of different colour) is completed
   along the colour boundary between the two surfaces it separates. Colour is
   CIELAB a*b* without lightness, so a printed or striped object stays one.
6. Merges: slivers join their neighbour; a container's inside joins its
   outside (same rim height and colour, behind the rim); fragments of an
   object cut in two by an occluder join (same plane at the gap, or same
   colour and close in 3D; the gap covered by something nearer).
7. The workspace: the support plane's pixels form surfaces (connected in the
   image, bridged by the objects standing on them); ``workspace`` picks the
   largest (by area in square metres) or all. A region is an object only if its
   footprint (its points dropped onto the plane) lies on that surface's convex
   extent grown by ``workspace_margin`` metres: a chair or a second table
   beyond it, a wall behind it, are not objects.
8. A region that is one vertical plane continuing beyond what is seen of it
   (above ``max_height`` on the same plane, or into missing depth / the image
   border) is part of a wall or furniture side: background, not an object.
   Regions of implausible size (metres, square metres) are dropped.

All thresholds are physical (metres, degrees, pixels of the processing grid)
and scale with depth where sensor noise does, so one configuration serves any
tabletop RGB-D camera; nothing is fitted to particular frames.

Example:
    >>> from seg_perception.sim.synthetic import render_scene, preset_objects
    >>> seg = build_geometric()
    >>> masks, plane = seg.segment_with_plane(render_scene(preset_objects("separated")).frame)
    >>> len(masks), plane is not None
    (3, True)
"""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field, fields, replace
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError, InvalidFrameError
from ..frames import CameraIntrinsics, RGBDFrame
from ..geometry.cluster import concave_edges, depth_edges, label_regions
from ..geometry.normals import normals_planar
from ..geometry.plane import (DEFAULT_UP_HINT, SurfaceExtent, depth_noise_from_residuals,
                              fit_plane_lstsq, refit_plane, segment_plane)
from ..results import InstanceMasks, Plane
from ._api import register_instance_segmenter

__all__ = [
    "WORKSPACE_MODES",
    "GeometricConfig",
    "GeometricSegmenter",
    "SceneAnalysis",
    "analyse_scene",
    "build_geometric",
    "cached_analysis",
]


WORKSPACE_MODES: tuple[str, ...] = ("largest_surface", "all_surfaces")
"""Choices of ``workspace``: the surfaces objects may stand on."""


@dataclass(frozen=True)
class GeometricConfig:
    """Settings of the geometric segmenter; every value has a physical unit.

    Depth noise model: ``sigma(z) = noise_at_1m * z**2`` metres (structured
    light and stereo cameras; Kinect ~1.5 mm, RealSense D4xx ~2-4 mm at 1 m),
    measured on the support plane of every frame (``estimate_noise``).

    Attributes:
        grid_width: processing grid width in pixels; wider frames are subsampled
            by an integer stride and the labels pasted back to full size.
        fill_holes: fill isolated missing depth pixels from agreeing neighbours.
        min_depth, max_depth: metres; depth outside is ignored.
        up_hint: "up" in the camera optical frame, or None for no preference.
            The default, 45 degrees between -y and -z with a 60 degree cone,
            suits a camera looking down at a table at any tilt from nearly level
            to straight down; give the true up vector when known (from tf).
        max_up_angle_deg: degrees; support plane normals must be within this of
            ``up_hint``.
        plane_distance: metres, smallest RANSAC inlier distance (grows with noise).
        plane_iterations: maximum RANSAC hypotheses.
        reuse_plane: on a camera stream, first check the previous frame's support
            plane (with :class:`GeometricSegmenter`): if it still holds at least 90 %
            of the points it held then, it is refit and the RANSAC search is skipped.
        noise_at_1m: metres, depth noise standard deviation at 1 m.
        noise_k: number of standard deviations that count as "off the surface".
        min_height: metres above the support plane where objects start.
        max_height: metres above the support plane where the object space ends.
        normal_smoothing: grid pixels, half-size of the normal smoothing window.
        max_incidence_deg: degrees; surfaces seen more obliquely than this look
            like depth discontinuities between neighbouring grid pixels.
        min_depth_jump: metres, smallest depth step that separates surfaces.
        jump_slope_ratio: optional; a smaller step (above the noise) also separates
            surfaces when it is this many times the depth slope on both sides
            (finds low steps, but also cuts containers at their rims; off by default).
        crease_baseline: grid pixels between the two sides of the crease test.
        crease_min_score: concave crease strength ``2 sin(bend / 2)`` of the smoothed
            normals (0.25 ~ 14 degrees, 1.4 = right angle); raised per pixel to
            ``noise_k`` standard deviations of the score that depth noise alone gives
            there (:meth:`_Work.crease_threshold`). Smoothing rounds a real crease off,
            so a box against a box or a book on a book shows well under its true
            90 degrees.
        seed_erosion: grid pixels; regions are seeded from the cut-free pixels
            eroded by this radius, closing small gaps in cut lines.
        colour_split: split a region by colour where a crease supports it.
        colour_min_distance: CIELAB a*b* distance (0-255 scale) between the
            two colours of a region for a colour split.
        merge_bridged: merge regions joined by a thin uncut bridge (a cup's rim
            between its inside and outside) that have the same colour and top height.
        merge_colour_similarity: colour histogram intersection (0-1) above which
            two regions count as the same colour.
        merge_occluded: merge fragments of one object split by an occluder.
        merge_max_gap: metres, largest 3D gap between fragments of one object.
        min_points: fewest grid points of an object (a floor for statistics; the
            size rules are metric: ``min_area``, ``min_size``).
        min_area: square metres, smallest visible surface of an object, as seen
            face-on (about 1.4 cm x 1.4 cm); the pixel count it needs follows from
            depth and focal length, so a camera of any resolution finds the same objects.
        min_size: metres, smallest largest-extent of an object.
        max_size: metres, largest extent of an object (larger is furniture/wall).
        min_footprint_on_support: fraction of an object's points whose
            projection onto the support plane must fall on the workspace's extent.
        workspace: which support surfaces objects may stand on:
            ``largest_surface`` (the largest one in square metres, e.g. the
            table in front of the robot) or ``all_surfaces`` (every surface in
            the support plane, e.g. two tables of one height side by side).
        workspace_margin: metres an object's footprint may reach beyond the
            surface's visible extent (objects at the edge, a table edge hidden).
        reject_wall_planes: drop regions that are part of a larger vertical plane.
        estimate_noise: measure the noise on the support plane each frame
            (``sigma = a z^2`` fitted to the plane's residuals); ``noise_at_1m`` is
            then the least noise assumed. A noisier camera, or a dark table, gets
            wider plane and edge tolerances instead of fragments.
    """

    grid_width: int = 320
    fill_holes: bool = True
    min_depth: float = 0.1
    max_depth: float = 4.0
    up_hint: tuple[float, float, float] | None = DEFAULT_UP_HINT
    max_up_angle_deg: float = 60.0
    plane_distance: float = 0.008
    plane_iterations: int = 300
    reuse_plane: bool = True
    noise_at_1m: float = 0.0015
    noise_k: float = 3.0
    min_height: float = 0.006
    max_height: float = 0.6
    normal_smoothing: int = 2
    max_incidence_deg: float = 75.0
    min_depth_jump: float = 0.01
    jump_slope_ratio: float | None = None
    crease_baseline: int = 2
    crease_min_score: float = 0.25
    seed_erosion: int = 1
    colour_split: bool = True
    colour_min_distance: float = 30.0
    merge_bridged: bool = True
    merge_colour_similarity: float = 0.6
    merge_occluded: bool = True
    merge_max_gap: float = 0.25
    min_points: int = 10
    min_area: float = 2e-4
    min_size: float = 0.015
    max_size: float = 0.8
    min_footprint_on_support: float = 0.5
    workspace: str = "largest_surface"
    workspace_margin: float = 0.05
    reject_wall_planes: bool = True
    estimate_noise: bool = True

    def __post_init__(self) -> None:
        positive = ("grid_width", "max_depth", "plane_distance", "plane_iterations",
                    "noise_at_1m", "max_height", "min_depth_jump", "crease_baseline",
                    "crease_min_score", "max_size", "min_points")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(
                    f"GeometricConfig.{name} must be > 0, got {getattr(self, name)!r}")
        if not 0 <= self.min_depth < self.max_depth:
            raise ConfigError(f"GeometricConfig needs 0 <= min_depth < max_depth, got "
                              f"{self.min_depth}, {self.max_depth}")
        if not 0 <= self.min_height < self.max_height:
            raise ConfigError(f"GeometricConfig needs 0 <= min_height < max_height, got "
                              f"{self.min_height}, {self.max_height}")
        if not 0 < self.max_incidence_deg < 90:
            raise ConfigError("GeometricConfig.max_incidence_deg must be in (0, 90) degrees")
        if not 0 < self.max_up_angle_deg <= 180:
            raise ConfigError("GeometricConfig.max_up_angle_deg must be in (0, 180] degrees")
        for name in ("min_footprint_on_support", "merge_colour_similarity"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"GeometricConfig.{name} must be in [0, 1]")
        for name in ("seed_erosion", "normal_smoothing", "min_size", "min_depth_jump",
                     "colour_min_distance", "merge_max_gap"):
            if getattr(self, name) < 0:
                raise ConfigError(f"GeometricConfig.{name} must be >= 0")
        if self.workspace not in WORKSPACE_MODES:
            raise ConfigError(f"GeometricConfig.workspace={self.workspace!r}: choose one of "
                              f"{', '.join(WORKSPACE_MODES)}")
        if not 0 <= self.workspace_margin <= 2.0 or self.min_area < 0:
            raise ConfigError("GeometricConfig.workspace_margin must be in [0, 2] metres and "
                              "min_area >= 0")
        if self.jump_slope_ratio is not None and not self.jump_slope_ratio > 1:
            raise ConfigError("GeometricConfig.jump_slope_ratio must be > 1 or None")
        if self.up_hint is not None:
            hint = np.asarray(self.up_hint, float)
            if hint.shape != (3,) or not np.isfinite(hint).all() or not np.linalg.norm(hint) > 0:
                raise ConfigError(f"GeometricConfig.up_hint must be a non-zero 3-vector "
                                  f"(camera frame) or None, got {self.up_hint!r}")
            object.__setattr__(self, "up_hint", tuple(float(a) for a in hint))

    def sigma(self, z: np.ndarray) -> np.ndarray:
        """``float32`` depth noise standard deviation in metres at depth ``z`` metres."""
        return np.float32(self.noise_at_1m) * z * z


@dataclass(frozen=True, eq=False)
class SceneAnalysis:
    """Intermediate results of one frame, shared by the instance and layout segmenters.

    Grid arrays are on the processing grid: the frame subsampled by ``stride``
    (grid pixel ``(v, u)`` is frame pixel ``(v * stride, u * stride)``).

    Attributes:
        stride: subsampling factor (1 = full resolution).
        intrinsics: the grid's pinhole model.
        xyz: ``float32[h, w, 3]`` metres, camera frame; 0 where invalid.
        valid: ``bool[h, w]`` depth within range.
        normals: ``float32[h, w, 3]`` unit normals facing the camera.
        normals_ok: ``bool[h, w]``.
        plane: the support plane, or None.
        height: ``float32[h, w]`` metres above the support plane (0 without one).
        height_tolerance: ``float32[h, w]`` metres, the noise band around the plane.
        support: ``bool[h, w]`` pixels on the support plane.
        labels: ``int32[h, w]`` object instances on the grid, 0 = none.
        config: the settings it was computed with.
        plane_support: share of the sampled points (valid depth, known normal) on the
            support plane, 0 without one.
        timings_ms: wall time of each stage in milliseconds.
        workspace: ``bool[h, w]`` support pixels of the surface(s) objects may stand on.
        background: ``bool[h, w]`` regions above the plane rejected as part of a
            wall or furniture side (the layout labels them wall).
    """

    stride: int
    intrinsics: CameraIntrinsics
    xyz: np.ndarray
    valid: np.ndarray
    normals: np.ndarray
    normals_ok: np.ndarray
    plane: Plane | None
    height: np.ndarray
    height_tolerance: np.ndarray
    support: np.ndarray
    labels: np.ndarray
    config: GeometricConfig
    timings_ms: dict[str, float] = field(default_factory=dict)
    plane_support: float = 0.0
    workspace: np.ndarray | None = None
    background: np.ndarray | None = None
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def num_objects(self) -> int:
        return int(self.labels.max()) if self.labels.size else 0

    def planar(self) -> tuple[np.ndarray, ...]:
        """``(x, y, z, nx, ny, nz)``: contiguous ``float32[h, w]`` planes of points and normals."""
        if "planar" not in self._memo:
            import cv2

            self._memo["planar"] = (*cv2.split(self.xyz), *cv2.split(self.normals))
        return self._memo["planar"]

    def full_labels(self, frame: RGBDFrame) -> np.ndarray:
        """``uint16[H, W]`` instance labels at the frame's resolution (0 = none), memoised."""
        if "full_labels" not in self._memo:
            self._memo["full_labels"] = _upsample_labels(self, frame, self.config)
        return self._memo["full_labels"]


# One analysis per (frame, config): the layout segmenter reuses the instance
# segmenter's work on the same frame object. Weak keys: frames are not kept alive.
_CacheKey = tuple[GeometricConfig, "Plane | None"]
_CACHE: weakref.WeakKeyDictionary[RGBDFrame, dict[_CacheKey, SceneAnalysis]] = (
    weakref.WeakKeyDictionary())


def analyse_scene(frame: RGBDFrame, config: GeometricConfig | None = None,
                  use_cache: bool = True, plane: Plane | None = None,
                  prior: tuple[Plane, float] | None = None) -> SceneAnalysis:
    """Run the geometric analysis of ``frame`` (cached per frame object and config).

    ``plane``: a support plane found elsewhere (skips the RANSAC search).
    ``prior``: ``(plane, plane_support)`` of the previous frame of a stream: used
    instead of a RANSAC search when it still holds (see ``reuse_plane``).
    """
    config = config or GeometricConfig()
    key = (config, plane)
    if use_cache:
        per_frame = _CACHE.get(frame)
        if per_frame is not None and key in per_frame:
            return per_frame[key]
    result = _analyse(frame, config, plane, prior)
    if use_cache:
        _CACHE.setdefault(frame, {})[key] = result
    return result


def cached_analysis(frame: RGBDFrame) -> SceneAnalysis | None:
    """The most recent analysis of this frame object under any config, or None."""
    per_frame = _CACHE.get(frame)
    if not per_frame:
        return None
    return next(reversed(per_frame.values()))


def _grid(frame: RGBDFrame, config: GeometricConfig) -> tuple[int, np.ndarray, CameraIntrinsics]:
    stride = max(1, int(round(frame.width / config.grid_width)))
    depth = frame.depth[::stride, ::stride]
    K = frame.intrinsics
    # Subsampling by a stride keeps pixel centres: u_grid = u / stride exactly.
    grid_k = CameraIntrinsics(depth.shape[1], depth.shape[0], K.fx / stride, K.fy / stride,
                              K.cx / stride, K.cy / stride)
    depth = np.where((depth >= config.min_depth) & (depth <= config.max_depth), depth,
                     np.float32(0)).astype(np.float32, copy=False)
    if config.fill_holes:
        depth = _fill_small_holes(depth, config)
    return stride, depth, grid_k


def _fill_small_holes(depth: np.ndarray, config: GeometricConfig) -> np.ndarray:
    """Fill isolated missing pixels (speckle) with their neighbours' mean depth.

    Only where at least 5 of the 8 neighbours are valid and they agree within
    the depth noise, so holes at occlusion edges and shadows stay holes.
    """
    import cv2

    valid = (depth > 0).astype(np.float32)
    kernel = np.ones((3, 3), np.float32)
    count = cv2.filter2D(valid, -1, kernel, borderType=cv2.BORDER_CONSTANT)
    hole = (depth == 0) & (count >= 5)
    if not hole.any():
        return depth
    total = cv2.filter2D(depth, -1, kernel, borderType=cv2.BORDER_CONSTANT)
    mean = total / np.maximum(count, 1)
    hi = cv2.dilate(depth, kernel.astype(np.uint8))
    lo = cv2.erode(np.where(depth > 0, depth, np.float32(np.inf)).astype(np.float32, copy=False),
                   kernel.astype(np.uint8))
    agree = (hi - lo) <= np.float32(config.min_depth_jump) + np.float32(
        2 * config.noise_k) * config.sigma(mean)
    out = depth.copy()
    fill = hole & agree
    out[fill] = mean[fill]
    return out


def _signed_distance(points: np.ndarray, plane: Plane) -> np.ndarray:
    """``float32[M]`` signed distances of ``float32[M, 3]`` points, elementwise.

    (``points @ normal`` goes to multi-threaded BLAS, which is slow for one thin
    matrix-vector product and much slower when other processes share the CPU.)
    """
    n = np.asarray(plane.normal, np.float32)
    d = points[:, 0] * n[0]
    d += points[:, 1] * n[1]
    d += points[:, 2] * n[2]
    d += np.float32(plane.offset)
    return d


def _rays(K: CameraIntrinsics) -> tuple[np.ndarray, np.ndarray]:
    """Per-column ``(u - cx) / fx`` and per-row ``(v - cy) / fy`` (float32)."""
    u = (np.arange(K.width, dtype=np.float32) - np.float32(K.cx)) / np.float32(K.fx)
    v = (np.arange(K.height, dtype=np.float32) - np.float32(K.cy)) / np.float32(K.fy)
    return u, v


def _height_image(depth: np.ndarray, K: CameraIntrinsics, plane: Plane) -> np.ndarray:
    """``float32[H, W]`` signed height above ``plane``; ``n . ray`` is separable in u, v."""
    u, v = _rays(K)
    n = np.asarray(plane.normal, np.float32)
    along = (n[0] * u)[None, :] + (n[1] * v + n[2])[:, None]
    return depth * along + np.float32(plane.offset)


class _Timer:
    def __init__(self) -> None:
        import time

        self._clock = time.perf_counter
        self._last = self._clock()
        self.ms: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = self._clock()
        self.ms[name] = self.ms.get(name, 0.0) + (now - self._last) * 1e3
        self._last = now


def _analyse(frame: RGBDFrame, config: GeometricConfig, plane: Plane | None = None,
             prior: tuple[Plane, float] | None = None) -> SceneAnalysis:
    import cv2

    timer = _Timer()
    stride, z, grid_k = _grid(frame, config)
    h, w = z.shape
    valid = z > 0
    u_ray, v_ray = _rays(grid_k)
    x = z * u_ray[None, :]
    y = z * v_ray[:, None]
    (nx, ny, nz), normals_ok = normals_planar(x, y, z, valid, smoothing=config.normal_smoothing,
                                              step=1, max_depth_change=0.05)
    timer.lap("normals")
    support_share = 0.0
    if plane is None:
        plane, support_share = _support_plane(x, y, z, valid, (nx, ny, nz), normals_ok, config,
                                              prior)
    timer.lap("plane")
    xyz = cv2.merge([x, y, z])
    normals = cv2.merge([nx, ny, nz])
    if plane is None:
        zeros = np.zeros((h, w), np.float32)
        return SceneAnalysis(stride, grid_k, xyz, valid, normals, normals_ok, None, zeros,
                             zeros, np.zeros((h, w), bool), np.zeros((h, w), np.int32), config,
                             timer.ms, _memo={"planar": (x, y, z, nx, ny, nz)})
    height = _height_image(z, grid_k, plane)
    if config.estimate_noise:
        config = _measured_noise(height, z, valid, config)
    tol = np.maximum(np.float32(config.min_height), np.float32(config.noise_k) * config.sigma(z))
    support = valid & (np.abs(height) <= tol)
    candidates = valid & (height > tol) & (height < np.float32(config.max_height))
    work = _Work(frame, config, stride, grid_k, x, y, z, valid, (nx, ny, nz), normals_ok,
                 plane, height, candidates, support, timer)
    labels = work.segment()
    return SceneAnalysis(stride, grid_k, xyz, valid, normals, normals_ok, plane,
                         np.where(valid, height, np.float32(0)), tol, support, labels, config,
                         timer.ms, support_share, work.workspace, work.background,
                         _memo={"planar": (x, y, z, nx, ny, nz)})  # no split back needed


def _measured_noise(height: np.ndarray, z: np.ndarray, valid: np.ndarray,
                    config: GeometricConfig) -> GeometricConfig:
    """``config`` with ``noise_at_1m`` measured on the support plane (never below the
    configured value): every noise-scaled threshold then fits this camera and frame."""
    sub = (slice(None, None, 4), slice(None, None, 4))  # ~4800 pixels on a 320 x 240 grid
    m = valid[sub]
    a = depth_noise_from_residuals(height[sub][m], z[sub][m], config.noise_at_1m,
                                   config.noise_k, floor_m=0.5 * config.plane_distance)
    return config if a <= config.noise_at_1m else replace(config, noise_at_1m=a)


def _support_plane(x: np.ndarray, y: np.ndarray, z: np.ndarray, valid: np.ndarray,
                   normals: tuple[np.ndarray, np.ndarray, np.ndarray], normals_ok: np.ndarray,
                   config: GeometricConfig, prior: tuple[Plane, float] | None = None,
                   ) -> tuple[Plane | None, float]:
    """``(support plane or None, share of the sampled points on it)``."""
    # Only points with a known normal: their normals must agree with the plane's,
    # which keeps the band of a wall at table height out of the table plane.
    idx = np.flatnonzero(valid & normals_ok)
    if idx.size < 3 * config.min_points:
        return None, 0.0
    rng = np.random.default_rng(0)  # reproducible frame to frame
    if idx.size > 4096:  # plenty for a plane; duplicates are harmless
        idx = idx[rng.integers(0, idx.size, 4096)]
    pts = np.stack([x.ravel()[idx], y.ravel()[idx], z.ravel()[idx]], axis=1)
    nrm = np.stack([n.ravel()[idx] for n in normals], axis=1)
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
            return plane, share
    # Up to three large planes inside the "up" cone (table, floor, a wall for a
    # nearly level camera), largest first.
    found: list[tuple[Plane, int]] = []
    remaining = np.arange(pts.shape[0])
    while len(found) < 3:
        floor_size = max(3 * config.min_points, 0.05 * pts.shape[0],
                         0.25 * found[0][1] if found else 0)
        if remaining.size < floor_size:
            break
        try:
            plane, inl = segment_plane(pts[remaining], thr[remaining],
                                       num_iterations=config.plane_iterations, rng=rng,
                                       normal_hint=hint, max_angle_deg=angle,
                                       normals=nrm[remaining], score_points=2048,
                                       min_inliers=int(floor_size))
        except InvalidFrameError:  # no (more) plane is a normal outcome
            break
        if inl.size < floor_size:
            break
        found.append((plane, int(inl.size)))
        keep = np.ones(remaining.size, bool)
        keep[inl] = False
        remaining = remaining[keep]
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
                and plane.offset < best.offset - _MIN_TABLE_HEIGHT:
            best, best_count = plane, count
    return best, best_count / pts.shape[0]


class _Work:
    """The per-frame object segmentation on the grid (channel-planar float32 arrays)."""

    def __init__(self, frame: RGBDFrame, config: GeometricConfig, stride: int,
                 K: CameraIntrinsics, x: np.ndarray, y: np.ndarray, z: np.ndarray,
                 valid: np.ndarray, normals: tuple[np.ndarray, np.ndarray, np.ndarray],
                 normals_ok: np.ndarray, plane: Plane, height: np.ndarray,
                 candidates: np.ndarray, support: np.ndarray, timer: _Timer) -> None:
        self.frame, self.cfg, self.stride, self.K = frame, config, stride, K
        self.x, self.y, self.z, self.valid = x, y, z, valid
        self.normals, self.normals_ok = normals, normals_ok
        self.plane, self.height, self.candidates, self.support = plane, height, candidates, support
        self.timer = timer
        pixel_angle = 1.0 / min(K.fx, K.fy)
        # Largest depth step between neighbouring grid pixels on one smooth surface:
        # the pixel footprint seen at up to max_incidence, plus noise of both pixels.
        self.jump = (np.float32(config.min_depth_jump)
                     + z * np.float32(pixel_angle
                                      * math.tan(math.radians(config.max_incidence_deg)))
                     + np.float32(config.noise_k * math.sqrt(2.0)) * config.sigma(z))
        # Smallest step the (optional) slope test accepts: above the noise of two pixels.
        self.step_noise = 0.0 if config.jump_slope_ratio is None else (
            np.float32(0.5 * config.min_depth_jump)
            + np.float32(config.noise_k * math.sqrt(2.0)) * config.sigma(z))
        self._lab: np.ndarray | None = None
        self.workspace = np.zeros(z.shape, bool)
        self.background = np.zeros(z.shape, bool)

    # -- helpers ---------------------------------------------------------------------------
    def lab_of(self, rows: slice | np.ndarray, cols: slice | np.ndarray | None = None
               ) -> np.ndarray:
        """CIELAB ``uint8`` of grid pixels: a crop ``[rows, cols]`` (``[h, w, 3]``) or,
        with ``cols`` None, the flat pixel indices ``rows`` (``[M, 3]``)."""
        import cv2

        if self._lab is None:  # the whole grid at once: one image converts fastest
            self._lab = cv2.cvtColor(_subsampled(self.frame.rgb, self.stride), cv2.COLOR_RGB2LAB)
        if cols is None:
            return self._lab.reshape(-1, 3)[rows]
        return self._lab[rows, cols]

    def min_pixels(self, z: float | np.ndarray) -> np.ndarray:
        """Grid pixels that ``min_area`` covers at depth ``z`` (seen face-on), at least
        ``min_points``: the same metric size at any resolution and focal length."""
        z = np.maximum(np.asarray(z, np.float64), 1e-3)
        per_m2 = self.K.fx * self.K.fy / (z * z)
        return np.maximum(self.cfg.min_points, self.cfg.min_area * per_m2)

    def crease_threshold(self) -> np.ndarray | np.float32:
        """``float32[h, w]`` (or one value for all) smallest concave score taken as a crease at each pixel:
        ``crease_min_score``, or ``noise_k`` standard deviations of the score on a flat
        surface where the depth noise makes normals noisier than that.

        The normals are differences of box means (half-size ``s = normal_smoothing``)
        two grid pixels apart: on a plane with depth noise ``sigma`` and pixel
        spacing ``z / f``, each slope has noise ``sigma / (spacing (2 s + 1)^1.5)``;
        the score (a difference of two normals along one direction) has ``sqrt(2)``
        times that. A noisier camera, or the same camera farther away, so needs a
        sharper crease; nothing is cut by noise alone.
        """
        cfg = self.cfg
        f = np.float32(min(self.K.fx, self.K.fy))
        window = np.float32((2 * cfg.normal_smoothing + 1) ** 1.5)
        # sigma / spacing = a z^2 / (z / f) = a z f
        scale = np.float32(cfg.noise_k * math.sqrt(2.0) * cfg.noise_at_1m) * f / window
        if float(scale) * float(self.z.max(initial=0.0)) <= cfg.crease_min_score:
            return np.float32(cfg.crease_min_score)  # the noise is below it everywhere
        return np.maximum(np.float32(cfg.crease_min_score), scale * self.z)

    # -- pipeline ----------------------------------------------------------------------------
    def segment(self) -> np.ndarray:
        cfg = self.cfg
        k = cfg.crease_baseline
        jumps = depth_edges(self.z, self.jump, self.valid, slope_ratio=cfg.jump_slope_ratio,
                            noise=self.step_noise) & self.candidates
        creases = concave_edges((self.x, self.y, self.z), self.normals,
                                self.normals_ok & self.candidates, baseline=k,
                                min_score=self.crease_threshold(), max_gap=self.jump * (2 * k))
        cuts = jumps | creases
        self.timer.lap("edges")
        far = float(np.max(self.z, where=self.candidates, initial=0.0)) or 1.0
        labels = label_regions(self.candidates, cuts,
                               min_pixels=max(3, int(self.min_pixels(far)) // 4),
                               reassign_radius=2 * k + 1.5 + cfg.seed_erosion, depth=self.z,
                               depth_tolerance=self.jump, erode=cfg.seed_erosion)
        seeds = _eroded(self.candidates & ~cuts, cfg.seed_erosion)
        self.timer.lap("components")
        if cfg.colour_split and labels.max() > 0:
            labels = self._colour_split(labels, cuts)
            self.timer.lap("colour_split")
        if (cfg.merge_bridged or cfg.merge_occluded) and labels.max() > 1:
            labels = self._merge(labels, self.candidates & ~cuts, seeds)
            self.timer.lap("merge")
        labels = self._filter(labels)
        self.timer.lap("filter")
        return labels

    # -- colour ------------------------------------------------------------------------------
    def _colour_split(self, labels: np.ndarray, cuts: np.ndarray) -> np.ndarray:
        """Split regions in two by colour where an unclosed geometric cut supports it."""
        import cv2
        from scipy.ndimage import find_objects

        k = self.cfg.crease_baseline
        win = np.ones((4 * k + 3, 4 * k + 3), np.uint8)
        lab16 = labels.astype(np.uint16)
        # Cut pixels with no other region within two crease baselines: the cut did
        # not separate anything. Cuts along the outline between two regions (an
        # occluder's edge) do not count.
        others = np.where(labels > 0, lab16, np.uint16(65535))
        internal = cuts & (labels > 0) & (cv2.dilate(lab16, win) == cv2.erode(others, win))
        n = int(labels.max()) + 1
        counts = np.bincount(labels[internal], minlength=n)
        out = labels
        next_label = n
        tried = np.flatnonzero(counts >= max(4, 2 * k))
        boxes = find_objects(labels, max_label=int(tried.max())) if tried.size else []
        for r in tried:
            if boxes[r - 1] is None:
                continue
            split = self._try_colour_split(out, int(r), internal, boxes[r - 1])
            if split is not None:
                out = out.copy() if out is labels else out
                out[split] = next_label
                next_label += 1
        return out

    def _try_colour_split(self, labels: np.ndarray, r: int, internal: np.ndarray,
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

        cfg = self.cfg
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
        ys, xs = np.nonzero(reg)
        min_px = float(self.min_pixels(float(np.median(self.z[y0:y1, x0:x1][ys, xs]))))
        if ys.size < 2 * min_px:
            return None
        crease = (comp == longest) & inner
        near = (cv2.dilate(crease.view(np.uint8), np.ones((2 * k + 3, 2 * k + 3), np.uint8)) > 0)
        ok = self.normals_ok[y0:y1, x0:x1]
        ring = near & reg & ~crease & ok
        if ring.sum() < 8:
            return None
        # The two colours around the crease ...
        lab = self.lab_of(slice(y0, y1), slice(x0, x1))
        ab = lab[:, :, 1:].astype(np.float32)
        rv, ru = np.nonzero(ring)
        side = _two_means(ab[rv, ru])
        if side is None:
            return None
        c1 = ab[rv[~side], ru[~side]].mean(axis=0)
        c2 = ab[rv[side], ru[side]].mean(axis=0)
        if float(np.linalg.norm(c1 - c2)) < cfg.colour_min_distance:
            return None
        # ... must lie on two differently oriented surfaces (geometry supports the cut).
        nrm = np.stack([n[y0:y1, x0:x1][rv, ru] for n in self.normals], axis=1)
        n1, n2 = nrm[~side].mean(axis=0), nrm[side].mean(axis=0)
        cos = float(n1 @ n2) / max(1e-9, float(np.linalg.norm(n1) * np.linalg.norm(n2)))
        if cos > math.cos(math.radians(20)):
            return None
        # Every pixel of the region takes the nearer of the two colours.
        nearer2 = ((ab - c2) ** 2).sum(axis=2) < ((ab - c1) ** 2).sum(axis=2)
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
        sim = _colour_similarity(lab[part], lab[rest])
        if sim >= cfg.merge_colour_similarity:
            return None
        out = np.zeros(labels.shape, bool)
        out[y0:y1, x0:x1] = part
        return out

    # -- merging -----------------------------------------------------------------------------
    def _merge(self, labels: np.ndarray, uncut: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        cfg = self.cfg
        stats = _RegionStats(self, labels)
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
        min_px = self.min_pixels(stats.depth)
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
            for a, b in _bridged_pairs(labels, uncut):
                if find(a) != find(b) and self._same_colour_and_top(stats, a, b):
                    union(a, b)
            # A container's inside and outside: the rim in front hides part of the
            # inside; both end at the rim height and have the same colour (two
            # different boxes of one height, one behind the other, differ in colour).
            for a, b in stats.outline:
                if a in crumbs or b in crumbs or find(a) == find(b):
                    continue
                if max(stats.behind(a, b), stats.behind(b, a)) >= 0.5 and \
                        self._same_colour_and_top(stats, a, b):
                    union(a, b)
        if cfg.merge_occluded and len(big) > 1:
            self._merge_occluded(labels, stats, big, union)
        roots = np.array([find(i) for i in range(n + 1)])
        return roots[labels].astype(np.int32)

    def _same_colour_and_top(self, stats: "_RegionStats", a: int, b: int) -> bool:
        cfg = self.cfg
        z = max(stats.depth[a], stats.depth[b])
        tol = cfg.min_depth_jump + 2 * cfg.noise_k * float(cfg.sigma(np.float32(z)))
        if abs(stats.top[a] - stats.top[b]) > tol:
            return False
        return stats.colour_similarity(a, b) >= cfg.merge_colour_similarity

    def _merge_occluded(self, labels: np.ndarray, stats: "_RegionStats", big: list[int],
                        union) -> None:  # noqa: ANN001
        """Join fragments of one surface that an occluder split in the image."""
        import cv2

        cfg = self.cfg
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
        d2 = d2.reshape(len(pairs), -1)
        k = min(_CLOSEST_LINES, d2.shape[1])
        order = np.argpartition(d2, k - 1, axis=1)[:, :k]
        order = np.take_along_axis(
            order, np.argsort(np.take_along_axis(d2, order, axis=1), axis=1, kind="stable"), axis=1)
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
        hidden, gap = self._gaps_hidden(labels, pair_ab[line_pair, 0], pair_ab[line_pair, 1],
                                        pa, pb)
        # Only lines across a hidden gap need the (per-line) surface test.
        votes = np.zeros(len(pairs), int)
        for line in np.flatnonzero(hidden):
            p = int(line_pair[line])
            a, b = pairs[p]
            votes[p] += self._same_surface(labels, stats, a, b, pa[line], pb[line],
                                           float(gap[line]))
        n_lines = (chosen >= 0).sum(axis=1)
        for p in np.flatnonzero(votes > n_lines / 2):
            union(*pairs[p])

    def _gaps_hidden(self, labels: np.ndarray, a: np.ndarray, b: np.ndarray, pa: np.ndarray,
                     pb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each image line ``pa[i] -> pb[i]`` (grid ``(u, v)``) from region ``a[i]``
        to ``b[i]``: is the gap between them hidden by something in front?

        Every pixel between the two regions must be either hidden (no depth) or in
        front of the surface joining the ends, and at least one in front. All lines
        at once, padded to the longest. Returns ``(bool[L], gap[L] metres)``.
        """
        cfg = self.cfg
        z = self.z
        za, zb = z[pa[:, 1], pa[:, 0]], z[pb[:, 1], pb[:, 0]]
        P = np.stack([self.x[pa[:, 1], pa[:, 0]], self.y[pa[:, 1], pa[:, 0]], za], axis=1)
        Q = np.stack([self.x[pb[:, 1], pb[:, 0]], self.y[pb[:, 1], pb[:, 0]], zb], axis=1)
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
        between = inside & (ll != a[:, None]) & (ll != b[:, None])
        in_front = (zl > 0) & (zl < expected - self.jump[vs, us])
        # What breaks the surface: the support, or another object, seen at or behind it.
        # (Missing depth and unlabelled object pixels are no evidence either way.)
        seen = (zl > 0) & ~in_front & ((ll > 0) | self.support[vs, us])
        ok &= (between & in_front).any(axis=1) & ~(between & seen).any(axis=1)
        return ok, gap

    def _same_surface(self, labels: np.ndarray, stats: "_RegionStats", a: int, b: int,
                      pa: np.ndarray, pb: np.ndarray, gap: float) -> bool:
        """Regions ``a`` and ``b`` continue one surface across a hidden gap: the local
        planes at both ends of the line ``pa -> pb`` agree (or the colours do)."""
        cfg = self.cfg
        za, zb = float(self.z[pa[1], pa[0]]), float(self.z[pb[1], pb[0]])
        near_a = self._local_patch(labels, a, pa)
        near_b = self._local_patch(labels, b, pb)
        if near_a is None or near_b is None:
            return False
        plane_a, plane_b = near_a[0], near_b[0]
        tol_d = 2 * cfg.noise_k * float(cfg.sigma(np.float32(max(za, zb)))) + cfg.min_depth_jump
        angle_ok = abs(float(np.dot(plane_a.normal, plane_b.normal))) > math.cos(math.radians(20))
        coplanar = angle_ok and (
            abs(float(_signed_distance(near_b[1], plane_a).mean())) < tol_d
            and abs(float(_signed_distance(near_a[1], plane_b).mean())) < tol_d)
        if coplanar:
            return True
        return (stats.colour_similarity(a, b) >= cfg.merge_colour_similarity
                and gap < cfg.merge_max_gap / 2)

    def _local_patch(self, labels: np.ndarray, r: int, p: np.ndarray
                     ) -> tuple[Plane, np.ndarray] | None:
        """Least-squares plane of region ``r``'s pixels around grid pixel ``p = (u, v)``."""
        rad = 3 * self.cfg.crease_baseline + 2
        v, u = int(p[1]), int(p[0])
        h, w = labels.shape
        sl = (slice(max(0, v - rad), min(h, v + rad + 1)),
              slice(max(0, u - rad), min(w, u + rad + 1)))
        m = (labels[sl] == r) & self.valid[sl]
        if m.sum() < 6:
            return None
        pts = np.stack([self.x[sl][m], self.y[sl][m], self.z[sl][m]], axis=1)
        return fit_plane_lstsq(pts), pts

    # -- filtering ---------------------------------------------------------------------------
    def _filter(self, labels: np.ndarray) -> np.ndarray:
        """Keep regions of plausible metric size whose footprint lies on the workspace
        surface and that are not part of a larger vertical plane; relabel 1..N."""
        cfg = self.cfg
        extent = self._workspace_extent()
        n_lab = int(labels.max())
        if n_lab == 0:
            return labels
        sel = np.flatnonzero(labels.ravel())
        lab = labels.ravel()[sel]
        px, py, pz = self.x.ravel()[sel], self.y.ravel()[sel], self.z.ravel()[sel]
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
        area = np.bincount(lab, weights=self._pixel_area(sel), minlength=n_lab + 1)
        # Footprint: each point dropped onto the plane must land on the workspace
        # surface's extent (every 2nd object pixel is enough).
        half = slice(None, None, 2)
        sel2, lab2 = sel[half], lab[half]
        foot, in_view = self._footprints(sel2)
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
        if cfg.reject_wall_planes:
            wall = self._wall_like(labels, keep, np.stack(mean, axis=1), eigval,
                                   eigvec[:, :, 0])
            self.background = wall[labels] & (labels > 0)
            keep &= ~wall
        lut = np.zeros(n_lab + 1, np.int32)
        lut[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
        return lut[labels]

    def _pixel_area(self, sel: np.ndarray) -> np.ndarray:
        """Square metres each grid pixel ``sel`` (flat indices) covers seen face-on,
        ``z^2 / (fx fy)``: a lower bound (oblique surfaces cover more)."""
        z = self.z.ravel()[sel].astype(np.float64)
        return z * z / (self.K.fx * self.K.fy)

    def _footprints(self, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Points ``sel`` (flat indices) dropped onto the support plane (``float32[M, 3]``)
        and whether that footprint is in the camera's view."""
        nrm = np.asarray(self.plane.normal, np.float32)
        hgt = self.height.ravel()[sel]
        foot = np.stack([self.x.ravel()[sel] - hgt * nrm[0], self.y.ravel()[sel] - hgt * nrm[1],
                         self.z.ravel()[sel] - hgt * nrm[2]], axis=1)
        K = self.K
        h, w = self.z.shape
        with np.errstate(divide="ignore", invalid="ignore"):
            fu = np.float32(K.fx) * foot[:, 0] / foot[:, 2] + np.float32(K.cx)
            fv = np.float32(K.fy) * foot[:, 1] / foot[:, 2] + np.float32(K.cy)
        in_view = (foot[:, 2] > 0) & (fu >= -0.5) & (fu < w - 0.5) & (fv >= -0.5) & (fv < h - 0.5)
        return foot, in_view

    def _workspace_extent(self) -> "_Extents | None":
        """The extents of the support surface(s) objects may stand on (``workspace``).

        Surfaces are the connected pieces of the support plane's pixels (gaps of a few
        pixels, noise and missing depth, closed; found on every 2nd grid pixel, which
        is plenty for a surface); ``largest_surface`` keeps the one the camera sees
        most of, ``all_surfaces`` each piece of at least ``_MIN_SURFACE_M2``, with its
        own extent (a chair between two tables is on neither). Sets
        ``self.workspace``; None if no support is seen.
        """
        import cv2

        cfg = self.cfg
        half = np.ascontiguousarray(self.support[::2, ::2])
        if not half.any():
            return None
        closed = cv2.morphologyEx(half.view(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
        n, comp, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
        comp = np.where(half, comp, 0)
        if cfg.workspace == "largest_surface":
            chosen = [1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))] if n > 1 else []
        else:
            sel = np.flatnonzero(half)
            v, u = np.divmod(sel, half.shape[1])
            flat = (2 * v) * self.support.shape[1] + 2 * u
            area = np.bincount(comp.ravel()[sel], weights=4.0 * self._pixel_area(flat),
                               minlength=n)
            chosen = [c for c in range(1, n) if area[c] >= _MIN_SURFACE_M2]
        extents = []
        for c in chosen:
            sv, su = np.nonzero(comp[::2, ::2] == c)  # every 4th grid pixel
            if sv.size >= 3:
                sv, su = sv * 4, su * 4
                pts = np.stack([self.x[sv, su], self.y[sv, su], self.z[sv, su]], axis=1)
                extents.append(SurfaceExtent(pts, self.plane, cfg.workspace_margin))
        mine = (comp == chosen[0]) if len(chosen) == 1 else np.isin(comp, chosen)
        h, w = self.support.shape
        self.workspace = self.support & np.repeat(np.repeat(mine, 2, axis=0), 2, axis=1)[:h, :w]
        return _Extents(extents) if extents else None

    def _wall_like(self, labels: np.ndarray, keep: np.ndarray, centroid: np.ndarray,
                   variances: np.ndarray, normal: np.ndarray) -> np.ndarray:
        """``bool[n + 1]``: kept regions that are one vertical plane continuing beyond what
        is seen of it: upwards into the same plane above ``max_height``, into missing
        depth or out of the image. Objects show where they end (their top side).

        One plane: the rms thickness is within the noise and both in-plane extents are
        ten times larger (a small noisy box is not a plane). ``variances``: ascending
        eigenvalues of each region's covariance; ``normal``: the smallest's vector.
        """
        cfg = self.cfg
        out = np.zeros(keep.shape, bool)
        up = np.asarray(self.plane.normal, np.float64)
        sigma = cfg.sigma(centroid[:, 2].astype(np.float32)).astype(np.float64)
        rms = np.sqrt(np.clip(variances[:, 0], 0, None))
        middle = np.sqrt(12.0 * np.clip(variances[:, 1], 0, None))
        planar = (rms <= 0.5 * cfg.plane_distance + 1.5 * sigma) & (middle >= 10.0 * rms)
        vertical = np.abs(normal @ up) <= math.sin(math.radians(20.0))
        h, w = labels.shape
        K = self.K
        for r in np.flatnonzero(keep & planar & vertical):
            c = centroid[r]
            above = c + 0.05 * up
            uv = [(K.fx * p[0] / p[2] + K.cx, K.fy * p[1] / p[2] + K.cy) for p in (c, above)]
            d = np.subtract(uv[1], uv[0])
            if not np.all(np.isfinite(d)) or np.linalg.norm(d) < 1e-6:
                continue
            d = 3.0 * d / np.linalg.norm(d)  # three grid pixels "up" in the image
            rv, ru = np.nonzero(labels == r)
            qv = np.round(rv + d[1]).astype(np.int64)
            qu = np.round(ru + d[0]).astype(np.int64)
            outside = (qv < 0) | (qv >= h) | (qu < 0) | (qu >= w)
            qv_c, qu_c = np.clip(qv, 0, h - 1), np.clip(qu, 0, w - 1)
            upper = outside | (labels[qv_c, qu_c] != r)
            if int(upper.sum()) < 3:
                continue
            n = normal[r]
            off = -float(n @ c)
            dist = np.abs(self.x[qv_c, qu_c] * n[0] + self.y[qv_c, qu_c] * n[1]
                          + self.z[qv_c, qu_c] * n[2] + off)
            tol = np.maximum(cfg.plane_distance, cfg.noise_k * cfg.sigma(self.z[qv_c, qu_c]))
            valid = self.valid[qv_c, qu_c] & ~outside
            beyond = outside | ~valid | (dist <= tol)
            out[r] = float(beyond[upper].mean()) >= 0.5
        return out


class _Extents:
    """Several surface extents: a point is on the workspace if it is on any of them."""

    def __init__(self, extents: list[SurfaceExtent]) -> None:
        self.extents = extents

    def contains(self, points: np.ndarray) -> np.ndarray:
        out = self.extents[0].contains(points)
        for extent in self.extents[1:]:
            out |= extent.contains(points)
        return out


# Metres: the lowest table (a coffee table) stands this high over the floor.
_MIN_TABLE_HEIGHT = 0.3
# A support surface smaller than this (square metres) is not a place to put objects on.
_MIN_SURFACE_M2 = 0.01

# _merge_occluded: outline samples per region, and closest point pairs tried per pair.
_CONTOUR_POINTS, _CLOSEST_LINES = 60, 40


class _RegionStats:
    """Per-region numbers for the merge rules, computed in one pass over the labels.

    ``count``, ``top`` (95th percentile height above the support, metres),
    ``depth`` (median z, metres), ``box`` (grid bounding box), colour histograms
    (8 x 8 bins of CIELAB a*b*), and for 4-adjacent regions the shared outline
    length and how often one is behind the other across it.
    """

    def __init__(self, work: "_Work", labels: np.ndarray) -> None:
        n = self.n = int(labels.max())
        sel = np.flatnonzero(labels.ravel())
        lab = labels.ravel()[sel]
        self.count = np.bincount(lab, minlength=n + 1)
        heights, zs = work.height.ravel()[sel], work.z.ravel()[sel]
        by_height = _sorted_within(lab, heights)
        by_depth = _sorted_within(lab, zs)
        starts = np.concatenate([[0], np.cumsum(self.count)])[:-1]
        has = self.count > 0
        cnt = np.maximum(self.count, 1)
        self.top = np.where(has, heights[by_height[starts + (0.95 * (cnt - 1)).astype(int)]], 0.0)
        self.depth = np.where(has, 0.5 * (zs[by_depth[starts + (cnt - 1) // 2]]
                                          + zs[by_depth[starts + cnt // 2]]), 0.0)
        # a*b* histogram bin of every grid pixel, then of the selected ones (one
        # flat index into a 1-byte image: much cheaper than picking [M, 3] rows).
        ab = work.lab_of(slice(None), slice(None))
        key = ((ab[:, :, 1] >> 5) * 8 + (ab[:, :, 2] >> 5)).ravel()[sel].astype(np.int64)
        hist = np.bincount(lab.astype(np.int64) * 64 + key,
                           minlength=(n + 1) * 64).reshape(n + 1, 64)
        self.hist = hist / np.maximum(hist.sum(axis=1, keepdims=True), 1)
        # 3D centroid and size (sqrt(12 var) along the major axis: a uniform extent).
        safe = np.maximum(self.count, 1)
        coords = [c.ravel()[sel] for c in (work.x, work.y, work.z)]
        self.centroid = np.stack([np.bincount(lab, weights=c, minlength=n + 1) / safe
                                  for c in coords], axis=1)
        second = sum(np.bincount(lab, weights=c * c, minlength=n + 1) / safe for c in coords)
        self.size = np.sqrt(12.0 * np.clip(second - (self.centroid ** 2).sum(axis=1), 0, None))
        rows, cols = np.divmod(sel[by_depth], labels.shape[1])  # grouped by region
        first = starts[has]
        y_min, y_max = np.minimum.reduceat(rows, first), np.maximum.reduceat(rows, first)
        x_min, x_max = np.minimum.reduceat(cols, first), np.maximum.reduceat(cols, first)
        self.box = {int(i): (int(y_min[k]), int(y_max[k]) + 1, int(x_min[k]), int(x_max[k]) + 1)
                    for k, i in enumerate(np.flatnonzero(has)) if i > 0}
        self._pairs(work, labels)

    def _pairs(self, work: "_Work", labels: np.ndarray) -> None:
        n1 = self.n + 1
        outline: list[np.ndarray] = []
        touch: list[np.ndarray] = []
        behind: list[np.ndarray] = []
        z, jump = work.z, work.jump
        for sa, sb in (((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
                       ((slice(None, -1), slice(None)), (slice(1, None), slice(None)))):
            la, lb = labels[sa], labels[sb]
            diff = (la != lb) & (la > 0) & (lb > 0)
            a, b = la[diff].astype(np.int64), lb[diff].astype(np.int64)
            za, zb = z[sa][diff], z[sb][diff]
            outline.append(np.minimum(a, b) * n1 + np.maximum(a, b))
            # Key (back, front): one entry per neighbouring pixel pair, both ways.
            touch += [a * n1 + b, b * n1 + a]
            behind += [(za - zb) > jump[sa][diff], (zb - za) > jump[sb][diff]]
        keys, counts = np.unique(np.concatenate(outline), return_counts=True)
        self.outline = {(int(k // n1), int(k % n1)): int(c)
                        for k, c in zip(keys, counts, strict=True)}
        t = np.concatenate(touch)
        self._touch = np.bincount(t, minlength=n1 * n1)
        self._behind = np.bincount(t, weights=np.concatenate(behind), minlength=n1 * n1)

    def behind(self, front: int, back: int) -> float:
        """Fraction of neighbouring pixel pairs across the outline where ``back`` is farther
        than ``front`` by more than a depth step."""
        k = back * (self.n + 1) + front
        return float(self._behind[k] / self._touch[k]) if self._touch[k] else 0.0

    def colour_similarity(self, a: int, b: int) -> float:
        """Histogram intersection in [0, 1] of the regions' a*b* colours."""
        return float(np.minimum(self.hist[a], self.hist[b]).sum())


def _subsampled(image: np.ndarray, stride: int) -> np.ndarray:
    """``image[::stride, ::stride]``, contiguous (OpenCV's nearest-neighbour resize picks
    exactly those pixels, several times faster than numpy's strided copy)."""
    import cv2

    h, w = image.shape[:2]
    if stride == 1 or h % stride or w % stride:  # exact only for whole multiples
        return np.ascontiguousarray(image[::stride, ::stride])
    return cv2.resize(image, (w // stride, h // stride), interpolation=cv2.INTER_NEAREST)


def _sorted_within(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Order of ``values`` (metres) sorted by group, then by value to 10 um.

    One integer sort instead of a two-key ``lexsort``; negative values (a few
    reassigned pixels just below the support) sort as 0.
    """
    quantised = np.clip(values * 1e5, 0, 2 ** 31 - 1).astype(np.int64)
    return np.argsort((groups.astype(np.int64) << 32) | quantised, kind="stable")


def _bridged_pairs(labels: np.ndarray, uncut: np.ndarray) -> list[tuple[int, int]]:
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


def _eroded(mask: np.ndarray, radius: int) -> np.ndarray:
    import cv2

    if radius <= 0:
        return mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.erode(np.ascontiguousarray(mask).view(np.uint8), kernel, borderValue=0).view(bool)


def _two_means(ab: np.ndarray, iterations: int = 8) -> np.ndarray | None:
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
        new = ((ab - c1) ** 2).sum(axis=1) < ((ab - c0) ** 2).sum(axis=1)
        if np.array_equal(new, assign):
            break
        assign = new
    if assign.all() or not assign.any():
        return None
    return assign


def _colour_histogram(lab: np.ndarray) -> np.ndarray:
    """``float64[64]`` normalised 8 x 8 histogram of CIELAB a*b* of ``uint8[M, 3]`` pixels.

    Lightness is left out: shading and printed brightness patterns do not
    change an object's colour.
    """
    key = (lab[:, 1] >> 5).astype(np.int64) * 8 + (lab[:, 2] >> 5)
    hist = np.bincount(key, minlength=64).astype(np.float64)
    return hist / max(hist.sum(), 1.0)


def _colour_similarity(lab_a: np.ndarray, lab_b: np.ndarray) -> float:
    """Histogram intersection in [0, 1] of two sets of ``uint8[M, 3]`` CIELAB pixels."""
    return float(np.minimum(_colour_histogram(lab_a), _colour_histogram(lab_b)).sum())


def _upsample_labels(analysis: SceneAnalysis, frame: RGBDFrame, config: GeometricConfig
                     ) -> np.ndarray:
    """``uint16[H, W]`` full-resolution labels: nearest grid label, checked against full depth.

    Only the bounding box of all objects (plus a margin) is processed at full size.
    """
    import cv2

    s = analysis.stride
    labels = analysis.labels.astype(np.uint16)
    H, W = frame.height, frame.width
    if s == 1:
        return labels
    out = np.zeros((H, W), np.uint16)
    if analysis.plane is None or not labels.any():
        return out
    rows = np.flatnonzero(labels.any(axis=1))
    cols = np.flatnonzero(labels.any(axis=0))
    gy0, gy1 = max(0, rows[0] - 1), min(labels.shape[0], rows[-1] + 2)
    gx0, gx1 = max(0, cols[0] - 1), min(labels.shape[1], cols[-1] + 2)
    y0, x0 = gy0 * s, gx0 * s
    y1, x1 = min(H, gy1 * s), min(W, gx1 * s)
    up = cv2.resize(labels[gy0:gy1, gx0:gx1], ((gx1 - gx0) * s, (gy1 - gy0) * s),
                    interpolation=cv2.INTER_NEAREST)[:y1 - y0, :x1 - x0]
    # Full-resolution check: a pixel keeps the nearest grid label only if it is
    # itself above the support plane (object outlines at full resolution).
    depth = frame.depth[y0:y1, x0:x1]
    K = frame.intrinsics
    u = (np.arange(x0, x1, dtype=np.float32) - np.float32(K.cx)) / np.float32(K.fx)
    v = (np.arange(y0, y1, dtype=np.float32) - np.float32(K.cy)) / np.float32(K.fy)
    n = np.asarray(analysis.plane.normal, np.float32)
    height = depth * ((n[0] * u)[None, :] + (n[1] * v + n[2])[:, None]) + np.float32(
        analysis.plane.offset)
    tol = np.maximum(np.float32(config.min_height),
                     np.float32(config.noise_k) * config.sigma(depth))
    ok = ((height > tol) & (depth >= np.float32(config.min_depth))
          & (depth <= np.float32(config.max_depth)))
    # Object pixels just outside the grid outline take the neighbouring label
    # (nearest-neighbour upsampling rounds outlines to the grid).
    grown = cv2.dilate(up, np.ones((2 * s - 1, 2 * s - 1), np.uint8))
    fine = np.where(ok, np.where(up > 0, up, grown), np.uint16(0))
    # Inside an object (its grid label on all 8 grid neighbours) the grid has decided:
    # a pixel there that is noisy, just under the height tolerance (a plate's top) or
    # without depth (a sensor dropout on a dark or shiny surface) is still the object.
    # Only the outline band is checked at full resolution.
    crop = labels[gy0:gy1, gx0:gx1]
    box3 = np.ones((3, 3), np.uint8)
    interior = (crop > 0) & (cv2.erode(crop, box3) == cv2.dilate(crop, box3))
    inner = cv2.resize(interior.view(np.uint8), ((gx1 - gx0) * s, (gy1 - gy0) * s),
                       interpolation=cv2.INTER_NEAREST)[:y1 - y0, :x1 - x0].view(bool)
    fine = np.where(inner, up, fine)
    out[y0:y1, x0:x1] = fine
    return out


def _instances(labels: np.ndarray, n: int) -> InstanceMasks:
    """One mask per label ``1..n`` present, with exact boxes; each mask is written
    inside its own box only (one pass over the image finds the boxes)."""
    from scipy.ndimage import find_objects

    if n == 0:
        return InstanceMasks.empty(*labels.shape)
    found = [(i, sl) for i, sl in enumerate(find_objects(labels, max_label=n), 1)
             if sl is not None]
    if not found:
        return InstanceMasks.empty(*labels.shape)
    masks = np.zeros((len(found), *labels.shape), bool)  # zero pages: costs what is written
    boxes = np.empty((len(found), 4), np.float32)
    for k, (i, (rows, cols)) in enumerate(found):
        np.equal(labels[rows, cols], i, out=masks[k, rows, cols])
        boxes[k] = (cols.start, rows.start, cols.stop, rows.stop)
    m = len(found)
    return InstanceMasks(masks, np.ones(m, np.float32), np.zeros(m, np.int32), ("object",) * m,
                         boxes).knowing_tight_boxes(boxes)


class GeometricSegmenter:
    """Weight-free instance segmentation of objects on a support plane from depth.

    ``segment(frame)`` returns :class:`InstanceMasks` with ``bool[N, H, W]`` masks in
    the frame's pixel grid, class ``"object"``, score 1 (no confidence model).
    See the module docstring for the algorithm and :class:`GeometricConfig`.
    """

    name = "geometric"
    device = "cpu"
    class_names: tuple[str, ...] = ("object",)

    def __init__(self, config: GeometricConfig | None = None) -> None:
        self.config = config or GeometricConfig()
        self._prior: tuple[Plane, float] | None = None  # last frame's support plane

    def analyse(self, frame: RGBDFrame) -> SceneAnalysis:
        """The cached :class:`SceneAnalysis` of ``frame``.

        Frames are taken as one camera stream: with ``reuse_plane`` the previous
        frame's support plane is tried before a RANSAC search (:meth:`reset` forgets it).
        """
        prior = self._prior if self.config.reuse_plane else None
        analysis = analyse_scene(frame, self.config, prior=prior)
        self._prior = ((analysis.plane, analysis.plane_support)
                       if analysis.plane is not None and analysis.plane_support > 0 else None)
        return analysis

    def reset(self) -> None:
        """Forget the previous frame (a new camera, or frames that are not a stream)."""
        self._prior = None

    def set_workspace(self, workspace: str, margin: float) -> None:
        """Change the ``workspace`` and ``workspace_margin`` settings (run time)."""
        self.config = replace(self.config, workspace=workspace, workspace_margin=margin)

    def segment_with_plane(self, frame: RGBDFrame) -> tuple[InstanceMasks, Plane | None]:
        """Instances and the support plane they stand on (None if not found)."""
        analysis = self.analyse(frame)
        return _instances(analysis.full_labels(frame), analysis.num_objects), analysis.plane

    def segment(self, frame: RGBDFrame) -> InstanceMasks:
        return self.segment_with_plane(frame)[0]

    def segment_batch(self, frames: Sequence[RGBDFrame]) -> list[InstanceMasks]:
        return [self.segment(f) for f in frames]

    def __repr__(self) -> str:
        return f"GeometricSegmenter({self.config})"


def _config_from_kwargs(config: GeometricConfig | None, kwargs: dict[str, Any]) -> GeometricConfig:
    names = {f.name for f in fields(GeometricConfig)}
    unknown = sorted(set(kwargs) - names)
    if unknown:
        raise ConfigError(f"unknown geometric segmenter option(s) {unknown}; "
                          f"valid: {sorted(names)}")
    base = config or GeometricConfig()
    if "up_hint" in kwargs and kwargs["up_hint"] is not None:
        kwargs["up_hint"] = tuple(kwargs["up_hint"])
    return replace(base, **kwargs)


@register_instance_segmenter("geometric")
def build_geometric(*, weights: Any = None, device: str = "cpu", fp16: bool = False,
                    config: GeometricConfig | None = None, **options: Any) -> GeometricSegmenter:
    """Build the ``geometric`` instance segmenter.

    Args:
        weights: must be None: this backend has no learned parameters.
        device, fp16: accepted for interface compatibility; it runs on the CPU in
            float32 whatever they say.
        config: a full :class:`GeometricConfig`; ``options`` override its fields
            (e.g. ``up_hint=(0, -1, 0)``, ``max_height=0.4``).

    Raises:
        ValueError: ``weights`` was given.
        ConfigError: an unknown option or a value out of range.
    """
    if weights is not None:
        raise ValueError(f"weights={weights!r}: the 'geometric' segmenter has no weights; "
                         "leave weights unset (None) or pick a learned backend")
    del device, fp16  # numpy/OpenCV on the CPU whatever the pipeline's device
    return GeometricSegmenter(_config_from_kwargs(config, dict(options)))
