"""Random appearance: base colours and procedural textures (stripes, checker, dots,
wood, noise, product labels), all drawn from the scene's generator."""
from __future__ import annotations

import numpy as np

__all__ = ["make_texture", "random_color", "texture_for"]


def random_color(rng: np.random.Generator) -> np.ndarray:
    """RGB in [0, 1]: mostly saturated colours, some greys, whites and blacks."""
    import colorsys

    if rng.random() < 0.15:
        return np.full(3, rng.uniform(0.08, 0.95))
    h, s, v = rng.random(), rng.uniform(0.35, 1.0), rng.uniform(0.3, 1.0)
    return np.asarray(colorsys.hsv_to_rgb(h, s, v))


def make_texture(rng: np.random.Generator, base: np.ndarray, style: str | None = None,
                  size: int = 64) -> np.ndarray:
    """``uint8[size, size, 3]`` RGB procedural texture around colour ``base`` (0-1)."""
    second = random_color(rng)
    style = style or str(rng.choice(["stripes", "checker", "dots", "noise", "label"]))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    if style == "stripes":
        angle = rng.uniform(0, np.pi)
        period = rng.uniform(4, 20)
        t = (xx * np.cos(angle) + yy * np.sin(angle)) / period
        w = (np.floor(t) % 2)[..., None]
    elif style == "checker":
        period = int(rng.integers(4, 17))
        w = ((xx // period + yy // period) % 2)[..., None]
    elif style == "dots":
        period = rng.uniform(8, 16)
        r = rng.uniform(0.2, 0.4) * period
        dx, dy = (xx % period) - period / 2, (yy % period) - period / 2
        w = (dx * dx + dy * dy < r * r)[..., None]
    elif style == "wood":
        freq = rng.uniform(0.15, 0.4)
        wobble = rng.uniform(2, 6) * np.sin(xx / rng.uniform(6, 14))
        w = (0.5 + 0.5 * np.sin((yy + wobble) * freq))[..., None] * 0.6
        second = base * 0.6
    elif style == "noise":
        low = rng.random((8, 8))
        up = np.kron(low, np.ones((size // 8, size // 8)))
        w = (0.7 * up + 0.3 * rng.random((size, size)))[..., None]
    else:  # "label": a product-like box print, a band and a block of another colour
        w = np.zeros((size, size, 1))
        y0 = int(rng.integers(0, size // 2))
        w[y0:y0 + int(rng.integers(6, size // 2))] = 1.0
        x0, y1 = int(rng.integers(0, size - 16)), int(rng.integers(0, size - 16))
        w[y1:y1 + 12, x0:x0 + 16] = 0.5
    img = (1.0 - w) * base[None, None, :] + w * second[None, None, :]
    return np.clip(img * 255.0, 0, 255).astype(np.uint8)



def texture_for(rng: np.random.Generator, probability: float, color: np.ndarray,
                 style: str | None = None) -> np.ndarray | None:
    # Draw both numbers always so the stream does not depend on the outcome.
    u = rng.random()
    tex = make_texture(rng, color, style)
    return tex if u < probability else None
