"""On-the-fly augmentation of a training image, identical on colour, depth, masks and labels."""
from __future__ import annotations

import numpy as np

from ..errors import InvalidFrameError
from .config import IGNORE_LABEL, AugmentConfig

__all__ = ["augment"]


def _warp(image: np.ndarray, matrix: np.ndarray, size: tuple[int, int], interpolation: int,
          fill: float) -> np.ndarray:
    """``cv2.warpAffine`` of an ``[H, W]`` or ``[H, W, C]`` array, any C (keeps the layout)."""
    import cv2

    if image.ndim == 3 and image.shape[2] == 0:
        return np.zeros((size[1], size[0], 0), image.dtype)
    chunks = [image] if image.ndim == 2 or image.shape[2] <= 256 else \
        [image[:, :, i:i + 256] for i in range(0, image.shape[2], 256)]
    out = []
    for chunk in chunks:
        warped = cv2.warpAffine(chunk, matrix, size, flags=interpolation,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=fill)
        if chunk.ndim == 3 and warped.ndim == 2:  # OpenCV drops a single channel
            warped = warped[:, :, None]
        out.append(warped)
    return out[0] if len(out) == 1 else np.concatenate(out, axis=2)


def _colour_jitter(rgb: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    import cv2

    b = rng.uniform(1 - cfg.brightness, 1 + cfg.brightness)
    c = rng.uniform(1 - cfg.contrast, 1 + cfg.contrast)
    s = rng.uniform(1 - cfg.saturation, 1 + cfg.saturation)
    h = rng.uniform(-cfg.hue, cfg.hue)
    x = rgb.astype(np.float32) * np.float32(b)
    x = (x - x.mean()) * np.float32(c) + x.mean()
    gray = x @ np.array([0.299, 0.587, 0.114], np.float32)
    x = (x - gray[:, :, None]) * np.float32(s) + gray[:, :, None]
    out = np.clip(x, 0, 255).astype(np.uint8)
    shift = round(h * 180)  # OpenCV's 8-bit hue is 0..179
    if shift:
        hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)
        hsv[:, :, 0] = ((hsv[:, :, 0].astype(np.int16) + shift) % 180).astype(np.uint8)
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return out


def augment(rgb: np.ndarray, depth: np.ndarray, masks: np.ndarray | None,
            semantic: np.ndarray | None, *, size: tuple[int, int], rng: np.random.Generator,
            config: AugmentConfig | None = AugmentConfig(),
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Flip, scale-jitter, crop to ``size`` and colour-jitter one RGB-D image with its labels.

    The image is first scaled so it covers ``size`` (keeping its aspect ratio),
    then by a random factor in ``config.scale``, flipped with probability
    ``config.hflip`` and cropped (or zero-padded) at a random place to ``size``.
    Colour is resized bilinearly; depth, masks and labels nearest-neighbour, so
    no invalid depth (0) or label is blended. With ``config=None`` the image is
    only scaled to cover ``size`` and centre-cropped.

    Args:
        rgb: ``uint8[H, W, 3]``.
        depth: ``float32[H, W]`` metres, 0 = no measurement.
        masks: ``bool[N, H, W]`` instance masks, or None.
        semantic: integer ``[H, W]`` class labels, or None.
        size: ``(width, height)`` of the output.
        rng: the source of randomness (seed it for reproducible runs).

    Returns:
        ``(rgb uint8[h, w, 3], depth float32[h, w], masks bool[N, h, w] | None,
        semantic uint8[h, w] | None)`` with ``(w, h) = size``; padding is depth
        0, mask False and label :data:`IGNORE_LABEL`. Masks may come back
        empty (cropped away); callers drop them.
    """
    import cv2

    h0, w0 = depth.shape
    if rgb.shape[:2] != (h0, w0):
        raise InvalidFrameError(f"rgb {rgb.shape[:2]} and depth {(h0, w0)} differ in size")
    out_w, out_h = int(size[0]), int(size[1])
    scale = max(out_w / w0, out_h / h0)
    flip = False
    if config is not None:
        low, high = config.scale
        scale *= float(np.exp(rng.uniform(np.log(low), np.log(high))))
        flip = bool(rng.random() < config.hflip)
    new_w, new_h = w0 * scale, h0 * scale
    if config is None:
        ox, oy = (new_w - out_w) / 2, (new_h - out_h) / 2
    else:  # a random window; when the scaled image is smaller it lands anywhere inside
        ox = rng.uniform(min(0.0, new_w - out_w), max(0.0, new_w - out_w))
        oy = rng.uniform(min(0.0, new_h - out_h), max(0.0, new_h - out_h))
    # dst = scale * src - offset (pixel centres at integers, as cv2.warpAffine), then the flip.
    m = np.array([[scale, 0.0, -ox + (scale - 1) / 2], [0.0, scale, -oy + (scale - 1) / 2]])
    if flip:
        m[0] = [-scale, 0.0, out_w - 1 - m[0, 2]]
    dsize = (out_w, out_h)
    rgb_out = _warp(np.ascontiguousarray(rgb), m, dsize, cv2.INTER_LINEAR, 0)
    depth_out = _warp(np.ascontiguousarray(depth, np.float32), m, dsize, cv2.INTER_NEAREST, 0)
    masks_out = None
    if masks is not None:
        stack = np.ascontiguousarray(np.asarray(masks, bool).transpose(1, 2, 0).astype(np.uint8))
        masks_out = _warp(stack, m, dsize, cv2.INTER_NEAREST, 0).transpose(2, 0, 1).astype(bool)
    sem_out = None
    if semantic is not None:
        sem_out = _warp(np.ascontiguousarray(semantic, np.uint8), m, dsize, cv2.INTER_NEAREST,
                        IGNORE_LABEL)
    if config is not None and (config.brightness or config.contrast or config.saturation
                               or config.hue):
        rgb_out = _colour_jitter(rgb_out, rng, config)
    return rgb_out, depth_out, masks_out, sem_out
