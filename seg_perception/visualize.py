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

    rgb = np.ascontiguousarray(scene.frame.rgb)
    h, w = rgb.shape[:2]
    # Each output pixel depends only on its colour value, its layout tint and its
    # instance: every (tint, instance, value, channel) result is computed once in a small
    # table (the same float32 sums as pixel by pixel), then looked up.
    tints = [np.zeros(3, np.float32)]
    tint_of = np.zeros(0, np.intp)
    if draw_layout and scene.semantic is not None:
        names = scene.semantic.class_names
        tint_of = np.zeros(max(len(names), int(scene.semantic.labels.max(initial=0)) + 1),
                           np.int32)
        for name, tint in _LAYOUT_TINT.items():
            if name != "object" and name in names:
                tint_of[names.index(name)] = len(tints)
                tints.append(np.asarray(tint, np.float32))
    ids = [o.track_id if o.track_id >= 0 else o.index for o in scene.objects]
    colours = np.zeros((len(ids) + 1, 3), np.float32)
    colours[1:] = np.array([color_for_id(i) for i in ids], np.float32).reshape(-1, 3)
    values = np.arange(256, dtype=np.float32)[None, :, None]  # [1, 256, 1]
    table = np.empty((len(tints), len(ids) + 1, 256, 3), np.uint8)
    for t, tint in enumerate(tints):
        base = np.broadcast_to(values, (1, 256, 3)).copy()
        if t:
            base = 0.75 * base + 0.25 * tint
        table[t, 0] = np.clip(base[0], 0, 255).astype(np.uint8)
        if ids:
            blended = (1 - alpha) * base + alpha * colours[1:, None, :]  # [N, 256, 3]
            table[t, 1:] = np.clip(blended, 0, 255).astype(np.uint8)
    # Pixels on no object: one lookup per layout tint over the image (cv2.LUT, 256
    # entries), kept under that tint's pixels; tint 0 is the colour itself.
    out = rgb.copy()
    tint = None
    if len(tints) > 1:
        tint = np.take(tint_of.astype(np.uint8), scene.semantic.labels)
        for t in range(1, len(tints)):
            where = cv2.compare(tint, t, cv2.CMP_EQ)
            if cv2.countNonZero(where):
                cv2.copyTo(cv2.LUT(rgb, table[t, 0].reshape(256, 1, 3)), where, out)
    # Object pixels (about a tenth): one gather each from the table by tint, object, value.
    if ids:
        labels = scene.instances.label_image()  # i + 1 = instance i = scene.objects[i]
        if len(scene.instances) > len(ids):  # instances without an object: not painted
            labels = np.where(labels <= len(ids), labels, 0)
        at = np.flatnonzero(labels)
        row = labels.reshape(-1)[at].astype(np.int32)
        if tint is not None:
            row += tint.reshape(-1)[at].astype(np.int32) * np.int32(len(ids) + 1)
        first = row * np.int32(256 * 3)  # table[t, i] starts here in the flat table
        flat, src, dst = table.reshape(-1), rgb.reshape(-1), out.reshape(-1)
        for c in range(3):
            dst[at * 3 + c] = flat[first + src[at * 3 + c].astype(np.int32) * 3 + c]
    box3 = np.ones((3, 3), np.uint8)
    for obj, ident in zip(scene.objects, ids):
        color = color_for_id(ident)
        x1, y1, x2, y2 = (int(round(v)) for v in obj.box_2d)
        # The outline, on the mask's box and a pixel around it only.
        _, (bx0, by0, bx1, by1) = obj.mask_crop()
        if bx1 > bx0:
            wx0, wy0, wx1, wy1 = max(bx0 - 1, 0), max(by0 - 1, 0), min(bx1 + 1, w), min(by1 + 1, h)
            window = obj.mask_window(wx0, wy0, wx1, wy1).view(np.uint8)
            edges = cv2.morphologyEx(window, cv2.MORPH_GRADIENT, box3) > 0
            out[wy0:wy1, wx0:wx1][edges] = color
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
