"""The grid split by the support plane (:class:`GridScene`, what every stage of the
object segmentation reads) and small helpers on grid images."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ...frames import CameraIntrinsics, RGBDFrame
from ...results import Plane
from .config import GeometricConfig
from .noise import local_noise
from .points import GridPoints, subsampled
from .support import measured_noise

__all__ = ["GridScene", "bounding_window", "eroded", "height_image", "labelled_pixels",
           "pixels_of", "ray_terms", "signed_distance"]


def signed_distance(points: np.ndarray, plane: Plane) -> np.ndarray:
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


def ray_terms(K: CameraIntrinsics, plane: Plane) -> tuple[np.ndarray, np.ndarray]:
    """``(float32[W], float32[H])``: ``n . ray`` of pixel ``(v, u)`` is the sum of the
    first at ``u`` and the second at ``v`` (separable), so the height above ``plane``
    of a pixel at depth ``z`` is ``z * (along_u[u] + along_v[v]) + offset``."""
    u, v = K.pixel_rays()
    n = np.asarray(plane.normal, np.float32)
    return n[0] * u, n[1] * v + n[2]


def height_image(depth: np.ndarray, K: CameraIntrinsics, plane: Plane) -> np.ndarray:
    """``float32[H, W]`` signed height above ``plane`` (see :func:`ray_terms`)."""
    along_u, along_v = ray_terms(K, plane)
    height = along_u[None, :] + along_v[:, None]
    height *= depth  # in place: one new array
    height += np.float32(plane.offset)
    return height


def eroded(mask: np.ndarray, radius: int) -> np.ndarray:
    """``mask`` eroded by a disc of ``radius`` pixels (unchanged for radius 0)."""
    import cv2

    if radius <= 0:
        return mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.erode(np.ascontiguousarray(mask).view(np.uint8), kernel, borderValue=0).view(bool)


def bounding_window(mask: np.ndarray, margin: int = 0) -> tuple[slice, slice]:
    """Rows and columns of ``mask``'s bounding box grown by ``margin`` pixels (clipped to
    the image); an empty window for an empty mask."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return slice(0, 0), slice(0, 0)
    h, w = mask.shape
    return (slice(max(0, rows[0] - margin), min(h, rows[-1] + margin + 1)),
            slice(max(0, cols[0] - margin), min(w, cols[-1] + margin + 1)))


def pixels_of(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, cols)`` of a 2-D mask's True pixels in raster order: ``np.nonzero(mask)``,
    which is 3-5x slower on 2-D arrays than on the flat one."""
    return np.divmod(np.flatnonzero(mask), mask.shape[1])


def labelled_pixels(labels: np.ndarray, window: tuple[slice, slice] | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(crop, in_crop, flat)`` for the labelled pixels of ``labels`` inside ``window``
    (rows and columns holding every labelled pixel; default: the whole grid): the
    crop ``labels[window]`` (a view) and the pixels' flat indices in it and in the
    grid, in raster order (that of ``np.flatnonzero(labels)``), found in the window only."""
    window = window or (slice(0, labels.shape[0]), slice(0, labels.shape[1]))
    crop = labels[window]
    in_crop = np.flatnonzero(crop)
    cy, cx = np.divmod(in_crop, crop.shape[1])
    flat = (cy + (window[0].start or 0)) * labels.shape[1] + (cx + (window[1].start or 0))
    return crop, in_crop, flat


_LOW_K = 1.5
"""Noise sigmas above the support plane down to which a surface that stands out of the
plane's band (``noise_k`` sigmas) somewhere continues (hysteresis). 1.5, not 2: a book
1.5 cm thick at 1.2-1.6 m from a stereo camera is 1.5-2 of its own sigmas up."""


_NEIGHBOURS_8 = np.ones((3, 3), np.uint8)


def grown_candidates(candidates: np.ndarray, low: np.ndarray) -> np.ndarray:
    """``bool[h, w]``: pixels of ``low`` (not in ``candidates``) in an 8-connected
    component of ``low | candidates`` that holds a candidate pixel.

    Found as the components of those few pixels alone (within their bounding box)
    that touch a candidate: the same pixels, without labelling the whole grid.
    """
    import cv2

    extra = low > candidates  # low & ~candidates
    out = np.zeros(low.shape, bool)
    win = bounding_window(extra, margin=1)  # with the candidates next to them
    if win[0].stop == 0:
        return out
    crop = extra[win]
    touching = crop & cv2.dilate(candidates[win].view(np.uint8), _NEIGHBOURS_8).view(bool)
    n, comp = cv2.connectedComponents(crop.view(np.uint8), connectivity=8)
    has = np.bincount(comp[touching], minlength=n) > 0
    has[0] = False
    out[win] = np.take(has, comp)  # (np.take: a faster lookup than has[comp])
    return out


