"""Depth noise per pixel: ``sigma(z) = a z^2`` with ``a`` measured where each pixel is.

One camera is not equally noisy everywhere: an active stereo or structured-light
sensor returns less of its pattern from a dark or shiny surface, so a near-black table
can be several times noisier than the bright objects on it. One number measured on the
table would then set every object's tolerances (a book on a dark table sinks under
the table's noise band). Here each pixel gets its own ``a`` from the roughness of
the depth around it, calibrated on the support plane against the plane's residuals.
"""
from __future__ import annotations

import functools

import numpy as np

__all__ = ["local_noise"]

_SMOOTH = 3
"""Grid pixels: the window of the local mean that the roughness is measured against."""

_WINDOW = 5
"""Samples (every 2nd grid pixel, so 10 x 10 grid pixels) in the window of the median of
the roughness (robust to a depth edge crossing up to half of it)."""

_MIN_VALID_SHARE = 0.5
"""Share of valid pixels the local mean needs (else the pixel has no roughness)."""

_LEVELS = 254
"""Quantisation levels of ``|residual| / z^2`` for the median (uint8; 255 marks a
missing value)."""


def local_noise(z: np.ndarray, valid: np.ndarray, support_sub: np.ndarray, a_plane: float,
                a_min: float) -> np.ndarray:
    """``float32[h, w]``: the depth noise at 1 m (``a`` of ``sigma = a z^2``, metres)
    at every grid pixel.

    The roughness ``|z - mean_3x3(z)| / z^2`` is zero on a plane seen without noise
    and proportional to ``a`` with noise; its median over 5 x 5 samples two pixels
    apart (robust to a depth edge through up to half the window, and to missing
    pixels, which count half as the smallest and half as the largest value) is scaled so that its median
    over the support pixels equals ``a_plane`` (the plane's residuals: the same
    sensor, so the same ratio between roughness and noise elsewhere). The result is
    at least ``a_min``. Without enough support pixels, ``a_plane`` everywhere.
    ``support_sub`` is the support at the samples only (``support[::2, ::2]``).
    """
    import cv2

    h, w = z.shape
    k = (_SMOOTH, _SMOOTH)
    total = cv2.boxFilter(z, -1, k, normalize=False, borderType=cv2.BORDER_CONSTANT)
    # Valid neighbours counted in uint8 (at most 9: exact, and 3x faster than in float).
    count = cv2.boxFilter(valid.view(np.uint8), -1, k, normalize=False,
                          borderType=cv2.BORDER_CONSTANT)
    # Sampled on every 2nd pixel (less correlated samples, a quarter of the work).
    sub = (slice(None, None, 2), slice(None, None, 2))
    zs, cs = z[sub], count[sub]
    have = valid[sub] & (cs >= _MIN_VALID_SHARE * _SMOOTH * _SMOOTH)
    zz = np.where(have, zs, np.float32(1.0))
    ratio = np.abs(zs - total[sub] / np.maximum(cs, 1)) / (zz * zz)
    # Quantise to a scale of about 8 a_plane so the median resolves ~3 % of a_plane.
    step = np.float32(max(a_plane, a_min) * 8.0 / _LEVELS)
    q = np.minimum(ratio / step, _LEVELS - 1).astype(np.uint8)
    # Missing: alternately the smallest and the largest level (leaves the median alone).
    q = np.where(have, q, _missing_levels(q.shape))
    levels = cv2.medianBlur(q, _WINDOW)
    on = support_sub & have
    # The median over the support from the levels' histogram (the same value as
    # np.median of med[on], without gathering and partitioning the pixels).
    counts = cv2.calcHist([levels], [0], on.view(np.uint8), [256], [0, 256]).ravel()
    n_on = int(counts.sum())
    if n_on < 50:
        return np.full((h, w), np.float32(max(a_plane, a_min)))
    cdf = np.cumsum(counts.astype(np.int64))
    middle = np.searchsorted(cdf, [(n_on - 1) // 2, n_on // 2], side="right")
    low, high = (np.float32(v) * step for v in middle)
    ref = float(low if n_on % 2 else (low + high) / 2)
    if not ref > 0:
        return np.full((h, w), np.float32(max(a_plane, a_min)))
    med = levels.astype(np.float32) * step
    med *= np.float32(a_plane / ref)
    # Scaled and clipped per sample, then repeated: the same values as the other way round.
    np.clip(med, np.float32(a_min), np.float32(max(a_plane, a_min)), out=med)
    return upsampled_2x(med, (h, w))


def upsampled_2x(small: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``small`` with every value repeated over 2 x 2 pixels, cropped to ``shape`` (at
    most one row and column fewer than twice ``small``'s): a nearest-neighbour
    upsampling, as ``cv2.resize`` makes it but about 2x faster."""
    h, w = shape
    cols = np.repeat(small, 2, axis=1)[:, :w]
    out = np.empty((h, w), small.dtype)
    out[0::2] = cols[:(h + 1) // 2]
    out[1::2] = cols[:h // 2]
    return out


@functools.lru_cache(maxsize=4)
def _missing_levels(shape: tuple[int, int]) -> np.ndarray:
    """``uint8`` checkerboard of the smallest (0) and largest (255) level, read-only
    (the same for every frame of a grid size)."""
    hh, ww = shape
    checker = ((np.arange(hh)[:, None] + np.arange(ww)[None, :]) & 1).astype(bool)
    out = np.where(checker, np.uint8(255), np.uint8(0))
    out.flags.writeable = False
    return out
