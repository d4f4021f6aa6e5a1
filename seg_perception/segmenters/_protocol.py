"""The small interfaces every segmentation backend implements, and the optional ones.

Every instance backend is an :class:`InstanceSegmenter`, every semantic one a
:class:`SemanticSegmenter`. A backend may also offer what the pipeline uses when it
is there (checked with ``isinstance``, the protocols are runtime-checkable):

* :class:`FindsSupportPlane`: the instance stage returns the support plane it
  found on the way (the geometric backend); otherwise the pipeline fits one.
* :class:`SharesAnalysis`: the instance stage returns an :class:`InstanceResult`:
  its masks, plane and the analysis behind them (the geometric backend's
  ``SceneAnalysis``), which the pipeline hands to the semantic stage.
* :class:`ReusesAnalysis`: the semantic stage takes that result and reuses what it
  can (the layout backend: the whole analysis when it is a ``SceneAnalysis``).
* :class:`UsesSupportPlane`: the semantic stage takes the plane found before it
  (the layout backend) instead of fitting its own.
* :class:`Resettable`: it keeps state between frames (a prior plane) that
  :meth:`Pipeline.reset <seg_perception.pipeline.Pipeline.reset>` clears.
* :class:`WorkspaceAware`: it keeps only objects in the configured ``workspace``
  (run-time settings, passed on every change).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence, runtime_checkable

from ..frames import RGBDFrame
from ..results import InstanceMasks, Plane, SemanticMap

__all__ = ["FindsSupportPlane", "InstanceResult", "InstanceSegmenter", "Resettable",
           "ReusesAnalysis", "SemanticSegmenter", "SharesAnalysis", "UsesSupportPlane",
           "WorkspaceAware"]


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


@runtime_checkable
class FindsSupportPlane(Protocol):
    """An instance segmenter that finds the support plane on the way."""

    def segment_with_plane(self, frame: RGBDFrame) -> tuple[InstanceMasks, Plane | None]:
        """``segment(frame)`` and the support plane (None when there is none)."""
        ...


@dataclass(frozen=True, eq=False)
class InstanceResult:
    """What an instance stage found on one frame.

    Attributes:
        masks: the instances.
        plane: the support plane, None when none was found (or not looked for).
        analysis: the backend's intermediate results for a semantic stage to reuse
            (the geometric backend's ``SceneAnalysis``), None when there are none.
    """

    masks: InstanceMasks
    plane: Plane | None = None
    analysis: Any = None


@runtime_checkable
class SharesAnalysis(Protocol):
    """An instance segmenter whose work on a frame the semantic stage can reuse."""

    def segment_shared(self, frame: RGBDFrame) -> InstanceResult:
        """``segment(frame)`` with the plane and the analysis behind it."""
        ...


@runtime_checkable
class ReusesAnalysis(Protocol):
    """A semantic segmenter that can build on the instance stage's result."""

    def segment_reusing(self, frame: RGBDFrame, found: InstanceResult) -> SemanticMap:
        """``segment(frame)`` reusing ``found`` (its plane is the support plane,
        its analysis is used when this segmenter understands it)."""
        ...


@runtime_checkable
class UsesSupportPlane(Protocol):
    """A semantic segmenter that can take the support plane found before it."""

    def segment_with_plane(self, frame: RGBDFrame, plane: Plane | None) -> SemanticMap:
        """``segment(frame)`` with ``plane`` as the support plane (None: find it)."""
        ...


@runtime_checkable
class Resettable(Protocol):
    """A segmenter with state carried from frame to frame."""

    def reset(self) -> None:
        """Forget earlier frames (the next one may be of another scene)."""
        ...


@runtime_checkable
class WorkspaceAware(Protocol):
    """A segmenter that keeps only the objects in a workspace."""

    def set_workspace(self, workspace: str, margin: float) -> None:
        """Apply the ``workspace`` and ``workspace_margin`` settings."""
        ...
