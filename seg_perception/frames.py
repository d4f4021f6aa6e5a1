"""RGB-D frames and pinhole intrinsics: the input type of the whole core library.

Conventions (REP 103/118): camera optical frame (x right, y down, z forward),
depth in metres along z, 0 = no measurement. Pixel (u, v) = (column, row).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Sequence

import numpy as np

from .errors import InvalidFrameError

__all__ = ["CameraIntrinsics", "RGBDFrame", "depth_to_metres", "depth_to_millimetres"]


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics of the colour camera (depth is aligned to it).

    Projection: ``u = fx * x / z + cx``, ``v = fy * y / z + cy`` (pixels, metres).

    Example:
        >>> K = CameraIntrinsics(width=640, height=480, fx=525.0, fy=525.0, cx=319.5, cy=239.5)
        >>> K.matrix[0, 0]
        525.0
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    distortion_model: str = "plumb_bob"
    distortion: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise InvalidFrameError(
                f"intrinsics size must be positive, got {self.width}x{self.height}")
        for name in ("fx", "fy"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise InvalidFrameError(
                    f"intrinsics {name}={value} is not a positive focal length in pixels; "
                    "is the camera calibrated (camera_info K all zero)?")
        for name in ("cx", "cy"):
            if not np.isfinite(getattr(self, name)):
                raise InvalidFrameError(f"intrinsics {name} is not finite")

    @classmethod
    def from_matrix(cls, K: np.ndarray | Sequence[float], width: int, height: int,
                    distortion: Sequence[float] = (), distortion_model: str = "plumb_bob",
                    ) -> "CameraIntrinsics":
        """Build from a 3x3 camera matrix (or its 9 row-major values)."""
        K = np.asarray(K, dtype=np.float64).reshape(3, 3)
        return cls(width=int(width), height=int(height), fx=float(K[0, 0]), fy=float(K[1, 1]),
                   cx=float(K[0, 2]), cy=float(K[1, 2]), distortion_model=distortion_model,
                   distortion=tuple(float(d) for d in distortion))

    @property
    def matrix(self) -> np.ndarray:
        """``float64[3, 3]`` camera matrix K."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return self.width, self.height

    def pixel_rays(self) -> tuple[np.ndarray, np.ndarray]:
        """Read-only ``float32[W]`` ``(u - cx) / fx`` per column and ``float32[H]``
        ``(v - cy) / fy`` per row: the point of pixel (u, v) at depth z is
        ``(rays_u[u] z, rays_v[v] z, z)``.

        Memoised per intrinsics value (a camera's stream reuses one pair).
        """
        return _pixel_rays(self.width, self.height, self.fx, self.fy, self.cx, self.cy)

    def scaled(self, width: int, height: int) -> "CameraIntrinsics":
        """The same camera at another resolution (e.g. a downsampled image)."""
        sx, sy = width / self.width, height / self.height
        return CameraIntrinsics(width=width, height=height, fx=self.fx * sx, fy=self.fy * sy,
                                cx=(self.cx + 0.5) * sx - 0.5, cy=(self.cy + 0.5) * sy - 0.5,
                                distortion_model=self.distortion_model,
                                distortion=self.distortion)


@lru_cache(maxsize=16)
def _pixel_rays(width: int, height: int, fx: float, fy: float, cx: float, cy: float
                ) -> tuple[np.ndarray, np.ndarray]:
    u = (np.arange(width, dtype=np.float32) - np.float32(cx)) / np.float32(fx)
    v = (np.arange(height, dtype=np.float32) - np.float32(cy)) / np.float32(fy)
    u.flags.writeable = False
    v.flags.writeable = False
    return u, v


def depth_to_metres(depth: np.ndarray, depth_scale: float | None = None) -> np.ndarray:
    """Convert a raw depth image to ``float32[H, W]`` metres with 0 = invalid.

    ``uint16`` is read as millimetres (16UC1, ``depth_scale`` 0.001 unless given);
    floating point as metres (32FC1). NaN, +-inf and negative values become 0,
    the "no measurement" value (REP 118 allows NaN/inf for missing depth).
    """
    depth = np.asarray(depth)
    if depth.ndim == 3 and depth.shape[2] == 1:
        depth = depth[:, :, 0]
    if depth.ndim != 2:
        raise InvalidFrameError(
            f"depth must be a single-channel HxW image, got shape {depth.shape}")
    if depth.dtype == np.uint16:
        scale = 0.001 if depth_scale is None else depth_scale
        return depth.astype(np.float32) * np.float32(scale)
    if depth.dtype in (np.float32, np.float64):
        out = depth.astype(np.float32, copy=True)
        if depth_scale is not None:
            out *= np.float32(depth_scale)
        out[~np.isfinite(out) | (out < 0)] = 0.0
        return out
    raise InvalidFrameError(
        f"depth dtype {depth.dtype} is not supported: use uint16 millimetres (16UC1) "
        "or float32 metres (32FC1)")


MAX_DEPTH_MM = 65535
"""Largest depth a ``uint16`` millimetre image (16UC1) holds: 65.535 m."""


