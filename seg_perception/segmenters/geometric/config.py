"""Settings of the geometric segmenter (:class:`GeometricConfig`)."""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from ...errors import ConfigError
from ...geometry.plane import DEFAULT_UP_HINT

__all__ = ["WORKSPACE_MODES", "GeometricConfig", "config_from_kwargs"]


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
        jump_slope_ratio: a smaller step (above the noise of two pixels) also
            separates surfaces when it is this many times the depth slope on both
            sides and the image shows an edge there too: the low steps between
            objects in a pile or between flush box faces, which ``min_depth_jump``
            misses (None: off).
        crease_baseline: grid pixels between the two sides of the crease test.
        crease_min_score: concave crease strength ``2 sin(bend / 2)`` of the smoothed
            normals (0.25 ~ 14 degrees, 1.4 = right angle); raised per pixel to
            ``noise_k`` standard deviations of the score that depth noise alone gives
            there (:func:`.regions.crease_threshold`). Smoothing rounds a real crease off,
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
    jump_slope_ratio: float | None = 6.0
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


def config_from_kwargs(config: GeometricConfig | None, kwargs: dict[str, Any]) -> GeometricConfig:
    """``config`` (default: the defaults) with the fields in ``kwargs`` replaced."""
    names = {f.name for f in fields(GeometricConfig)}
    unknown = sorted(set(kwargs) - names)
    if unknown:
        raise ConfigError(f"unknown geometric segmenter option(s) {unknown}; "
                          f"valid: {sorted(names)}")
    base = config or GeometricConfig()
    if "up_hint" in kwargs and kwargs["up_hint"] is not None:
        kwargs["up_hint"] = tuple(kwargs["up_hint"])
    return replace(base, **kwargs)
