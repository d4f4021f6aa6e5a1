"""The per-frame analysis (:class:`SceneAnalysis`): grid, normals, support plane and
object labels on the grid, shared by the instance and the layout segmenters."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...frames import CameraIntrinsics, RGBDFrame
from ...results import Plane
from .config import GeometricConfig
from .grid import GridScene
from .points import GridPoints
from .labels import upsample_labels
from .regions import segment_objects
from .support import support_plane
from .timing import StageTimer

__all__ = ["SceneAnalysis", "analyse_scene"]


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
    noise: np.ndarray | None = None
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
        return self._upsampled(frame)[0]

    def full_window(self, frame: RGBDFrame) -> tuple[slice, slice]:
        """Rows and columns of :meth:`full_labels` that hold every labelled pixel."""
        return self._upsampled(frame)[1]

    def _upsampled(self, frame: RGBDFrame) -> tuple[np.ndarray, tuple[slice, slice]]:
        if "full_labels" not in self._memo:
            self._memo["full_labels"] = upsample_labels(self.labels, self.stride, self.plane,
                                                        frame, self.config, self.noise)
        return self._memo["full_labels"]


def analyse_scene(frame: RGBDFrame, config: GeometricConfig | None = None,
                  plane: Plane | None = None,
                  prior: tuple[Plane, float] | None = None) -> SceneAnalysis:
    """Run the geometric analysis of ``frame``.

    ``plane``: a support plane found elsewhere (skips the RANSAC search).
    ``prior``: ``(plane, plane_support)`` of the previous frame of a stream: used
    instead of a RANSAC search when it still holds (see ``reuse_plane``).
    """
    return _analyse(frame, config or GeometricConfig(), plane, prior)


def _analyse(frame: RGBDFrame, config: GeometricConfig, plane: Plane | None = None,
             prior: tuple[Plane, float] | None = None) -> SceneAnalysis:
    # Normals, support plane, then the objects on it; each step timed.
    import cv2

    timer = StageTimer()
    points = GridPoints.of(frame, config)
    timer.lap("normals")
    support_share = 0.0
    if plane is None:
        plane, support_share = support_plane(points, config, prior)
    timer.lap("plane")
    x, y, z, (nx, ny, nz) = points.x, points.y, points.z, points.normals
    xyz = cv2.merge([x, y, z])
    normals = cv2.merge([nx, ny, nz])
    memo = {"planar": (x, y, z, nx, ny, nz)}  # no split of xyz back needed
    stride, grid_k, valid, normals_ok = points.stride, points.K, points.valid, points.normals_ok
    if plane is None:
        zeros = np.zeros(z.shape, np.float32)
        return SceneAnalysis(stride, grid_k, xyz, valid, normals, normals_ok, None, zeros,
                             zeros, np.zeros(z.shape, bool), np.zeros(z.shape, np.int32), config,
                             timer.ms, _memo=memo)
    g = GridScene.on_plane(frame, config, points, plane)
    labels, workspace, background = segment_objects(g, timer)
    return SceneAnalysis(stride, grid_k, xyz, valid, normals, normals_ok, plane,
                         np.where(valid, g.height, np.float32(0)), g.tolerance, g.support,
                         labels, g.cfg, timer.ms, support_share, workspace, background,
                         g.noise, _memo=memo)