_THIN_FLOOR, _THIN_MAX_TILT_DEG = 0.5, 15.0
"""A thin flat object's top (:func:`thin_flat`): from this share of ``min_height`` up,
facing up within this many degrees of the support's normal."""


def thin_flat(points: GridPoints, plane: Plane, height: np.ndarray, sigma: np.ndarray,
              min_height: float) -> np.ndarray:
    """``bool[h, w]``: the tops of thin flat objects (a plate, a closed book lying flat).

    Such a top is about ``min_height`` over the support, so the per-pixel test finds it
    only where the noise lifts it: a speckle, or nothing. A connected patch of pixels
    facing up like the support, between ``_THIN_FLOOR`` and twice ``min_height``
    high, whose mean height clears ``min_height`` is such a top, all of it. A bowl's
    floor or a warped table stays under ``min_height`` on average; an object's sides
    and foot do not face up. Only where 2 noise sigmas (``sigma``, metres) are at most
    the patch's floor: elsewhere the band would hold the table's upper noise tail,
    whose mean is high.
    """
    import cv2

    floor = np.float32(_THIN_FLOOR * min_height)
    # (sigma <= floor / 2: the same test as 2 sigma <= floor; doubling and halving are exact.)
    band = ((height > floor) & (height < np.float32(2.0 * min_height))
            & (sigma <= floor / np.float32(2.0)) & points.valid & points.normals_ok)
    # The band holds few pixels: the rest is done on their flat indices (raster order,
    # as a mask of them would give), the labelling on their bounding box only.
    idx = np.flatnonzero(band)
    if idx.size == 0:
        return band
    n = np.asarray(plane.normal, np.float32)
    nx, ny, nz = (c.ravel()[idx] for c in points.normals)
    up = nx * n[0]
    up += ny * n[1]
    up += nz * n[2]
    cos_max = np.float32(math.cos(math.radians(_THIN_MAX_TILT_DEG)))
    idx = idx[np.abs(up) >= cos_max]
    out = np.zeros(band.shape, bool)
    if idx.size == 0:
        return out
    rows, cols = np.divmod(idx, band.shape[1])
    rows -= rows.min()
    cols -= cols.min()
    crop = np.zeros((int(rows.max()) + 1, int(cols.max()) + 1), bool)
    crop[rows, cols] = True
    k, comp = cv2.connectedComponents(crop.view(np.uint8), connectivity=8)
    label = comp[rows, cols]
    count = np.bincount(label, minlength=k)
    total = np.bincount(label, weights=height.ravel()[idx], minlength=k)
    clears = total >= min_height * np.maximum(count, 1)
    out.ravel()[idx] = np.take(clears, label)
    return out


