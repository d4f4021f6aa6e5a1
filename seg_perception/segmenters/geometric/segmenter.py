"""The backend class (:class:`GeometricSegmenter`) and its registered builder."""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

from ...frames import RGBDFrame
from ...results import InstanceMasks, Plane
from .._api import register_instance_segmenter
from .._protocol import InstanceResult
from .analysis import SceneAnalysis, analyse_scene
from .config import GeometricConfig, config_from_kwargs
from .labels import instances

__all__ = ["GeometricSegmenter", "build_geometric"]


class GeometricSegmenter:
    """Weight-free instance segmentation of objects on a support plane from depth.

    ``segment(frame)`` returns :class:`InstanceMasks` with ``bool[N, H, W]`` masks in
    the frame's pixel grid, class ``"object"``, score 1 (no confidence model).
    See the module docstring for the algorithm and :class:`GeometricConfig`.

    ``last_timings_ms``: milliseconds per analysis stage (``normals``, ``plane``,
    ``edges``, ...) of the last frame analysed, as ``yolo_seg`` reports its stages.
    """

    name = "geometric"
    device = "cpu"
    class_names: tuple[str, ...] = ("object",)

    def __init__(self, config: GeometricConfig | None = None) -> None:
        self.config = config or GeometricConfig()
        self._prior: tuple[Plane, float] | None = None  # last frame's support plane
        self.last_timings_ms: dict[str, float] = {}

    def analyse(self, frame: RGBDFrame) -> SceneAnalysis:
        """The :class:`SceneAnalysis` of ``frame``.

        Frames are taken as one camera stream: with ``reuse_plane`` the previous
        frame's support plane is tried before a RANSAC search (:meth:`reset` forgets it).
        """
        prior = self._prior if self.config.reuse_plane else None
        analysis = analyse_scene(frame, self.config, prior=prior)
        self._prior = ((analysis.plane, analysis.plane_support)
                       if analysis.plane is not None and analysis.plane_support > 0 else None)
        self.last_timings_ms = dict(analysis.timings_ms)
        return analysis

    def reset(self) -> None:
        """Forget the previous frame (a new camera, or frames that are not a stream)."""
        self._prior = None

    def set_workspace(self, workspace: str, margin: float) -> None:
        """Change the ``workspace`` and ``workspace_margin`` settings (run time)."""
        self.config = replace(self.config, workspace=workspace, workspace_margin=margin)

    def segment_shared(self, frame: RGBDFrame) -> InstanceResult:
        """Instances, the support plane and the :class:`SceneAnalysis` (which the
        layout segmenter reuses: :meth:`GeometricLayoutSegmenter.segment_reusing`)."""
        analysis = self.analyse(frame)
        masks = instances(analysis.full_labels(frame), analysis.num_objects,
                          analysis.full_window(frame))
        return InstanceResult(masks, analysis.plane, analysis)

    def segment_with_plane(self, frame: RGBDFrame) -> tuple[InstanceMasks, Plane | None]:
        """Instances and the support plane they stand on (None if not found)."""
        result = self.segment_shared(frame)
        return result.masks, result.plane

    def segment(self, frame: RGBDFrame) -> InstanceMasks:
        return self.segment_with_plane(frame)[0]

    def segment_batch(self, frames: Sequence[RGBDFrame]) -> list[InstanceMasks]:
        return [self.segment(f) for f in frames]

    def __repr__(self) -> str:
        return f"GeometricSegmenter({self.config})"


@register_instance_segmenter("geometric")
def build_geometric(*, weights: Any = None, device: str = "cpu", fp16: bool = False,
                    config: GeometricConfig | None = None, **options: Any) -> GeometricSegmenter:
    """Build the ``geometric`` instance segmenter.

    Args:
        weights: must be None: this backend has no learned parameters.
        device, fp16: accepted for interface compatibility; it runs on the CPU in
            float32 whatever they say.
        config: a full :class:`GeometricConfig`; ``options`` override its fields
            (e.g. ``up_hint=(0, -1, 0)``, ``max_height=0.4``).

    Raises:
        ValueError: ``weights`` was given.
        ConfigError: an unknown option or a value out of range.
    """
    if weights is not None:
        raise ValueError(f"weights={weights!r}: the 'geometric' segmenter has no weights; "
                         "leave weights unset (None) or pick a learned backend")
    del device, fp16  # numpy/OpenCV on the CPU whatever the pipeline's device
    return GeometricSegmenter(config_from_kwargs(config, dict(options)))
