"""The whole per-frame computation: instances, scene layout, per-object 3D, tracking.

Example:
    >>> from seg_perception.sim.synthetic import render_scene, preset_objects
    >>> scene = Pipeline().process(render_scene(preset_objects("separated")).frame)
    >>> len(scene.objects)
    3
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from .config import PIPELINE_PARAMS, PipelineConfig
from .errors import ConfigError
from .frames import RGBDFrame
from .results import (GEOMETRY_NOT_COMPUTED, InstanceMasks, ObjectGeometry, Plane, Scene,
                      SceneObject, SemanticMap)
from .segmenters import build_instance_segmenter, build_semantic_segmenter
from .segmenters._protocol import (FindsSupportPlane, InstanceResult, InstanceSegmenter,
                                   Resettable, ReusesAnalysis, SemanticSegmenter,
                                   SharesAnalysis, UsesSupportPlane, WorkspaceAware)

__all__ = ["BUILD_TIME_FIELDS", "FrameAnalysis", "LiveSettings", "Pipeline", "assemble_scene"]

BUILD_TIME_FIELDS = frozenset(spec.name for spec in PIPELINE_PARAMS if spec.read_only)
"""Settings that choose or load the models: fixed once the pipeline is built."""

NO_SEMANTIC = ("", "none")


def _builder_kwargs(weights: str, device: str, fp16: bool, graspable: str = "") -> dict[str, Any]:
    # Only options the user set are passed, so weight-free backends see no learned-model keys.
    kwargs: dict[str, Any] = {"device": device}
    if weights:
        kwargs["weights"] = weights
    if fp16:
        kwargs["fp16"] = True
    if graspable:
        kwargs["graspable_classes"] = [c.strip() for c in graspable.split(",") if c.strip()]
    return kwargs


class Pipeline:
    """Runs the configured segmenters and the 3D stage on RGB-D frames.

    Backends are built from ``config`` unless passed in. Thresholds that do not
    need a model reload (score, depth range, 3D filters, tracking) can be changed
    while running with :meth:`update_config`; it is thread safe. ``layout_thread``
    runs the layout segmenter beside the 3D stage on a second thread; None (default):
    only when the layout runs on an accelerator (a CUDA model waits on the GPU while the
    3D stage runs). On the CPU both stages are many short numpy / OpenCV calls that
    take turns on the GIL: one after the other was 1-4 ms faster per 640x480 frame on
    2 cores (README, Speed). Off in worker processes, where each
    core already runs a pipeline (:class:`~seg_perception.parallel.ParallelPipeline`).
    """

    def __init__(self, config: PipelineConfig | None = None, *,
                 instance_segmenter: InstanceSegmenter | None = None,
                 semantic_segmenter: SemanticSegmenter | None = None,
                 layout_thread: bool | None = None) -> None:
        cfg = config or PipelineConfig()
        device = cfg.device
        if instance_segmenter is None or (semantic_segmenter is None
                                          and cfg.semantic_backend not in NO_SEMANTIC):
            from .devices import resolve_device
            device = resolve_device(cfg.device, strict=cfg.strict_device)
        self.device = device
        self.instance_segmenter: InstanceSegmenter = instance_segmenter or build_instance_segmenter(
            cfg.instance_backend,
            **_builder_kwargs(cfg.instance_weights, device, cfg.fp16, cfg.graspable_classes))
        if semantic_segmenter is not None:
            self.semantic_segmenter: SemanticSegmenter | None = semantic_segmenter
        elif cfg.semantic_backend in NO_SEMANTIC:
            self.semantic_segmenter = None
        else:
            self.semantic_segmenter = build_semantic_segmenter(
                cfg.semantic_backend, **_builder_kwargs(cfg.semantic_weights, device, cfg.fp16))
        if layout_thread is None:
            layout_thread = (self.semantic_segmenter is not None
                             and str(getattr(self.semantic_segmenter, "device", "cpu")) != "cpu")
        self.layout_thread = layout_thread
        self._settings = LiveSettings(cfg)
        self._executor: ThreadPoolExecutor | None = None  # made on first use
        self._apply_workspace(cfg)

    @property
    def class_names(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """``(instance classes, semantic classes)``: names by class index (the semantic
        ones empty without a semantic stage); what LabelInfo publishes."""
        semantic = self.semantic_segmenter
        return (tuple(self.instance_segmenter.class_names),
                tuple(semantic.class_names) if semantic is not None else ())

    @property
    def config(self) -> PipelineConfig:
        return self._settings.config

    def update_config(self, **changes: Any) -> PipelineConfig:
        """Change run-time settings; raises ConfigError (and changes nothing) if invalid."""
        new = self._settings.update(**changes)
        self._apply_workspace(new)
        return new

    def _apply_workspace(self, cfg: PipelineConfig) -> None:
        # Segmenters that find the support themselves (geometric) keep objects on it only.
        if isinstance(self.instance_segmenter, WorkspaceAware):
            self.instance_segmenter.set_workspace(cfg.workspace, cfg.workspace_margin)

    def reset(self) -> None:
        """Forget earlier frames (tracks, a segmenter's last support plane): for frames
        that are not one camera stream, e.g. the samples of a dataset."""
        self._settings.reset_tracker()
        for segmenter in (self.instance_segmenter, self.semantic_segmenter):
            if isinstance(segmenter, Resettable):
                segmenter.reset()

    @property
    def tracker(self):  # noqa: ANN201 - ObjectTracker | None, imported lazily
        return self._settings.tracker

    def process(self, frame: RGBDFrame) -> Scene:
        """Segment one frame and describe every object in 3D."""
        start = time.perf_counter()
        cfg, tracker = self._settings.current()
        return assemble_scene(frame, self.analyse(frame, cfg), tracker, start)

    def analyse(self, frame: RGBDFrame, cfg: PipelineConfig | None = None) -> FrameAnalysis:
        """Everything but tracking (which needs the frames in order): the part of
        :meth:`process` that frames of one stream can run in parallel."""
        if cfg is None:
            cfg = self._settings.current()[0]
        timings: dict[str, float] = {}
        with _timed(timings, "instance"):
            found = self._segment_instances(frame)
            instances = found.masks.select(found.masks.scores >= cfg.score_threshold)
        plane = found.plane
        if plane is None:  # a backend that finds no plane itself (learned models)
            from .geometry.plane import estimate_support_plane
            with _timed(timings, "plane"):
                plane = estimate_support_plane(frame, exclude=instances.union())
            found = replace(found, plane=plane)
        if plane is not None and len(instances) and not isinstance(self.instance_segmenter,
                                                                   WorkspaceAware):
            # Learned models find "objects" on walls and chairs too: keep those on the
            # workspace, as the geometric backend does itself.
            from .geometry.workspace import instances_on_workspace
            with _timed(timings, "workspace"):
                on = instances_on_workspace(frame, instances.label_image(), len(instances), plane,
                                            cfg.workspace, cfg.workspace_margin)
            if not on.all():
                instances = instances.select(on)
        # Layout and per-object 3D are independent: the layout runs on a second thread
        # (OpenCV and numpy release the GIL for most of it), 3D on this one.
        pending = None
        if self.semantic_segmenter is not None:
            if self.layout_thread:
                pending = self._side_thread().submit(self._timed_semantic, frame, found)
            else:
                pending = Future()
                pending.set_result(self._timed_semantic(frame, found))
        try:
            geometries, grasps, statuses = self._describe(frame, instances, plane, cfg, timings)
        finally:
            semantic, semantic_ms = pending.result() if pending is not None else (None, None)
        if semantic_ms is not None:
            timings["semantic"] = semantic_ms
        return FrameAnalysis(instances, semantic, geometries, grasps, plane, timings, statuses)

    def process_batch(self, frames: Sequence[RGBDFrame]) -> list[Scene]:
        """Process frames in order (tracking sees them as a sequence)."""
        return [self.process(frame) for frame in frames]

    def _side_thread(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="seg_perception_layout")
        return self._executor

    def _timed_semantic(self, frame: RGBDFrame, found: InstanceResult) -> tuple[Any, float]:
        start = time.perf_counter()
        semantic = self._segment_semantic(frame, found)
        return semantic, (time.perf_counter() - start) * 1e3

    def _segment_instances(self, frame: RGBDFrame) -> InstanceResult:
        segmenter = self.instance_segmenter
        if isinstance(segmenter, SharesAnalysis):
            return segmenter.segment_shared(frame)
        if isinstance(segmenter, FindsSupportPlane):
            return InstanceResult(*segmenter.segment_with_plane(frame))
        return InstanceResult(segmenter.segment(frame))

    def _segment_semantic(self, frame: RGBDFrame, found: InstanceResult) -> SemanticMap:
        # The semantic stage gets what the instance stage found (the plane, fitted
        # here when it found none, and its analysis) explicitly, not through a cache.
        segmenter = self.semantic_segmenter
        assert segmenter is not None
        if isinstance(segmenter, ReusesAnalysis):
            return segmenter.segment_reusing(frame, found)
        if isinstance(segmenter, UsesSupportPlane) and found.plane is not None:
            return segmenter.segment_with_plane(frame, found.plane)
        return segmenter.segment(frame)

    def _describe(self, frame: RGBDFrame, instances: InstanceMasks, plane: Plane | None,
                  cfg: PipelineConfig, timings: dict[str, float]) -> tuple[list, list, list]:
        """Per instance: ``(ObjectGeometry | None, TopDownGrasp | None, geometry status)``,
        as three lists."""
        geometries: list[Any] = [None] * len(instances)
        grasps: list[Any] = [None] * len(instances)
        statuses = [GEOMETRY_NOT_COMPUTED] * len(instances)
        if cfg.compute_geometry and len(instances):
            from .geometry.grasp import top_down_grasp
            from .geometry.object3d import Object3DConfig, compute_objects_with_status
            with _timed(timings, "geometry"):
                obj_cfg = Object3DConfig(
                    erosion_px=cfg.mask_erosion_px, min_depth=cfg.min_depth,
                    max_depth=cfg.max_depth, voxel_size=cfg.voxel_size,
                    outlier_neighbors=cfg.outlier_neighbors,
                    outlier_std_ratio=cfg.outlier_std_ratio, min_points=cfg.min_object_points)
                geometries, statuses = compute_objects_with_status(frame, instances, plane,
                                                                   obj_cfg)
                grasps = [top_down_grasp(g) if g is not None else None for g in geometries]
        return geometries, grasps, statuses


@dataclass(frozen=True, eq=False)
class FrameAnalysis:
    """One frame's results before tracking (see :meth:`Pipeline.analyse`): what a
    worker process sends back. Lists are per instance, None where an object has
    too few 3D points; ``geometry_status`` says why (see :class:`SceneObject`)."""

    instances: InstanceMasks
    semantic: SemanticMap | None
    geometries: list[ObjectGeometry | None]
    grasps: list[Any]
    plane: Plane | None
    timings_ms: dict[str, float]
    geometry_status: list[str] | None = None  # None: derived from the geometries


def assemble_scene(frame: RGBDFrame, analysis: FrameAnalysis, tracker: Any, start: float
                   ) -> Scene:
    """The :class:`Scene` of an analysed frame, tracked by ``tracker`` (or None): call it
    in stream order. ``start``: ``time.perf_counter()`` when the frame was taken up."""
    timings = dict(analysis.timings_ms)
    instances = analysis.instances
    statuses = analysis.geometry_status or [""] * len(instances)
    objects = [
        SceneObject(index=i, class_id=int(instances.class_ids[i]),
                    class_name=instances.class_names[i], score=float(instances.scores[i]),
                    box_2d=instances.boxes[i], mask=instances.lazy_mask(i),
                    geometry=analysis.geometries[i], grasp=analysis.grasps[i],
                    geometry_status=statuses[i])
        for i in range(len(instances))
    ]
    if tracker is not None:
        with _timed(timings, "tracking"):
            objects = tracker.update(objects, frame.stamp_ns, instances.tight_boxes())
    timings["total"] = (time.perf_counter() - start) * 1e3
    return Scene(frame=frame, instances=instances, semantic=analysis.semantic,
                 objects=objects, support_plane=analysis.plane, timings_ms=timings)


class LiveSettings:
    """The run-time config and the tracker built from it, changed together (thread safe)."""

    def __init__(self, config: PipelineConfig) -> None:
        self._lock = threading.Lock()
        self.config = config
        self.tracker = _make_tracker(config)

    def current(self) -> tuple[PipelineConfig, Any]:
        with self._lock:
            return self.config, self.tracker

    def update(self, **changes: Any) -> PipelineConfig:
        fixed = sorted(k for k in changes if k in BUILD_TIME_FIELDS)
        if fixed:
            raise ConfigError(f"{', '.join(fixed)} only apply when the pipeline is built: "
                              "make a new Pipeline (on a node: cleanup + configure)")
        with self._lock:
            new = self.config.updated(**changes)
            self.config = new
            if any(k.startswith("track") for k in changes):
                self.tracker = _make_tracker(new)
            return new

    def reset_tracker(self) -> None:
        with self._lock:
            self.tracker = _make_tracker(self.config)


def _make_tracker(cfg: PipelineConfig) -> Any:
    if not cfg.tracking:
        return None
    from .tracking.tracker import ObjectTracker, TrackerConfig
    return ObjectTracker(TrackerConfig(max_distance=cfg.track_max_distance,
                                       max_missed=cfg.track_max_missed))


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + (time.perf_counter() - start) * 1e3


