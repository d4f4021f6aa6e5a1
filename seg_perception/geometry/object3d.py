"""Per-object 3D geometry from an RGB-D frame and instance masks.

For each mask: erode (drop flying pixels at the outline), back-project
(:func:`~seg_perception.geometry.projection.depth_to_points`), keep the depth
range, voxel-downsample, remove statistical outliers, then describe the cloud:
centroid, oriented box (gravity aligned on the support plane when it is
known), principal axes, top-surface normal and optionally colours.

Everything is metres in the camera optical frame of the frame.

Example:
    >>> from seg_perception.sim.synthetic import preset_objects, render_scene
    >>> from seg_perception.results import InstanceMasks
    >>> scene = render_scene(preset_objects("separated"), width=160, height=120)
    >>> masks = InstanceMasks.from_label_image(scene.instance_labels)
    >>> geoms = compute_objects(scene.frame, masks, scene.table_plane)
    >>> [g is not None for g in geoms]
    [True, True, True]
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..frames import RGBDFrame
from ..results import InstanceMasks, ObjectGeometry, Plane
from .boxes import oriented_box, principal_axes
from .filters import (
    depth_range,
    erode_mask,
    erode_mask_at_depth_edges,
    remove_statistical_outliers,
    voxel_downsample,
)
from .projection import depth_to_points, depth_to_xyz_image

__all__ = ["Object3DConfig", "compute_object_geometry", "compute_objects"]


@dataclass(frozen=True)
class Object3DConfig:
    """Settings of the per-object 3D stage.

    Attributes:
        erosion_px: mask rim dropped before back-projection, pixels (0 = off).
        rim_tolerance: rim pixels whose depth is within this many metres of
            the eroded interior next to them are kept (see
            :func:`~seg_perception.geometry.filters.erode_mask_at_depth_edges`):
            flying pixels go, the true outline stays. 0 drops the whole rim.
        min_depth: nearest depth kept, metres.
        max_depth: farthest depth kept, metres.
        voxel_size: voxel side for downsampling, metres (0 = off).
        outlier_neighbors: neighbours of the statistical outlier filter (0 = off).
        outlier_std_ratio: its threshold in standard deviations.
        outlier_floor_ratio: points within this multiple of the median
            neighbour distance are never outliers (keeps clean edges, see
            :func:`~seg_perception.geometry.filters.remove_statistical_outliers`).
        min_points: objects with fewer points after all filters get no geometry.
        with_colors: attach the mean RGB of each voxel to the cloud.
        extend_to_support: with a support plane, extend each box down to it
            (the camera never sees the bottom; wrong for stacked objects,
            whose box then reaches the table).
        outlier_backend: nearest-neighbour search, ``"auto"``, ``"open3d"``
            or ``"scipy"`` (identical results).
    """

    erosion_px: int = 2
    rim_tolerance: float = 0.01
    min_depth: float = 0.15
    max_depth: float = 3.0
    voxel_size: float = 0.004
    outlier_neighbors: int = 16
    outlier_std_ratio: float = 2.0
    outlier_floor_ratio: float = 2.0
    min_points: int = 30
    with_colors: bool = True
    extend_to_support: bool = True
    outlier_backend: str = "auto"

    def __post_init__(self) -> None:
        if self.erosion_px < 0:
            raise ConfigError(f"erosion_px must be >= 0, got {self.erosion_px}")
        if self.rim_tolerance < 0:
            raise ConfigError(f"rim_tolerance must be >= 0 metres, got {self.rim_tolerance}")
        if not 0 <= self.min_depth < self.max_depth:
            raise ConfigError(f"need 0 <= min_depth < max_depth, got min_depth={self.min_depth}"
                              f", max_depth={self.max_depth}")
        if self.voxel_size < 0:
            raise ConfigError(f"voxel_size must be >= 0 metres, got {self.voxel_size}")
        if self.outlier_neighbors < 0:
            raise ConfigError(f"outlier_neighbors must be >= 0, got {self.outlier_neighbors}")
        if self.outlier_neighbors and self.outlier_std_ratio <= 0:
            raise ConfigError(f"outlier_std_ratio must be > 0, got {self.outlier_std_ratio}")
        if self.outlier_floor_ratio < 0:
            raise ConfigError(f"outlier_floor_ratio must be >= 0, got {self.outlier_floor_ratio}")
        if self.min_points < 1:
            raise ConfigError(f"min_points must be >= 1, got {self.min_points}")
        if self.outlier_backend not in ("auto", "open3d", "scipy"):
            raise ConfigError(f"outlier_backend {self.outlier_backend!r} is not one of "
                              "auto, open3d, scipy")


def _upward(plane: Plane) -> Plane:
    """The plane with its normal towards the camera (origin), whatever the caller's sign."""
    if plane.offset < 0:  # n . 0 + d < 0: the camera is on the negative side
        nx, ny, nz = plane.normal
        return Plane((-float(nx), -float(ny), -float(nz)), -float(plane.offset))
    return plane


def _clean_mask(mask: np.ndarray, depth: np.ndarray, cfg: Object3DConfig) -> np.ndarray:
    """The object's pixels with valid depth, minus flying pixels at its outline."""
    if cfg.rim_tolerance > 0:
        return erode_mask_at_depth_edges(mask, depth, cfg.erosion_px, cfg.rim_tolerance)
    return erode_mask(mask, cfg.erosion_px) & (depth > 0)