@dataclass(eq=False)
class GridScene:
    """One frame on the processing grid with its support plane: what every stage of
    the object segmentation (:func:`.regions.segment_objects`) reads.

    ``cfg`` has the depth noise measured on the plane; ``noise`` is the noise at 1 m
    measured at every pixel (:func:`.noise.local_noise`, at most the plane's: a dark
    table is noisier than the objects on it); ``tolerance`` is the noise band around it,
    ``support`` the pixels within it, ``candidates`` the pixels above it
    (up to ``max_height``). ``jump`` (the largest depth step within one surface) and
    ``step_noise`` follow from the config and the depth. The grid's arrays are
    reached directly (``g.x``, ``g.valid``, ...).
    """

    frame: RGBDFrame
    cfg: GeometricConfig
    points: GridPoints
    plane: Plane
    height: np.ndarray
    tolerance: np.ndarray
    support: np.ndarray
    candidates: np.ndarray
    noise: np.ndarray
    jump: np.ndarray = field(init=False)
    step_noise: np.ndarray | float = field(init=False)
    _lab: np.ndarray | None = field(default=None, init=False, repr=False)

    @classmethod
    def on_plane(cls, frame: RGBDFrame, config: GeometricConfig, points: GridPoints,
                 plane: Plane) -> GridScene:
        """The grid split by ``plane`` into support and candidate object pixels."""
        z, valid = points.z, points.valid
        height = height_image(z, points.K, plane)
        a_min = config.noise_at_1m
        if config.estimate_noise:
            config = measured_noise(height, z, valid, config)
            # The noise where each pixel is (a dark table is noisier than the objects
            # on it): the plane's tolerance band for every pixel from its own noise.
            # The band of the plane's noise is read on every 2nd pixel only.
            sub = (slice(None, None, 2), slice(None, None, 2))
            tol_sub = np.maximum(np.float32(config.min_height),
                                 np.float32(config.noise_k) * config.sigma(z[sub]))
            support_sub = valid[sub] & (np.abs(height[sub]) <= tol_sub)
            noise = local_noise(z, valid, support_sub, config.noise_at_1m, a_min)
            tol = noise * np.float32(config.noise_k)  # (k noise) z z, in place
            tol *= z
            tol *= z
        else:
            noise = np.full(z.shape, np.float32(config.noise_at_1m))
            tol = config.sigma(z)
            tol *= np.float32(config.noise_k)
        min_height = np.float32(config.min_height)
        np.maximum(tol, min_height, out=tol)
        support = np.abs(height) <= tol
        support &= valid
        in_range = height < np.float32(config.max_height)
        in_range &= valid
        candidates = (height > tol) & in_range
        # Hysteresis: a surface that stands out of its noise band somewhere continues
        # down to _LOW_K sigmas where connected (a thin object in noisy depth is a
        # speckle of pixels over the band, not fragments); never under min_height,
        # but for the top of a thin flat object (thin_flat: a plate lying flat).
        sigma = noise * z
        sigma *= z
        low_tol = sigma * np.float32(_LOW_K)
        np.maximum(low_tol, min_height, out=low_tol)
        grown = grown_candidates(candidates, (height > low_tol) & in_range)
        thin = thin_flat(points, plane, height, sigma, config.min_height)
        if thin.any():
            thin &= ~(candidates | grown)
            low_tol[thin] = np.float32(_THIN_FLOOR * config.min_height)
            grown |= thin
        if grown.any():  # (in place: all are this function's own arrays)
            candidates |= grown
            support &= ~grown
            np.copyto(tol, low_tol, where=grown)
        return cls(frame, config, points, plane, height, tol, support, candidates, noise)

    def sigma(self) -> np.ndarray:
        """``float32[h, w]`` depth noise standard deviation (metres) at every grid pixel."""
        return self.noise * self.z * self.z

    def __post_init__(self) -> None:
        config, z, K = self.cfg, self.z, self.K
        pixel_angle = 1.0 / min(K.fx, K.fy)
        # Largest depth step between neighbouring grid pixels on one smooth surface:
        # the pixel footprint seen at up to max_incidence, plus noise of both pixels.
        # (In place: one new array each, no temporaries.)
        two_pixels = config.sigma(z)
        two_pixels *= np.float32(config.noise_k * math.sqrt(2.0))
        self.jump = z * np.float32(pixel_angle * math.tan(math.radians(config.max_incidence_deg)))
        self.jump += np.float32(config.min_depth_jump)
        self.jump += two_pixels
        # Smallest step the (optional) slope test accepts: above the noise of two pixels.
        if config.jump_slope_ratio is None:
            self.step_noise = 0.0
        else:
            two_pixels += np.float32(0.5 * config.min_depth_jump)
            self.step_noise = two_pixels

    # The grid's own arrays, read through.
    stride = property(lambda self: self.points.stride)
    K = property(lambda self: self.points.K)
    x = property(lambda self: self.points.x)
    y = property(lambda self: self.points.y)
    z = property(lambda self: self.points.z)
    valid = property(lambda self: self.points.valid)
    normals = property(lambda self: self.points.normals)
    normals_ok = property(lambda self: self.points.normals_ok)

    def lab_of(self, rows: slice | np.ndarray, cols: slice | np.ndarray | None = None
               ) -> np.ndarray:
        """CIELAB ``uint8`` of grid pixels: a crop ``[rows, cols]`` (``[h, w, 3]``) or,
        with ``cols`` None, the flat pixel indices ``rows`` (``[M, 3]``)."""
        import cv2

        if self._lab is None:  # the whole grid at once: one image converts fastest
            self._lab = cv2.cvtColor(subsampled(self.frame.rgb, self.stride), cv2.COLOR_RGB2LAB)
        if cols is None:
            return self._lab.reshape(-1, 3)[rows]
        return self._lab[rows, cols]

    def min_pixels(self, z: float | np.ndarray) -> np.ndarray:
        """Grid pixels that ``min_area`` covers at depth ``z`` (seen face-on), at least
        ``min_points``: the same metric size at any resolution and focal length."""
        z = np.maximum(np.asarray(z, np.float64), 1e-3)
        per_m2 = self.K.fx * self.K.fy / (z * z)
        return np.maximum(self.cfg.min_points, self.cfg.min_area * per_m2)
