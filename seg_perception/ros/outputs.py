"""Scene -> the per-frame output messages (label images, merged cloud)."""
from __future__ import annotations

from typing import Any

from ..results import Scene
from ..scene_cloud import scene_cloud
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
    """All objects' points in one PointCloud2 with x, y, z, rgb and ``label`` fields
    (:func:`seg_perception.scene_cloud.scene_cloud`: label = display id + 1; objects
    without 3D add no points)."""
    cloud = scene_cloud(scene)
    return points_to_cloud(cloud.points, header, colors=cloud.colors, labels=cloud.labels)
