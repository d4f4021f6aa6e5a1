"""Scene -> the per-frame output messages (label images, merged cloud)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..results import Scene
from .conversions import numpy_to_image, points_to_cloud

__all__ = ["instance_label_image", "scene_to_cloud", "semantic_label_image"]


def instance_label_image(scene: Scene, header: Any) -> Any:
    """16UC1 image: 0 = no object, ``i + 1`` = ObjectInstance with ``id == i``."""
    return numpy_to_image(scene.instances.label_image(), "16UC1", header)


def semantic_label_image(scene: Scene, header: Any) -> Any | None:
    """mono8 image of class indices (None when no semantic stage ran)."""
    if scene.semantic is None:
        return None
    return numpy_to_image(scene.semantic.labels, "mono8", header)


def scene_to_cloud(scene: Scene, header: Any) -> Any:
    """All objects' points in one PointCloud2 with x, y, z, rgb and ``label`` fields.

    ``label`` is the object's track id + 1 when tracked, else its index + 1
    (0 is never used, so it can mean "background" in tools). Objects without 3D
    (``has_3d`` false) add no points.
    """
    parts, colors, labels = [], [], []
    for obj in scene.objects:
        g = obj.geometry
        if not obj.has_3d or g.num_points == 0:
            continue
        parts.append(g.points)
        colors.append(g.colors if g.colors is not None
                      else np.full((g.num_points, 3), 255, np.uint8))
        ident = (obj.track_id if obj.track_id >= 0 else obj.index) + 1
        labels.append(np.full(g.num_points, ident, np.uint32))
    if not parts:
        return points_to_cloud(np.zeros((0, 3), np.float32), header,
                               colors=np.zeros((0, 3), np.uint8), labels=np.zeros(0, np.uint32))
    return points_to_cloud(np.concatenate(parts).astype(np.float32, copy=False), header,
                           colors=np.concatenate(colors), labels=np.concatenate(labels))
