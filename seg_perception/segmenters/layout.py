"""The ``geometric_layout`` semantic segmenter: support surface, floor, wall, objects.

Per-pixel classes :data:`~seg_perception.results.LAYOUT_CLASSES`
(``unknown``, ``support_surface``, ``floor``, ``wall``, ``object``) from planes
and surface normals, with no weights:

* ``support_surface``: on the support plane (within the depth noise) and facing up;
* ``object``: the instances of the ``geometric`` segmenter;
* ``floor``: a large plane facing up at least ``floor_min_drop`` below the support;
* ``wall``: a large vertical plane that is not an object, and what the instance
  stage rejected as part of a vertical plane continuing out of view;
* ``unknown``: everything else (no depth, clutter, table edges).

"Up" is ``up`` (camera frame) when given, else the support plane's normal.
The work is shared with the instance segmenter: given its ``SceneAnalysis``
(:meth:`GeometricLayoutSegmenter.segment_reusing`, as the pipeline does, or
``analysis=``) nothing is recomputed; a support plane passed to
:meth:`GeometricLayoutSegmenter.segment_with_plane` skips RANSAC.

Example:
    >>> from seg_perception.sim.synthetic import render_scene, preset_objects
    >>> layout = build_geometric_layout()
    >>> sem = layout.segment(render_scene(preset_objects("separated")).frame)
    >>> sem.class_names[1], bool(sem.mask_of("support_surface").any())
    ('support_surface', True)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError, InvalidFrameError
from ..frames import RGBDFrame
from ..geometry.plane import find_planes
from ..results import LAYOUT_CLASSES, Plane, SemanticMap
from ._api import register_semantic_segmenter
from ._protocol import InstanceResult
from .geometric import GeometricConfig, SceneAnalysis, analyse_scene

__all__ = [
    "GeometricLayoutSegmenter",
    "LayoutConfig",
    "build_geometric_layout",
]

_UNKNOWN, _SUPPORT, _FLOOR, _WALL, _OBJECT = range(5)
assert LAYOUT_CLASSES == ("unknown", "support_surface", "floor", "wall", "object")


@dataclass(frozen=True)
class LayoutConfig:
    """Settings of the layout segmenter.

    Attributes:
        geometric: settings of the shared geometric analysis (support plane, objects).
        up: "up" in the camera optical frame, e.g. ``(0, -1, 0)`` for a level
            camera; None takes the support plane's normal.
        horizontal_max_angle_deg: degrees; support and floor normals must be
            within this of up.
        vertical_max_angle_deg: degrees; wall normals must be within this of horizontal.
        floor_min_drop: metres; the floor lies at least this far below the support.
        plane_distance: metres, smallest inlier distance of floor and wall planes
            (grows with depth noise as in :class:`GeometricConfig`).
        min_plane_fraction: smallest floor or wall, as a fraction of the valid pixels.
        max_walls: most wall planes searched for.
        min_wall_height: metres; a wall's pixels must span this much along up
            (lower vertical planes are table edges or furniture sides).
    """

    geometric: GeometricConfig = field(default_factory=GeometricConfig)
    up: tuple[float, float, float] | None = None
    horizontal_max_angle_deg: float = 25.0
    vertical_max_angle_deg: float = 20.0
    floor_min_drop: float = 0.1
    plane_distance: float = 0.015
    min_plane_fraction: float = 0.02
    max_walls: int = 2
    min_wall_height: float = 0.25

    def __post_init__(self) -> None:
        if self.up is not None:
            up = np.asarray(self.up, float)
            if up.shape != (3,) or not np.isfinite(up).all() or not np.linalg.norm(up) > 0:
                raise ConfigError(f"LayoutConfig.up must be a non-zero 3-vector (camera frame) "
                                  f"or None, got {self.up!r}")
            object.__setattr__(self, "up", tuple(float(a) for a in up / np.linalg.norm(up)))
        for name in ("horizontal_max_angle_deg", "vertical_max_angle_deg"):
            if not 0 < getattr(self, name) < 90:
                raise ConfigError(f"LayoutConfig.{name} must be in (0, 90) degrees")
        if not self.plane_distance > 0 or self.floor_min_drop < 0:
            raise ConfigError("LayoutConfig.plane_distance must be > 0 and floor_min_drop >= 0")
        if not 0 < self.min_plane_fraction < 1 or self.max_walls < 0:
            raise ConfigError("LayoutConfig.min_plane_fraction must be in (0, 1), max_walls >= 0")


class GeometricLayoutSegmenter:
    """Weight-free scene layout: support surface, floor, wall and object pixels.

    ``segment(frame)`` returns a :class:`SemanticMap` with ``uint8[H, W]`` labels
    indexing :data:`LAYOUT_CLASSES`, in the frame's pixel grid.
    """

    name = "geometric_layout"
    device = "cpu"
    class_names: tuple[str, ...] = LAYOUT_CLASSES

    def __init__(self, config: LayoutConfig | None = None) -> None:
        self.config = config or LayoutConfig()

    def segment(self, frame: RGBDFrame, analysis: SceneAnalysis | None = None) -> SemanticMap:
        """Layout of ``frame``, from ``analysis`` when given (the geometric instance
        segmenter's of this frame), else from an analysis of its own."""
        return self.segment_with_plane(frame, None, analysis)

    def segment_reusing(self, frame: RGBDFrame, found: InstanceResult) -> SemanticMap:
        """Layout of ``frame`` from what the instance stage found: its support plane,
        and its analysis when it is a geometric one."""
        analysis = found.analysis if isinstance(found.analysis, SceneAnalysis) else None
        return self.segment_with_plane(frame, found.plane, analysis)

    def segment_with_plane(self, frame: RGBDFrame, plane: Plane | None,
                           analysis: SceneAnalysis | None = None) -> SemanticMap:
        """Layout of ``frame``; ``plane`` is the support plane if already known.

        Uses ``analysis`` unless it has another plane than ``plane``; otherwise
        analyses the frame (without RANSAC if ``plane``).
        """
        if analysis is None or (plane is not None and analysis.plane != plane):
            analysis = analyse_scene(frame, self.config.geometric, plane=plane)
        return self._layout(frame, analysis)

    def segment_batch(self, frames: Sequence[RGBDFrame]) -> list[SemanticMap]:
        return [self.segment(f) for f in frames]

    def _layout(self, frame: RGBDFrame, a: SceneAnalysis) -> SemanticMap:
        import cv2

        cfg = self.config
        h, w = a.valid.shape
        grid = np.zeros((h, w), np.uint8)
        up = self._up(a)
        if up is not None:
            _, _, _, nx, ny, nz = a.planar()
            along = nx * np.float32(up[0]) + ny * np.float32(up[1]) + nz * np.float32(up[2])
            horizontal = a.normals_ok & (along >= np.float32(
                math.cos(math.radians(cfg.horizontal_max_angle_deg))))
            vertical = a.normals_ok & (np.abs(along) <= np.float32(
                math.sin(math.radians(cfg.vertical_max_angle_deg))))
            objects = a.labels > 0
            if a.plane is not None:
                # Edges of the support (normals invalid there) still count when on the plane.
                grid[a.support & (horizontal | ~a.normals_ok) & ~objects] = _SUPPORT
                below = a.valid & (a.height < -np.float32(cfg.floor_min_drop))
                self._planes(a, grid, below & horizontal & (grid == 0), up, _FLOOR, 1)
            else:
                self._planes(a, grid, a.valid & horizontal, up, _FLOOR, 1)
            walls = a.valid & vertical & ~objects & (grid == 0)
            self._planes(a, grid, walls, up, _WALL, cfg.max_walls)
            if a.background is not None:
                # Regions the instance stage found to be part of a vertical plane that
                # continues out of view (a wall behind the table): wall, never object.
                grid[a.background & (vertical | ~a.normals_ok) & (grid == 0)] = _WALL
        labels = grid
        if a.stride > 1:
            s = a.stride
            labels = cv2.resize(grid, (w * s, h * s), interpolation=cv2.INTER_NEAREST)
            labels = labels[:frame.height, :frame.width]
            if labels.shape != (frame.height, frame.width):
                labels = np.pad(labels, ((0, frame.height - labels.shape[0]),
                                         (0, frame.width - labels.shape[1])), mode="edge")
            labels = np.ascontiguousarray(labels)
        labels[frame.depth <= 0] = _UNKNOWN
        if a.num_objects:  # (in the window that holds the objects)
            win = a.full_window(frame)
            np.copyto(labels[win], np.uint8(_OBJECT), where=a.full_labels(frame)[win] > 0)
        return SemanticMap(labels=labels, class_names=LAYOUT_CLASSES)

    def _up(self, a: SceneAnalysis) -> np.ndarray | None:
        if self.config.up is not None:
            return np.asarray(self.config.up, np.float64)
        if a.plane is not None:
            return np.asarray(a.plane.normal, np.float64)
        hint = a.config.up_hint
        return None if hint is None else np.asarray(hint) / np.linalg.norm(hint)

    def _planes(self, a: SceneAnalysis, grid: np.ndarray, candidates: np.ndarray,
                up: np.ndarray, label: int, max_planes: int) -> None:
        """Label the pixels of up to ``max_planes`` large planes found among ``candidates``."""
        cfg = self.config
        n_valid = max(1, int(np.count_nonzero(a.valid)))
        min_pixels = max(50, int(cfg.min_plane_fraction * n_valid))
        if max_planes <= 0 or int(candidates.sum()) < min_pixels:
            return
        idx = np.flatnonzero(candidates)
        rng = np.random.default_rng(0)
        # A large plane is found as well from a few thousand of its points.
        sample = idx if idx.size <= 3000 else idx[rng.integers(0, idx.size, 3000)]
        x, y, z, nx, ny, nz = a.planar()
        pts = np.stack([c.reshape(-1)[sample] for c in (x, y, z)], axis=1)
        gcfg = a.config
        thr = np.maximum(np.float32(cfg.plane_distance),
                         np.float32(gcfg.noise_k) * gcfg.sigma(pts[:, 2]))
        hint, angle = (up, cfg.horizontal_max_angle_deg) if label == _FLOOR else (None, None)
        try:
            planes = find_planes(pts, max_planes=max_planes, distance_threshold=thr,
                                 min_inliers=int(min_pixels * sample.size / idx.size), rng=rng,
                                 num_iterations=200, normal_hint=hint, max_angle_deg=angle)
        except InvalidFrameError:
            return
        sin_v = math.sin(math.radians(cfg.vertical_max_angle_deg))
        cos_n = np.float32(math.cos(math.radians(cfg.horizontal_max_angle_deg)))
        # Every free pixel on the plane takes the label, also where normals are
        # undefined (image border, next to edges); pixels whose normal disagrees don't.
        # (Planar elementwise arithmetic: no BLAS for thin products.)
        tol = np.maximum(np.float32(cfg.plane_distance), np.float32(gcfg.noise_k) * gcfg.sigma(z))
        for plane, inliers in planes:
            n = np.asarray(plane.normal, np.float32)
            if label == _WALL:
                if abs(float(n @ up)) > sin_v:
                    continue  # slanted: leave it unknown
                u = up.astype(np.float32)
                on = pts[inliers]  # heights along up: the same sums as .sum(axis=1)
                rise = on[:, 0] * u[0] + on[:, 1] * u[1] + on[:, 2] * u[2]
                low, high = np.percentile(rise, [5, 95])
                if float(high - low) < cfg.min_wall_height:
                    continue  # a low vertical face (a table's edge, a box side): not a wall
            dist = x * n[0] + y * n[1] + z * n[2] + np.float32(plane.offset)
            facing = (nx * n[0] + ny * n[1] + nz * n[2]) >= cos_n
            take = (a.valid & (grid == 0) & (a.labels == 0) & (np.abs(dist) <= tol)
                    & (facing | ~a.normals_ok))
            grid[take] = label


def _config_from_kwargs(config: LayoutConfig | None, kwargs: dict[str, Any]) -> LayoutConfig:
    base = config or LayoutConfig()
    names = {f.name for f in fields(LayoutConfig)}
    geo_names = {f.name for f in fields(GeometricConfig)}
    layout_kw = {k: v for k, v in kwargs.items() if k in names}
    geo_kw = {k: v for k, v in kwargs.items() if k in geo_names and k not in names}
    unknown = sorted(set(kwargs) - names - geo_names)
    if unknown:
        raise ConfigError(f"unknown geometric_layout option(s) {unknown}; valid: "
                          f"{sorted(names | geo_names)}")
    if "up" in layout_kw and layout_kw["up"] is not None:
        layout_kw["up"] = tuple(layout_kw["up"])
    if geo_kw:
        layout_kw["geometric"] = replace(layout_kw.get("geometric", base.geometric), **geo_kw)
    return replace(base, **layout_kw)


@register_semantic_segmenter("geometric_layout")
def build_geometric_layout(*, weights: Any = None, device: str = "cpu", fp16: bool = False,
                           config: LayoutConfig | None = None, **options: Any
                           ) -> GeometricLayoutSegmenter:
    """Build the ``geometric_layout`` semantic segmenter.

    Args:
        weights: must be None: this backend has no learned parameters.
        device, fp16: accepted for interface compatibility; it runs on the CPU.
        config: a full :class:`LayoutConfig`; ``options`` override its fields, and
            :class:`GeometricConfig` fields (e.g. ``up_hint``) go to its ``geometric``.

    Raises:
        ValueError: ``weights`` was given.
        ConfigError: an unknown option or a value out of range.
    """
    if weights is not None:
        raise ValueError(f"weights={weights!r}: the 'geometric_layout' segmenter has no weights; "
                         "leave weights unset (None) or pick a learned semantic backend")
    del device, fp16
    return GeometricLayoutSegmenter(_config_from_kwargs(config, dict(options)))