def depth_to_millimetres(depth_m: np.ndarray) -> np.ndarray:
    """Convert metres to a ``uint16[H, W]`` millimetre image (16UC1), the inverse of
    :func:`depth_to_metres`.

    Values are rounded to the nearest millimetre (half to even) in float32, the
    precision of a metre depth image. Overflow rule: NaN, +-inf, negative depth
    and depth beyond :data:`MAX_DEPTH_MM` become 0, the "no measurement" value
    (REP 118; drivers publish 0, never a saturated 65535, where they measure nothing).

    Example:
        >>> depth_to_millimetres(np.array([[0.8004, np.nan, -1.0, 70.0]], np.float32))
        array([[800,   0,   0,   0]], dtype=uint16)
    """
    with np.errstate(invalid="ignore", over="ignore"):
        mm = np.rint(np.asarray(depth_m, np.float32) * np.float32(1000.0))
        keep = np.isfinite(mm) & (mm > 0) & (mm <= MAX_DEPTH_MM)
    return np.where(keep, mm, 0).astype(np.uint16)

@dataclass(frozen=True, eq=False)
class RGBDFrame:
    """One colour image with depth aligned to it.

    Attributes:
        rgb: ``uint8[H, W, 3]`` RGB.
        depth: ``float32[H, W]`` metres along the optical axis, 0 = invalid.
        intrinsics: pinhole model of the colour camera, size ``W x H``.
        stamp_ns: acquisition time in nanoseconds (ROS time of the image header).
        frame_id: the camera optical frame the pixels and points are in.

    Use :meth:`create` to build one from raw arrays: it converts depth units,
    maps NaN/inf to 0 and raises :class:`InvalidFrameError` naming the problem.

    Example:
        >>> import numpy as np
        >>> K = CameraIntrinsics(64, 48, 50.0, 50.0, 31.5, 23.5)
        >>> f = RGBDFrame.create(np.zeros((48, 64, 3), np.uint8), np.full((48, 64), 800, np.uint16), K)
        >>> float(f.depth[0, 0])
        0.8
    """

    rgb: np.ndarray
    depth: np.ndarray
    intrinsics: CameraIntrinsics
    stamp_ns: int = 0
    frame_id: str = "camera_color_optical_frame"
    valid_depth_fraction: float = field(default=1.0)

    @property
    def height(self) -> int:
        return int(self.depth.shape[0])

    @property
    def width(self) -> int:
        return int(self.depth.shape[1])

    @property
    def valid(self) -> np.ndarray:
        """``bool[H, W]``: pixels with a depth measurement."""
        return self.depth > 0

    @classmethod
    def create(cls, rgb: np.ndarray, depth: np.ndarray, intrinsics: CameraIntrinsics,
               stamp_ns: int = 0, frame_id: str = "camera_color_optical_frame",
               depth_scale: float | None = None, min_valid_fraction: float = 1e-4,
               ) -> "RGBDFrame":
        """Validate and normalise raw arrays into a frame.

        ``rgb`` may be ``uint8[H, W, 3]``, ``uint8[H, W, 4]`` (alpha dropped) or
        ``uint8[H, W]`` (grey, replicated). ``depth``: see :func:`depth_to_metres`.
        """
        rgb = np.asarray(rgb)
        if rgb.size == 0 or np.asarray(depth).size == 0:
            raise InvalidFrameError("empty image: colour or depth has zero pixels")
        if rgb.dtype != np.uint8:
            raise InvalidFrameError(
                f"colour dtype {rgb.dtype} is not supported: expected uint8 (rgb8/bgr8)")
        if rgb.ndim == 3 and rgb.shape[2] == 1:  # grey as HxWx1 (like depth_to_metres)
            rgb = rgb[:, :, 0]
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[:, :, None], 3, axis=2)
        elif rgb.ndim == 3 and rgb.shape[2] == 4:
            rgb = rgb[:, :, :3]
        elif not (rgb.ndim == 3 and rgb.shape[2] == 3):
            raise InvalidFrameError(
                f"colour image must have 1, 3 or 4 channels, got shape {rgb.shape}")
        depth_m = depth_to_metres(depth, depth_scale)
        if rgb.shape[:2] != depth_m.shape:
            raise InvalidFrameError(
                f"colour {rgb.shape[1]}x{rgb.shape[0]} and depth {depth_m.shape[1]}x"
                f"{depth_m.shape[0]} differ in size: use the depth image aligned to colour "
                "(e.g. RealSense aligned_depth_to_color)")
        if (intrinsics.width, intrinsics.height) != (depth_m.shape[1], depth_m.shape[0]):
            raise InvalidFrameError(
                f"camera_info size {intrinsics.width}x{intrinsics.height} does not match the "
                f"image {depth_m.shape[1]}x{depth_m.shape[0]}: is camera_info from the same stream?")
        valid_fraction = float(np.count_nonzero(depth_m)) / depth_m.size
        if valid_fraction < min_valid_fraction:
            raise InvalidFrameError(
                "depth has no valid pixels (all zero, NaN or inf): is the depth stream "
                "running and the camera not too close to the scene?")
        return cls(rgb=np.ascontiguousarray(rgb), depth=depth_m, intrinsics=intrinsics,
                   stamp_ns=int(stamp_ns), frame_id=frame_id,
                   valid_depth_fraction=valid_fraction)
