"""Segmentation backends behind two small interfaces, built by name."""
from ._api import (
    build_instance_segmenter,
    build_semantic_segmenter,
    list_instance_segmenters,
    list_semantic_segmenters,
    register_instance_segmenter,
    register_semantic_segmenter,
)
from ._protocol import InstanceSegmenter, SemanticSegmenter

__all__ = [
    "InstanceSegmenter",
    "SemanticSegmenter",
    "build_instance_segmenter",
    "build_semantic_segmenter",
    "list_instance_segmenters",
    "list_semantic_segmenters",
    "register_instance_segmenter",
    "register_semantic_segmenter",
]