def _describe(points: np.ndarray, colors: np.ndarray | None, plane: Plane | None,
              cfg: Object3DConfig) -> ObjectGeometry | None:
    """Filter one object's camera-frame cloud and fit its geometry (None if too small)."""
    keep = depth_range(points, cfg.min_depth, cfg.max_depth)
    points = points[keep]
    colors = colors[keep] if colors is not None else None
    if points.shape[0] < cfg.min_points:
        return None
    points, colors = voxel_downsample(points, cfg.voxel_size, colors)
    if cfg.outlier_neighbors:
        inliers = remove_statistical_outliers(
            points, cfg.outlier_neighbors, cfg.outlier_std_ratio,
            floor_ratio=cfg.outlier_floor_ratio, backend=cfg.outlier_backend)
        points = points[inliers]
        colors = colors[inliers] if colors is not None else None
    if points.shape[0] < cfg.min_points:
        return None
    pts64 = points.astype(np.float64)
    centroid = pts64.mean(axis=0)
    axes = principal_axes(pts64)
    if plane is not None:
        box = oriented_box(pts64, up=plane.normal,
                           support_plane=plane if cfg.extend_to_support else None)
        top_normal = np.asarray(plane.normal, np.float64)
    else:
        box = oriented_box(pts64)
        # Minor PCA axis, pointing at the camera (the origin): the visible side.
        top_normal = axes[:, 2] if axes[:, 2] @ centroid < 0 else -axes[:, 2]
    return ObjectGeometry(points=points, colors=colors, centroid=centroid,
                          box_center=box.center, box_rotation=box.rotation,
                          box_extent=box.extent, principal_axes=axes,
                          top_normal=top_normal / np.linalg.norm(top_normal))


def compute_object_geometry(frame: RGBDFrame, mask: np.ndarray,
                            support_plane: Plane | None = None,
                            config: Object3DConfig | None = None) -> ObjectGeometry | None:
    """3D geometry of one object.

    Args:
        frame: the RGB-D frame (depth metres, 0 = invalid).
        mask: ``bool[H, W]`` object pixels in the colour camera's pixel grid.
        support_plane: the plane the object stands on (camera frame); makes the
            box gravity aligned and sets ``top_normal`` to its normal.
        config: filter settings (defaults: :class:`Object3DConfig`).

    Returns:
        :class:`~seg_perception.results.ObjectGeometry` (camera optical frame,
        metres), or None when fewer than ``config.min_points`` points survive.
    """
    cfg = config or Object3DConfig()
    mask = np.asarray(mask, bool)
    if mask.shape != frame.depth.shape:
        raise ValueError(f"mask shape {mask.shape} differs from the frame's {frame.depth.shape}")
    points, pixels = depth_to_points(frame.depth, frame.intrinsics,
                                     _clean_mask(mask, frame.depth, cfg))
    colors = frame.rgb.reshape(-1, 3)[pixels] if cfg.with_colors else None
    plane = _upward(support_plane) if support_plane is not None else None
    return _describe(points, colors, plane, cfg)


def compute_objects(frame: RGBDFrame, instances: InstanceMasks | np.ndarray,
                    support_plane: Plane | None = None,
                    config: Object3DConfig | None = None) -> list[ObjectGeometry | None]:
    """:func:`compute_object_geometry` for every instance of a frame.

    The frame is back-projected once (:func:`depth_to_xyz_image`) and each
    mask is eroded inside its bounding box only, so the per-object cost is
    that of its own pixels.

    Args:
        instances: :class:`~seg_perception.results.InstanceMasks` or ``bool[N, H, W]``.

    Returns:
        ``N`` entries in instance order, None where an object has too few points.
    """
    cfg = config or Object3DConfig()
    masks = instances.masks if isinstance(instances, InstanceMasks) else np.asarray(instances, bool)
    if masks.ndim != 3 or masks.shape[1:] != frame.depth.shape:
        raise ValueError(f"masks must be bool[N, {frame.height}, {frame.width}], got {masks.shape}")
    if masks.shape[0] == 0:
        return []
    plane = _upward(support_plane) if support_plane is not None else None
    height, width = frame.depth.shape
    xyz = depth_to_xyz_image(frame.depth, frame.intrinsics).reshape(-1, 3)
    rgb = frame.rgb.reshape(-1, 3)
    rows_any, cols_any = masks.any(axis=2), masks.any(axis=1)
    m = cfg.erosion_px
    out: list[ObjectGeometry | None] = []
    for i in range(masks.shape[0]):  # loop over objects; all pixel work is vectorised
        ys, xs = np.flatnonzero(rows_any[i]), np.flatnonzero(cols_any[i])
        if ys.size == 0:
            out.append(None)
            continue
        # Crop with an erosion-wide margin: the mask is empty there, so eroding the
        # crop with a zero border equals eroding the full mask.
        y0, y1 = max(ys[0] - m, 0), min(ys[-1] + m + 1, height)
        x0, x1 = max(xs[0] - m, 0), min(xs[-1] + m + 1, width)
        crop = _clean_mask(masks[i, y0:y1, x0:x1], frame.depth[y0:y1, x0:x1], cfg)
        r, c = np.nonzero(crop)
        pixels = (r + y0) * width + (c + x0)
        colors = rgb[pixels] if cfg.with_colors else None
        out.append(_describe(xyz[pixels], colors, plane, cfg))
    return out
