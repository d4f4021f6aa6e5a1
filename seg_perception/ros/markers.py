"""RViz markers for a processed scene: :func:`scene_to_markers`, built with the other
per-frame outputs in :mod:`seg_perception.ros.outputs` (re-exported here)."""
from __future__ import annotations

from .outputs import scene_to_markers

__all__ = ["scene_to_markers"]
