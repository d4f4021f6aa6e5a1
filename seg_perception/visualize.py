"""Pictures for people: colour overlays of instances and layout classes."""
from __future__ import annotations

import numpy as np

from .results import Scene

__all__ = ["color_for_id", "overlay_scene", "palette"]


def palette(n: int) -> np.ndarray:
    """``uint8[n, 3]`` distinct, saturated RGB colours (golden-ratio hues)."""
    hues = (np.arange(n) * 0.618033988749895) % 1.0
    h6 = hues * 6.0
    i = np.floor(h6).astype(int) % 6
    f = h6 - np.floor(h6)
    v, s = 0.95, 0.75
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = np.stack([
        np.stack([np.full(n, v), t, np.full(n, p)], 1), np.stack([q, np.full(n, v), np.full(n, p)], 1),
        np.stack([np.full(n, p), np.full(n, v), t], 1), np.stack([np.full(n, p), q, np.full(n, v)], 1),
        np.stack([t, np.full(n, p), np.full(n, v)], 1), np.stack([np.full(n, v), np.full(n, p), q], 1),
    ])
    return (table[i, np.arange(n)] * 255).astype(np.uint8)


_ID_COLOURS = [tuple(int(c) for c in rgb) for rgb in palette(64)]  # colour i of any palette


def color_for_id(track_or_index: int) -> tuple[int, int, int]:
    """Stable RGB colour for an object id (the same id gets the same colour in every frame)."""
    return _ID_COLOURS[track_or_index % 64]  # type: ignore[return-value]


_LAYOUT_TINT = {"support_surface": (90, 160, 90), "floor": (90, 90, 160),
                "wall": (160, 150, 90), "object": (0, 0, 0)}


def overlay_scene(scene: Scene, alpha: float = 0.5, draw_layout: bool = True,
                  draw_labels: bool = True) -> np.ndarray:
    """``uint8[H, W, 3]`` RGB: the frame with layout tint, instance masks, boxes and labels."""
    import cv2

    image = scene.frame.rgb.astype(np.float32)
    if draw_layout and scene.semantic is not None:
        for name, tint in _LAYOUT_TINT.items():
            mask = scene.semantic.mask_of(name)
            if name != "object" and mask.any():
                image[mask] = 0.75 * image[mask] + 0.25 * np.asarray(tint, np.float32)
    labels = scene.instances.label_image()
    if len(scene.objects):
        ids = [o.track_id if o.track_id >= 0 else o.index for o in scene.objects]
        lut = np.zeros((len(scene.objects) + 1, 3), np.float32)
        lut[1:] = [color_for_id(i) for i in ids]
        on = labels > 0
        image[on] = (1 - alpha) * image[on] + alpha * lut[labels[on]]
    out = np.clip(image, 0, 255).astype(np.uint8)
    for obj in scene.objects:
        ident = obj.track_id if obj.track_id >= 0 else obj.index
        color = color_for_id(ident)
        x1, y1, x2, y2 = (int(round(v)) for v in obj.box_2d)
        edges = cv2.morphologyEx(obj.mask.astype(np.uint8), cv2.MORPH_GRADIENT,
                                 np.ones((3, 3), np.uint8)) > 0
        out[edges] = color
        if draw_labels:
            text = f"{ident}"
            if obj.class_name != "object":
                text += f" {obj.class_name} {obj.score:.2f}"
            if obj.geometry is not None:
                text += f" {obj.geometry.centroid[2]:.2f}m"
            cv2.rectangle(out, (x1, y1), (x2 - 1, y2 - 1), color, 1)
            # White text on a dark tag: readable on any background.
            (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
            ty = max(th + base, y1)
            cv2.rectangle(out, (x1, ty - th - base), (x1 + tw + 2, ty), (20, 20, 20), -1)
            cv2.putText(out, text, (x1 + 1, ty - base), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                        (255, 255, 255), 1, cv2.LINE_AA)
    return out
