"""Structured-light / active-stereo depth noise for rendered depth images.

A rendered z-buffer is perfect; a Kinect or RealSense is not. This module turns
exact depth into sensor-like depth with the effects that break segmentation:

* **axial noise** drawn in the disparity domain, so its standard deviation in
  metres grows with ``z**2``: ``sigma_z = z**2 * sigma_d / (f * b)``
  (``f`` focal length in sensor pixels, ``b`` baseline in metres), partly
  spatially correlated like the block-matching noise of real sensors;
* **quantisation** of disparity to the matcher's sub-pixel step, which gives
  the depth "terraces" of real sensors (step ``z**2 * step / (f * b)``);
* **missing data** at depth discontinuities (ragged bands along edges), in the
  projector's **shadow** beside foreground objects (its width is the disparity
  jump, as in a real sensor), on surfaces seen at grazing angles, in random
  dropout blobs and as isolated pixels;
* **dark surfaces** (with the colour image): more noise and holes where little
  of the projected pattern comes back (``dark_noise_gain``, ``dark_dropout``);
* **flying pixels**: mixed depths between the two sides of a discontinuity;
* **range limits**: depth outside ``[min_range_m, max_range_m]`` becomes 0.

Depth is ``float32[H, W]`` metres along the optical axis, 0 = no measurement,
in and out. Everything is vectorised and deterministic given the generator.

Example:
    >>> import numpy as np
    >>> depth = np.full((120, 160), 1.0, np.float32)
    >>> noisy = apply_depth_noise(depth, np.random.default_rng(0), image_focal_px=131.25)
    >>> noisy.dtype, bool(abs(float(np.median(noisy[noisy > 0])) - 1.0) < 0.01)
    (dtype('float32'), True)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, InvalidFrameError

__all__ = ["DepthNoiseModel", "apply_depth_noise"]


@dataclass(frozen=True)
class DepthNoiseModel:
    """Parameters of a triangulating depth sensor (defaults: Kinect v1 class).

    Lengths in pixels are *sensor* pixels at ``focal_px``; they are rescaled to
    the image being corrupted through ``image_focal_px`` so a 160x120 test
    image sees the same metric noise as the 640x480 sensor.

    Attributes:
        focal_px: focal length of the depth sensor's reference camera, pixels.
        baseline_m: projector-camera (or stereo) baseline, metres.
        disparity_noise_px: standard deviation of the disparity error, pixels.
        correlated_fraction: share of the disparity noise variance that is
            spatially smooth (0 = white, 1 = fully correlated).
        correlation_px: length scale of the correlated part, sensor pixels.
        subpixel_step_px: disparity quantisation step, pixels (0 = none).
        min_range_m, max_range_m: valid measuring range, metres.
        edge_disparity_px: a disparity jump larger than this between
            neighbours is a discontinuity where matching fails.
        edge_band_px: width of the band around discontinuities that may drop.
        edge_dropout: probability that a band pixel has no depth.
        shadow_side: where the projector shadow falls beside foreground
            objects in the image: ``"left"``, ``"right"`` or ``None`` (off).
        max_incidence_deg: surfaces seen at a larger angle between the view
            ray and the surface normal return no depth.
        blob_fraction: expected fraction of pixels in random dropout blobs.
        blob_size_px: typical blob radius, sensor pixels.
        pixel_dropout: probability of an isolated missing pixel.
        dark_level: image intensity (0-1) below which a surface counts as dark.
        dark_noise_gain: extra noise on a black surface (sigma times 1 + gain,
            scaled by how dark it is).
        dark_dropout: share of a black surface's pixels with no depth, in blobs
            (scaled by how dark it is).
        flying_pixels: probability that a pixel next to a discontinuity returns a
            depth between the two sides (mixed pixels of the matcher's window).
    """

    focal_px: float = 580.0
    baseline_m: float = 0.075
    disparity_noise_px: float = 0.07
    correlated_fraction: float = 0.4
    correlation_px: float = 4.0
    subpixel_step_px: float = 0.125
    min_range_m: float = 0.45
    max_range_m: float = 4.0
    edge_disparity_px: float = 0.8
    edge_band_px: float = 2.0
    edge_dropout: float = 0.6
    shadow_side: str | None = "left"
    max_incidence_deg: float = 80.0
    blob_fraction: float = 0.004
    blob_size_px: float = 6.0
    pixel_dropout: float = 0.002
    dark_level: float = 0.25
    dark_noise_gain: float = 0.0
    dark_dropout: float = 0.0
    flying_pixels: float = 0.0

    def __post_init__(self) -> None:
        for name in ("focal_px", "baseline_m", "max_range_m"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"DepthNoiseModel.{name}={getattr(self, name)} must be > 0")
        for name in ("disparity_noise_px", "subpixel_step_px", "min_range_m",
                     "edge_disparity_px", "edge_band_px", "correlation_px", "blob_size_px"):
            if getattr(self, name) < 0:
                raise ConfigError(f"DepthNoiseModel.{name}={getattr(self, name)} must be >= 0")
        if self.dark_noise_gain < 0 or not 0 < self.dark_level <= 1:
            raise ConfigError("DepthNoiseModel.dark_noise_gain must be >= 0 and dark_level "
                              "in (0, 1]")
        for name in ("correlated_fraction", "edge_dropout", "blob_fraction", "pixel_dropout",
                     "dark_dropout", "flying_pixels"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(
                    f"DepthNoiseModel.{name}={getattr(self, name)} is a probability/fraction "
                    "and must lie in [0, 1]")
        if self.min_range_m >= self.max_range_m:
            raise ConfigError(
                f"DepthNoiseModel range [{self.min_range_m}, {self.max_range_m}] m is empty: "
                "min_range_m must be below max_range_m")
        if self.shadow_side not in (None, "left", "right"):
            raise ConfigError(
                f"DepthNoiseModel.shadow_side={self.shadow_side!r}: use 'left', 'right' or None")

    @classmethod
    def kinect_v1(cls) -> "DepthNoiseModel":
        """Kinect v1 / Xtion class structured light (the defaults).

        About 1.8 mm axial noise at 1 m and 7 mm at 2 m, as measured by
        Nguyen et al., 3DIMPVT 2012.
        """
        return cls()

    @classmethod
    def realsense_d435(cls) -> "DepthNoiseModel":
        """Intel RealSense D435 class active stereo at 640x480 (wider FOV, 50 mm baseline)."""
        return cls(focal_px=385.0, baseline_m=0.050, disparity_noise_px=0.08,
                   correlated_fraction=0.5, correlation_px=3.0, subpixel_step_px=1 / 32,
                   min_range_m=0.2, max_range_m=6.0, edge_disparity_px=1.0,
                   edge_band_px=2.0, edge_dropout=0.5, shadow_side="left",
                   max_incidence_deg=82.0, blob_fraction=0.003, blob_size_px=5.0,
                   pixel_dropout=0.001)

    @classmethod
    def realsense_d435_live(cls) -> "DepthNoiseModel":
        """A D435 in a real room: :meth:`realsense_d435` plus holes and extra noise on
        dark surfaces and flying pixels at edges (what the raw driver output shows)."""
        from dataclasses import replace

        return replace(cls.realsense_d435(), dark_noise_gain=1.5, dark_dropout=0.25,
                       flying_pixels=0.3)

    @classmethod
    def ideal(cls) -> "DepthNoiseModel":
        """No noise and no dropout, only the range limits (for ablations)."""
        return cls(disparity_noise_px=0.0, subpixel_step_px=0.0, min_range_m=0.0,
                   max_range_m=1e6, edge_dropout=0.0, shadow_side=None,
                   max_incidence_deg=90.0, blob_fraction=0.0, pixel_dropout=0.0)

    def axial_sigma_m(self, z_m: np.ndarray | float) -> np.ndarray:
        """Expected standard deviation of depth at ``z_m`` metres, metres.

        Noise and quantisation together: ``z**2 / (f b) * sqrt(sigma_d**2 + step**2 / 12)``.
        """
        sigma_d = np.sqrt(self.disparity_noise_px ** 2 + self.subpixel_step_px ** 2 / 12.0)
        return np.asarray(z_m, np.float64) ** 2 * sigma_d / (self.focal_px * self.baseline_m)


def _smooth_noise(shape: tuple[int, int], sigma_px: float, rng: np.random.Generator) -> np.ndarray:
    """``float32[H, W]`` Gaussian random field with unit std and length scale ``sigma_px``."""
    import cv2  # lazy: keeps `import seg_perception.sim.depth_noise` light

    white = rng.standard_normal(shape, dtype=np.float32)
    if sigma_px < 0.5:
        return white
    field = cv2.GaussianBlur(white, (0, 0), sigmaX=float(sigma_px), borderType=cv2.BORDER_REFLECT)
    std = float(field.std())
    return field / std if std > 0 else field


def _shift(a: np.ndarray, k: int, fill: float) -> np.ndarray:
    """``a`` shifted by ``k`` columns (positive = content moves right), padded with ``fill``."""
    out = np.full_like(a, fill)
    if k > 0:
        out[:, k:] = a[:, :-k]
    elif k < 0:
        out[:, :k] = a[:, -k:]
    else:
        out[:] = a
    return out


def apply_depth_noise(depth: np.ndarray, rng: np.random.Generator, *,
                      model: DepthNoiseModel | None = None,
                      image_focal_px: float | None = None,
                      intensity: np.ndarray | None = None) -> np.ndarray:
    """Corrupt exact depth like a structured-light / active-stereo sensor.

    Args:
        depth: ``float32[H, W]`` exact depth, metres along the optical axis,
            0 = nothing there (stays 0).
        rng: the only source of randomness: the same generator state gives
            bit-identical output.
        model: sensor parameters (default :meth:`DepthNoiseModel.kinect_v1`).
        image_focal_px: focal length of ``depth``'s own camera in pixels; pixel
            lengths of the model are scaled by ``image_focal_px / model.focal_px``.
            Default: the model's focal length (the image is at sensor resolution).
        intensity: ``float[H, W]`` image brightness in [0, 1] (for the dark-surface
            effects; without it they are off).

    Returns:
        ``float32[H, W]`` noisy depth in metres, 0 = no measurement.
    """
    model = model or DepthNoiseModel()
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise InvalidFrameError(f"depth must be HxW, got shape {depth.shape}")
    if not np.issubdtype(depth.dtype, np.floating):
        raise InvalidFrameError(
            f"depth dtype {depth.dtype} is not metres: convert with "
            "seg_perception.frames.depth_to_metres first")
    import cv2  # lazy

    z = np.where(np.isfinite(depth) & (depth > 0), depth, 0).astype(np.float64)
    valid = z > 0
    h, w = z.shape
    scale = (image_focal_px or model.focal_px) / model.focal_px  # image px per sensor px
    fb = model.focal_px * model.baseline_m
    disparity = np.where(valid, fb / np.where(valid, z, 1.0), 0.0)  # sensor pixels

    # Draw every random field up front, in a fixed order, so that switching one
    # effect off does not change the others' samples.
    white = rng.standard_normal((h, w), dtype=np.float32)
    smooth = _smooth_noise((h, w), model.correlation_px * scale, rng)
    edge_u = rng.random((h, w), dtype=np.float32)
    blob_field = _smooth_noise((h, w), model.blob_size_px * scale, rng)
    pixel_u = rng.random((h, w), dtype=np.float32)

    # 1. Axial noise and quantisation in the disparity domain.
    a = model.correlated_fraction
    noise = np.sqrt(1.0 - a) * white + np.sqrt(a) * smooth
    darkness = None
    if intensity is not None and (model.dark_noise_gain > 0 or model.dark_dropout > 0):
        darkness = np.clip((model.dark_level - np.asarray(intensity, np.float64))
                           / model.dark_level, 0.0, 1.0)
        noise = noise * (1.0 + model.dark_noise_gain * darkness).astype(np.float32)
    d_noisy = disparity + model.disparity_noise_px * noise.astype(np.float64)
    if model.subpixel_step_px > 0:
        d_noisy = np.round(d_noisy / model.subpixel_step_px) * model.subpixel_step_px
    good = valid & (d_noisy > 0)
    out = np.where(good, fb / np.where(good, d_noisy, 1.0), 0.0)

    drop = ~good
    # 2. Discontinuities: neighbours whose disparity differs by more than the
    # matcher tolerates (treat missing neighbours as far: d = 0).
    d_max = cv2.dilate(disparity.astype(np.float32), np.ones((3, 3), np.uint8))
    d_min = cv2.erode(disparity.astype(np.float32), np.ones((3, 3), np.uint8))
    edges = valid & ((d_max - d_min) > model.edge_disparity_px)
    band = max(1, int(round(model.edge_band_px * scale)))
    if model.edge_dropout > 0 and edges.any():
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band - 1, 2 * band - 1))
        near_edge = cv2.dilate(edges.astype(np.uint8), kernel).astype(bool)
        drop |= near_edge & (edge_u < model.edge_dropout)

    # 3. Projector shadow: a background pixel is unlit when a foreground surface
    # within the disparity jump (in image pixels) sits on the projector's side.
    if model.shadow_side is not None and valid.any():
        # Pixel u is shadowed if some k in 1..K has d[u + k] - d[u] >= k, i.e.
        # max_k (d[u + k] - (u + k)) >= d[u] - u: a sliding maximum of d - column.
        # Work left-to-right towards the projector: flip for a right-side shadow.
        d_img = (disparity * scale).astype(np.float32)
        if model.shadow_side == "right":
            d_img = d_img[:, ::-1]
        reach = min(int(np.ceil(float(d_img.max() - d_img[valid].min()))), 512)
        if reach >= 1:
            cols = np.arange(w, dtype=np.float32)[None, :]
            ahead = _shift(d_img - cols, -1, -np.inf)  # ahead[u] = e[u + 1]
            window = np.ones((1, reach), np.uint8)
            best = cv2.dilate(ahead, window, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT,
                              borderValue=-1e9)  # max of e[u + 1 .. u + reach]
            best_d = cv2.dilate(_shift(d_img, -1, 0.0), window, anchor=(0, 0),
                                borderType=cv2.BORDER_CONSTANT, borderValue=0)
            shadow = (best >= d_img - cols) & (best_d - d_img > model.edge_disparity_px * scale)
            if model.shadow_side == "right":
                shadow = shadow[:, ::-1]
            drop |= shadow & valid

    # 4. Grazing incidence. For P = z(u, v) * r with the ray r = (a, b, 1),
    # a = (u - cx) / f, b = (v - cy) / f, the normal P_u x P_v is parallel to
    # n = (-z_u, -z_v, a z_u + b z_v + z / f) and n . r = z / f exactly.
    if model.max_incidence_deg < 90.0:
        f_img = np.float32(model.focal_px * scale)
        zf = z.astype(np.float32)
        z_v, z_u = np.gradient(zf)
        a = ((np.arange(w, dtype=np.float32) - (w - 1) / 2.0) / f_img)[None, :]
        b = ((np.arange(h, dtype=np.float32) - (h - 1) / 2.0) / f_img)[:, None]
        n_z = a * z_u + b * z_v + zf / f_img
        n_norm = np.sqrt(z_u * z_u + z_v * z_v + n_z * n_z)
        r_norm = np.sqrt(a * a + b * b + 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            cos = (zf / f_img) / (n_norm * r_norm)
        drop |= valid & ~edges & (cos < np.cos(np.deg2rad(model.max_incidence_deg)))

    # 5. Random blobs (specular/dark patches) and isolated pixels.
    if model.blob_fraction > 0:
        drop |= blob_field > np.float32(np.quantile(blob_field, 1.0 - model.blob_fraction))
    if model.pixel_dropout > 0:
        drop |= pixel_u < model.pixel_dropout

    # 6. Extra effects draw their random fields last, so enabling them leaves the
    # samples above unchanged. Dark surfaces: holes where the pattern is lost.
    if darkness is not None and model.dark_dropout > 0:
        dark_field = _smooth_noise((h, w), 2.0 * scale, rng)
        u = 0.5 * (1.0 + np.tanh(dark_field))  # a smooth uniform-like field in (0, 1)
        drop |= valid & (u < model.dark_dropout * darkness)
    # Flying pixels: the matcher's window straddles the edge and mixes both sides.
    if model.flying_pixels > 0 and edges.any():
        mix_u, mix_t = rng.random((h, w)), rng.random((h, w))
        fly = edges & ~drop & (mix_u < model.flying_pixels) & (d_min > 0)
        d_mix = d_min + mix_t * (d_max - d_min)
        out[fly] = fb / d_mix[fly]

    # 7. Range limits apply to the measured value.
    drop |= (out < model.min_range_m) | (out > model.max_range_m)
    out[drop] = 0.0
    return out.astype(np.float32)
