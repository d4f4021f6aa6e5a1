"""Stable object identities across frames (Hungarian matching on 3D and 2D cues).

Needs numpy and SciPy only; nothing here is imported by ``import seg_perception``.

Example:
    >>> from seg_perception.tracking import ObjectTracker, TrackerConfig
    >>> tracker = ObjectTracker(TrackerConfig(max_distance=0.05, max_missed=3))
    >>> tracker.update([], stamp_ns=0)
    []
"""
from .matching import assign, box_iou, centroid_distances, mask_boxes, mask_iou
from .tracker import ObjectTracker, Track, TrackerConfig

__all__ = [
    "ObjectTracker",
    "Track",
    "TrackerConfig",
    "assign",
    "box_iou",
    "centroid_distances",
    "mask_boxes",
    "mask_iou",
]
