"""A scene's objects as one labelled, coloured point set.

The one source of what the node's ``objects_cloud`` topic and the replay tool's
PLY files hold, and of the id an object is shown under (its colour in overlays,
markers and clouds: :func:`seg_perception.visualize.color_for_id` of that id).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .results import Scene, SceneObject

__all__ = ["UNCOLOURED_POINT_RGB", "SceneCloud", "display_id", "scene_cloud"]

UNCOLOURED_POINT_RGB = (255, 255, 255)
"""Colour of an object's points when its geometry has no colours."""


def display_id(obj: SceneObject) -> int:
    """The id an object is shown under: its track id when tracked, else its index."""
    return obj.track_id if obj.track_id >= 0 else obj.index


class SceneCloud(NamedTuple):
    """Every object's points, in object order."""

    points: np.ndarray  # float32[N, 3] metres, the scene's camera frame
    colors: np.ndarray  # uint8[N, 3] RGB
    labels: np.ndarray  # uint32[N] display id + 1 (0 is never used: "background" in tools)


def scene_cloud(scene: Scene) -> SceneCloud:
    """The points of every object with 3D (objects without add none)."""
    parts, colors, labels = [], [], []
    for obj in scene.objects:
        g = obj.geometry
        if not obj.has_3d or g.num_points == 0:
            continue
        parts.append(g.points)
        colors.append(g.colors if g.colors is not None
                      else np.full((g.num_points, 3), UNCOLOURED_POINT_RGB, np.uint8))
        labels.append(np.full(g.num_points, display_id(obj) + 1, np.uint32))
    if not parts:
        return SceneCloud(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.uint8),
                          np.zeros(0, np.uint32))
    return SceneCloud(np.concatenate(parts).astype(np.float32, copy=False),
                      np.concatenate(colors), np.concatenate(labels))
