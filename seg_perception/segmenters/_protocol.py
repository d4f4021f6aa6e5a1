"""The small interfaces every segmentation backend implements."""
from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

from ..frames import RGBDFrame
from ..results import InstanceMasks, SemanticMap

__all__ = ["InstanceSegmenter", "SemanticSegmenter"]


@runtime_checkable
class InstanceSegmenter(Protocol):
    """Finds object instances in an RGB-D frame.

    ``segment`` returns masks in the frame's pixel grid (``bool[N, H, W]``).
    ``segment_batch`` may run several frames in one forward pass.
    """

    name: str
    device: str
    class_names: tuple[str, ...]

    def segment(self, frame: RGBDFrame) -> InstanceMasks: ...

    def segment_batch(self, frames: Sequence[RGBDFrame]) -> list[InstanceMasks]: ...


@runtime_checkable
class SemanticSegmenter(Protocol):
    """Labels every pixel with a class index into ``class_names``."""

    name: str
    device: str
    class_names: tuple[str, ...]

    def segment(self, frame: RGBDFrame) -> SemanticMap: ...

    def segment_batch(self, frames: Sequence[RGBDFrame]) -> list[SemanticMap]: ...
