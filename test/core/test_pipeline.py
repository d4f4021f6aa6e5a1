"""seg_perception.pipeline.Pipeline end to end on exact analytic scenes (320x240).

The synthetic renderer gives every pixel's object id and exact depth, so found
objects are matched to the truth by mask IoU and their 3D centroids compared with
the mean of the object's visible surface points.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from seg_perception.config import PipelineConfig
from seg_perception.errors import ConfigError, UnknownBackendError
from seg_perception.frames import RGBDFrame
from seg_perception.pipeline import Pipeline
from seg_perception.results import LAYOUT_CLASSES, InstanceMasks, Scene
from seg_perception.segmenters import _api
from seg_perception.sim.synthetic import SyntheticScene, preset_objects, render_scene

W, H = 320, 240
PRESETS = ("separated", "touching", "stacked", "flat", "textured")
# device="cpu": the geometric backends never need torch, and "auto" would import it.
CPU = {"device": "cpu"}


@pytest.fixture(scope="module")
def scenes() -> dict[str, SyntheticScene]:
    return {name: render_scene(preset_objects(name), W, H) for name in PRESETS}


@pytest.fixture(scope="module")
def default_pipeline() -> Pipeline:
    # Shared by read-only tests; tracking off so scenes of different presets stay independent.
    return Pipeline(PipelineConfig(tracking=False, **CPU))


def match_to_truth(scene: Scene, truth: SyntheticScene) -> tuple[np.ndarray, np.ndarray]:
    """``(gt_index_per_object, iou_per_object)``: one-to-one matches by mask IoU."""
    n_gt = len(truth.objects)
    iou = np.zeros((len(scene.objects), n_gt))
    for i, obj in enumerate(scene.objects):
        for j in range(n_gt):
            gt = truth.instance_labels == j + 1
            iou[i, j] = (obj.mask & gt).sum() / max((obj.mask | gt).sum(), 1)
    rows, cols = linear_sum_assignment(-iou)
    gt_of = np.full(len(scene.objects), -1)
    gt_of[rows] = cols
    return gt_of, iou[np.arange(len(scene.objects)), np.maximum(gt_of, 0)]


class TruthSegmenter:
    """Returns the scene's true masks with chosen scores and class names."""

    name = "truth"
    device = "cpu"

    def __init__(self, truth: SyntheticScene, scores: Sequence[float] | None = None,
                 class_names: Sequence[str] | None = None) -> None:
        n = len(truth.objects)
        self.class_names = tuple(class_names or ("object",) * n)
        self._masks = truth.instance_labels[None] == np.arange(1, n + 1)[:, None, None]
        self._scores = np.ones(n) if scores is None else np.asarray(scores)
        self.calls = 0

    def segment(self, frame: RGBDFrame) -> InstanceMasks:
        self.calls += 1
        names = sorted(set(self.class_names))
        return InstanceMasks.from_masks(self._masks, self._scores,
                                        [names.index(c) for c in self.class_names],
                                        self.class_names)

    def segment_batch(self, frames: Sequence[RGBDFrame]) -> list[InstanceMasks]:
        return [self.segment(f) for f in frames]


# ----------------------------------------------------------------------------- results


@pytest.mark.parametrize("name", PRESETS)
def test_objects_match_ground_truth_in_2d_and_3d(default_pipeline: Pipeline,
                                                 scenes: dict[str, SyntheticScene],
                                                 name: str) -> None:
    truth = scenes[name]
    scene = default_pipeline.process(truth.frame)
    assert scene.frame is truth.frame
    assert len(scene.objects) == len(truth.objects) == len(scene.instances)
    gt_of, iou = match_to_truth(scene, truth)
    assert sorted(gt_of.tolist()) == list(range(len(truth.objects)))
    assert iou.min() >= 0.8
    visible = truth.visible_centroids()
    for obj, j in zip(scene.objects, gt_of):
        assert obj.index == scene.objects.index(obj)
        np.testing.assert_array_equal(obj.mask, scene.instances.masks[obj.index])
        assert obj.class_name == "object" and obj.score == 1.0 and obj.track_id == -1
        g = obj.geometry
        assert g is not None and g.num_points >= default_pipeline.config.min_object_points
        # Mask-edge erosion, voxel means and where the segmenter puts the border
        # between touching objects move the mean of the points by a few mm.
        assert np.linalg.norm(g.centroid - visible[j]) < 0.006, (name, j)
        assert obj.grasp is not None
        # The object's points lie inside the depth range the pipeline keeps.
        cfg = default_pipeline.config
        assert (g.points[:, 2] >= cfg.min_depth).all() and (g.points[:, 2] <= cfg.max_depth).all()


def test_support_plane_and_layout(default_pipeline: Pipeline,
                                  scenes: dict[str, SyntheticScene]) -> None:
    truth = scenes["separated"]
    scene = default_pipeline.process(truth.frame)
    plane = scene.support_plane
    assert plane is not None
    assert float(np.dot(plane.normal, truth.table_plane.normal)) > np.cos(np.radians(1.0))
    assert abs(plane.offset - truth.table_plane.offset) < 0.003
    sem = scene.semantic
    assert sem is not None and sem.labels.shape == (H, W)
    assert sem.class_names == LAYOUT_CLASSES
    # The table top visible around the objects is labelled as the support surface.
    table = truth.semantic_labels == LAYOUT_CLASSES.index("support_surface")
    assert sem.mask_of("support_surface")[table].mean() > 0.9


def test_timings_name_every_stage_that_ran(scenes: dict[str, SyntheticScene]) -> None:
    scene = Pipeline(PipelineConfig(**CPU)).process(scenes["stacked"].frame)
    t = scene.timings_ms
    assert set(t) == {"instance", "semantic", "geometry", "tracking", "total"}
    assert all(isinstance(v, float) and v >= 0 for v in t.values())
    # Stages are timed separately inside the whole; the layout runs alongside the 3D
    # stage, so the critical path is instance + the longer of the two + tracking.
    critical = t["instance"] + max(t["semantic"], t["geometry"]) + t["tracking"]
    assert critical <= t["total"] + 1e-6
    assert t["total"] > 0


def test_empty_table_gives_an_empty_scene(default_pipeline: Pipeline) -> None:
    scene = default_pipeline.process(render_scene([], W, H).frame)
    assert scene.objects == [] and len(scene.instances) == 0
    assert scene.instances.masks.shape == (0, H, W)
    assert "geometry" not in scene.timings_ms  # nothing to describe
    assert scene.support_plane is not None


# ----------------------------------------------------------------------------- tracking


def test_track_ids_are_stable_across_frames_of_the_same_scene() -> None:
    objects = preset_objects("separated")
    pipeline = Pipeline(PipelineConfig(**CPU))
    first_truth = render_scene(objects, W, H, stamp_ns=0)
    # A new frame 1/30 s later, the objects moved 1 cm along the table.
    moved = [dataclasses.replace(o, center_xy=(o.center_xy[0] + 0.01, o.center_xy[1]))
             for o in objects]
    frames = [first_truth, render_scene(objects, W, H, stamp_ns=33_000_000),
              render_scene(moved, W, H, stamp_ns=66_000_000)]
    ids_by_gt = []
    for age, truth in enumerate(frames, start=1):
        scene = pipeline.process(truth.frame)
        assert "tracking" in scene.timings_ms
        gt_of, _ = match_to_truth(scene, truth)
        ids = {int(j): o.track_id for o, j in zip(scene.objects, gt_of)}
        assert sorted(ids) == [0, 1, 2]
        assert all(o.age == age for o in scene.objects)
        ids_by_gt.append(ids)
    assert sorted(ids_by_gt[0].values()) == [1, 2, 3]  # new ids count from 1
    assert ids_by_gt[0] == ids_by_gt[1] == ids_by_gt[2]
    assert {t.track_id for t in pipeline.tracker.active_tracks} == {1, 2, 3}


def test_process_batch_is_a_sequence_for_the_tracker(scenes: dict[str, SyntheticScene]) -> None:
    pipeline = Pipeline(PipelineConfig(**CPU))
    truth = scenes["stacked"]
    frames = [RGBDFrame.create(truth.frame.rgb, truth.frame.depth, truth.frame.intrinsics,
                               stamp_ns=i * 50_000_000) for i in range(3)]
    out = pipeline.process_batch(frames)
    assert [s.frame for s in out] == frames
    assert [sorted(o.track_id for o in s.objects) for s in out] == [[1, 2]] * 3
    assert [o.age for o in out[-1].objects] == [3, 3]


def test_changing_tracking_settings_restarts_the_tracker(scenes: dict[str, SyntheticScene]) -> None:
    truth = scenes["flat"]
    pipeline = Pipeline(PipelineConfig(**CPU))
    pipeline.process(truth.frame)
    assert [o.age for o in pipeline.process(truth.frame).objects] == [2, 2]
    old_tracker = pipeline.tracker
    pipeline.update_config(track_max_distance=0.05, track_max_missed=2)
    assert pipeline.tracker is not old_tracker
    assert pipeline.tracker.config.max_distance == 0.05 and pipeline.tracker.config.max_missed == 2
    again = pipeline.process(truth.frame)
    assert [o.age for o in again.objects] == [1, 1]
    assert sorted(o.track_id for o in again.objects) == [1, 2]
    # Thresholds that are not tracking settings keep the tracks.
    tracker = pipeline.tracker
    pipeline.update_config(score_threshold=0.4)
    assert pipeline.tracker is tracker
    pipeline.update_config(tracking=False)
    assert pipeline.tracker is None
    scene = pipeline.process(truth.frame)
    assert [o.track_id for o in scene.objects] == [-1, -1] and "tracking" not in scene.timings_ms


# ----------------------------------------------------------------------------- configuration


def test_geometry_can_be_switched_off(scenes: dict[str, SyntheticScene]) -> None:
    pipeline = Pipeline(PipelineConfig(compute_geometry=False, tracking=False,
                                       semantic_backend="none", **CPU))
    assert pipeline.semantic_segmenter is None
    scene = pipeline.process(scenes["separated"].frame)
    assert len(scene.objects) == 3
    assert all(o.geometry is None and o.grasp is None for o in scene.objects)
    assert all(not o.has_3d and o.geometry_status == "not_computed" for o in scene.objects)
    assert scene.semantic is None
    assert set(scene.timings_ms) == {"instance", "total"}


def test_min_object_points_decides_which_objects_get_geometry(
        default_pipeline: Pipeline, scenes: dict[str, SyntheticScene]) -> None:
    frame = scenes["separated"].frame
    counts = [o.geometry.num_points for o in default_pipeline.process(frame).objects]
    # Threshold at the largest cloud: only the object(s) with that many points keep 3D.
    pipeline = Pipeline(PipelineConfig(min_object_points=max(counts), tracking=False,
                                       semantic_backend="none", **CPU))
    objects = pipeline.process(frame).objects
    assert len(objects) == 3  # the 2D instances are all still there
    kept = [o.geometry is not None for o in objects]
    assert kept == [c == max(counts) for c in counts] and any(kept) and not all(kept)
    for o, c in zip(objects, counts):
        if o.geometry is not None:
            assert o.geometry.num_points == c and o.grasp is not None
            assert o.has_3d and o.geometry_status == "ok"
        else:
            assert o.grasp is None and not o.has_3d and o.geometry_status == "too_few_points"
    pipeline.update_config(min_object_points=100_000)
    assert all(o.geometry is None and o.geometry_status == "too_few_points"
               for o in pipeline.process(frame).objects)


def test_depth_range_limits_the_3d_stage(scenes: dict[str, SyntheticScene]) -> None:
    frame = scenes["textured"].frame
    z = frame.depth[scenes["textured"].instance_labels == 1]
    assert z.min() > 0.5  # the box is at ~0.7 m
    pipeline = Pipeline(PipelineConfig(max_depth=0.4, tracking=False, semantic_backend="none",
                                       **CPU))
    (obj,) = pipeline.process(frame).objects  # still segmented in 2D...
    assert obj.geometry is None  # ...but no point is nearer than 0.4 m
    assert not obj.has_3d and obj.geometry_status == "out_of_range" and obj.grasp is None
    pipeline.update_config(max_depth=3.0)
    (obj,) = pipeline.process(frame).objects
    assert obj.geometry is not None and obj.geometry.points[:, 2].min() >= z.min() - 1e-3
    assert obj.has_3d and obj.geometry_status == "ok"


def test_objects_straddling_the_depth_range_are_clipped_and_survive_pickling(
        scenes: dict[str, SyntheticScene]) -> None:
    import pickle

    from seg_perception.pipeline import assemble_scene

    truth = scenes["separated"]
    depths = [truth.frame.depth[truth.instance_labels == k + 1] for k in range(3)]
    # min_depth through the middle of the farthest object: it is clipped; the others
    # lie wholly nearer than min_depth: out of range.
    order = np.argsort([np.median(z) for z in depths])[::-1]
    cut = float(np.median(depths[order[0]]))
    assert all(depths[k].max() < cut for k in order[1:])
    pipeline = Pipeline(PipelineConfig(min_depth=cut, tracking=False, semantic_backend="none",
                                       **CPU))
    analysis = pipeline.analyse(truth.frame)
    # Worker processes send FrameAnalysis pickled (ParallelPipeline): statuses travel with it.
    scene = assemble_scene(truth.frame, pickle.loads(pickle.dumps(analysis)), None, 0.0)
    assert len(scene.objects) == 3
    found = {int(np.argmax([(o.mask & (truth.instance_labels == k + 1)).sum() for k in range(3)])):
             o for o in scene.objects}
    assert len(found) == 3  # one object per true object
    far = found[int(order[0])]
    assert far.has_3d and far.geometry_status == "clipped" and far.grasp is not None
    assert far.geometry.points[:, 2].min() >= cut - 1e-6
    for k in order[1:]:
        o = found[int(k)]
        assert (o.has_3d, o.geometry_status, o.grasp) == (False, "out_of_range", None)


def test_scene_object_status_must_fit_its_geometry(default_pipeline: Pipeline,
                                                   scenes: dict[str, SyntheticScene]) -> None:
    obj = default_pipeline.process(scenes["separated"].frame).objects[0]
    assert obj.geometry_status == "ok"
    bare = dataclasses.replace(obj, geometry=None, grasp=None, geometry_status="")
    assert bare.geometry_status == "unknown" and not bare.has_3d  # the producer did not say
    with pytest.raises(ValueError, match="does not fit an object without geometry"):
        dataclasses.replace(obj, geometry=None, geometry_status="ok")
    with pytest.raises(ValueError, match="does not fit an object with geometry.*ok, clipped"):
        dataclasses.replace(obj, geometry_status="too_few_points")
    # The tracker's replace keeps the status.
    assert dataclasses.replace(bare, geometry_status="no_depth").with_track(3, 2).geometry_status \
        == "no_depth"


def test_score_threshold_filters_instances(scenes: dict[str, SyntheticScene]) -> None:
    truth = scenes["separated"]
    seg = TruthSegmenter(truth, scores=[0.3, 0.6, 0.9])
    pipeline = Pipeline(PipelineConfig(tracking=False, semantic_backend="none", **CPU),
                        instance_segmenter=seg)
    assert pipeline.instance_segmenter is seg
    scene = pipeline.process(truth.frame)  # default threshold 0.5
    assert [round(o.score, 2) for o in scene.objects] == [0.6, 0.9]
    assert len(scene.instances) == 2 and [o.index for o in scene.objects] == [0, 1]
    # Indices refer to the kept instances; the masks are the truth's objects 2 and 3.
    np.testing.assert_array_equal(scene.objects[0].mask, truth.instance_labels == 2)
    # A plain segmenter has no plane of its own: the pipeline estimates the table for
    # the 3D stage, whose boxes stand on it (top normal = the table's up).
    for o in scene.objects:
        assert o.geometry is not None
        cos = float(np.dot(o.geometry.top_normal, truth.table_plane.normal))
        assert cos > np.cos(np.radians(2.0))
    # ...and publishes it with the scene (planners and MoveIt's table need it).
    assert scene.support_plane is not None
    assert float(np.dot(scene.support_plane.normal, truth.table_plane.normal)) > 0.999
    assert pipeline.update_config(score_threshold=0.0).score_threshold == 0.0
    assert len(pipeline.process(truth.frame).objects) == 3
    pipeline.update_config(score_threshold=0.95)
    assert pipeline.process(truth.frame).objects == []


def test_invalid_runtime_change_is_refused_and_changes_nothing(
        scenes: dict[str, SyntheticScene]) -> None:
    pipeline = Pipeline(PipelineConfig(semantic_backend="none", **CPU))
    before = pipeline.config
    tracker = pipeline.tracker
    with pytest.raises(ConfigError, match="score_threshold'=1.5 is above its maximum"):
        pipeline.update_config(score_threshold=1.5)
    with pytest.raises(ConfigError, match="min_depth 2.0 must be below max_depth 1.0"):
        pipeline.update_config(min_depth=2.0, max_depth=1.0)
    with pytest.raises(ConfigError, match="track_max_missed' must be int"):
        pipeline.update_config(track_max_missed="5")
    with pytest.raises(TypeError):
        pipeline.update_config(no_such_setting=1)
    # Backends, weights and device are chosen when the models load, not per frame.
    with pytest.raises(ConfigError, match="instance_backend only apply when the pipeline is built"):
        pipeline.update_config(instance_backend="maskrcnn", score_threshold=0.3)
    assert pipeline.config is before and pipeline.tracker is tracker


@pytest.fixture
def recording_backend(monkeypatch: pytest.MonkeyPatch,
                      scenes: dict[str, SyntheticScene]) -> list[dict[str, Any]]:
    """Registers ``test_truth`` (for this test only): a backend that records its builder's
    arguments and keeps the instances of the ``separated`` truth whose class (cup, box,
    bottle) is in ``graspable_classes``. Returns the recorded arguments."""
    calls: list[dict[str, Any]] = []

    class Filtering(TruthSegmenter):
        def __init__(self, keep: list[str] | None) -> None:
            super().__init__(scenes["separated"], class_names=("cup", "box", "bottle"))
            self.keep = keep

        def segment(self, frame: RGBDFrame) -> InstanceMasks:
            masks = super().segment(frame)
            if self.keep is None:
                return masks
            return masks.select([c in self.keep for c in masks.class_names])

    def build(**kwargs: Any) -> Filtering:
        calls.append(kwargs)
        return Filtering(kwargs.get("graspable_classes"))

    _api._load_builtins()
    monkeypatch.setitem(_api._INSTANCE, "test_truth", build)
    return calls


def test_backend_options_reach_the_builder(recording_backend: list[dict[str, Any]],
                                           scenes: dict[str, SyntheticScene]) -> None:
    cfg = PipelineConfig(instance_backend="test_truth", graspable_classes=" cup, bottle,",
                         semantic_backend="none", tracking=False, **CPU)
    scene = Pipeline(cfg).process(scenes["separated"].frame)
    # The comma-separated string reaches the backend as a clean list...
    assert recording_backend[-1] == {"device": "cpu", "graspable_classes": ["cup", "bottle"]}
    # ...and the backend's filtering shows in the scene.
    assert [o.class_name for o in scene.objects] == ["cup", "bottle"]
    # Options left at their defaults are not passed at all.
    Pipeline(dataclasses.replace(cfg, graspable_classes=""))
    assert recording_backend[-1] == {"device": "cpu"}
    Pipeline(dataclasses.replace(cfg, graspable_classes="", instance_weights="w.safetensors",
                                 fp16=True))
    assert recording_backend[-1] == {"device": "cpu", "weights": "w.safetensors", "fp16": True}
    assert len(recording_backend) == 3


def test_construction_errors_name_the_problem() -> None:
    with pytest.raises(UnknownBackendError, match="unknown instance segmenter 'nope'; "
                       "available: .*geometric") as info:
        Pipeline(PipelineConfig(instance_backend="nope", **CPU))
    assert isinstance(info.value, KeyError)
    with pytest.raises(UnknownBackendError, match="unknown semantic segmenter 'nope'.*"
                       "geometric_layout"):
        Pipeline(PipelineConfig(semantic_backend="nope", **CPU))
    # The weight-free default backend refuses weights and learned-model options.
    with pytest.raises(ValueError, match="'geometric' segmenter has no weights"):
        Pipeline(PipelineConfig(instance_weights="model.pt", **CPU))
    with pytest.raises(ConfigError, match="graspable_classes"):
        Pipeline(PipelineConfig(graspable_classes="cup", **CPU))
    with pytest.raises(ConfigError, match="is not one of auto, cpu, cuda"):
        PipelineConfig(device="tpu")
    with pytest.raises(ConfigError, match="min_depth 1.0 must be below max_depth 0.5"):
        PipelineConfig(min_depth=1.0, max_depth=0.5)


def test_injected_segmenters_skip_building_backends(scenes: dict[str, SyntheticScene]) -> None:
    # Backend names are not looked up when both segmenters are passed in.
    truth = scenes["stacked"]
    seg = TruthSegmenter(truth)
    layout = Pipeline(PipelineConfig(**CPU)).semantic_segmenter
    pipeline = Pipeline(PipelineConfig(instance_backend="not_registered",
                                       semantic_backend="not_registered_either"),
                        instance_segmenter=seg, semantic_segmenter=layout)
    scene = pipeline.process(truth.frame)
    assert seg.calls == 1 and len(scene.objects) == 2 and scene.semantic is not None


class _ThreadRecordingLayout:
    """A semantic segmenter that records the thread it runs on, or fails."""

    class_names = LAYOUT_CLASSES

    def __init__(self, fail: bool = False, device: str = "cpu") -> None:
        self.fail, self.threads, self.device = fail, [], device

    def segment(self, frame: RGBDFrame) -> Any:
        import threading

        self.threads.append(threading.current_thread())
        if self.fail:
            raise RuntimeError("layout model broke")
        from seg_perception.results import SemanticMap
        return SemanticMap(np.zeros(frame.depth.shape, np.uint8), LAYOUT_CLASSES)


def test_a_layout_on_an_accelerator_runs_beside_the_3d_stage_and_its_errors_reach_the_caller(
        scenes: dict[str, SyntheticScene]) -> None:
    import threading

    frame = scenes["stacked"].frame
    layout = _ThreadRecordingLayout(device="cuda")
    scene = Pipeline(PipelineConfig(**CPU), semantic_segmenter=layout).process(frame)
    assert scene.semantic is not None and len(scene.objects) == 2
    assert layout.threads and layout.threads[0] is not threading.main_thread()
    broken = Pipeline(PipelineConfig(**CPU),
                      semantic_segmenter=_ThreadRecordingLayout(True, device="cuda"))
    with pytest.raises(RuntimeError, match="layout model broke"):
        broken.process(frame)


def test_a_layout_on_the_cpu_runs_after_the_3d_stage_unless_asked(
        scenes: dict[str, SyntheticScene]) -> None:
    import threading

    frame = scenes["stacked"].frame
    serial = _ThreadRecordingLayout()
    Pipeline(PipelineConfig(**CPU), semantic_segmenter=serial).process(frame)
    assert serial.threads == [threading.main_thread()]
    asked = _ThreadRecordingLayout()
    Pipeline(PipelineConfig(**CPU), semantic_segmenter=asked, layout_thread=True).process(frame)
    assert asked.threads and asked.threads[0] is not threading.main_thread()
    # The default geometric layout is on the CPU: no thread.
    assert Pipeline(PipelineConfig(**CPU)).layout_thread is False


def test_reset_forgets_tracks_and_the_last_support_plane(scenes: dict[str, SyntheticScene]
                                                         ) -> None:
    pipeline = Pipeline(PipelineConfig(**CPU))
    frame = scenes["separated"].frame
    pipeline.process(frame)
    second = pipeline.process(RGBDFrame.create(frame.rgb, frame.depth, frame.intrinsics,
                                               stamp_ns=33_000_000))
    assert all(o.age == 2 for o in second.objects)
    assert pipeline.instance_segmenter._prior is not None  # a stream: the plane is kept
    pipeline.reset()
    assert pipeline.instance_segmenter._prior is None
    third = pipeline.process(RGBDFrame.create(frame.rgb, frame.depth, frame.intrinsics,
                                              stamp_ns=66_000_000))
    assert all(o.age == 1 for o in third.objects)
    assert sorted(o.track_id for o in third.objects) == [1, 2, 3]


def test_the_shipped_backends_declare_the_optional_members_the_pipeline_uses() -> None:
    from seg_perception.segmenters._protocol import (FindsSupportPlane, InstanceSegmenter,
                                                     Resettable, SemanticSegmenter,
                                                     UsesSupportPlane, WorkspaceAware)

    pipeline = Pipeline(PipelineConfig(**CPU))
    geometric, layout = pipeline.instance_segmenter, pipeline.semantic_segmenter
    assert isinstance(geometric, InstanceSegmenter)
    assert isinstance(geometric, FindsSupportPlane) and isinstance(geometric, Resettable)
    assert isinstance(geometric, WorkspaceAware)
    assert isinstance(layout, SemanticSegmenter) and isinstance(layout, UsesSupportPlane)
    # A plain backend offers none of them: the pipeline fits the plane itself.
    plain = _ThreadRecordingLayout()
    assert not isinstance(plain, (FindsSupportPlane, UsesSupportPlane, Resettable,
                                  WorkspaceAware))


class _PlaneRecordingLayout(_ThreadRecordingLayout):
    """A layout backend that takes the plane found before it, and keeps state."""

    def __init__(self) -> None:
        super().__init__()
        self.planes: list[Any] = []
        self.resets = 0

    def segment_with_plane(self, frame: RGBDFrame, plane: Any) -> Any:
        self.planes.append(plane)
        return self.segment(frame)

    def reset(self) -> None:
        self.resets += 1


def test_optional_members_are_called_when_a_backend_has_them(
        scenes: dict[str, SyntheticScene]) -> None:
    layout = _PlaneRecordingLayout()
    pipeline = Pipeline(PipelineConfig(**CPU), semantic_segmenter=layout)
    scene = pipeline.process(scenes["separated"].frame)
    assert layout.planes == [scene.support_plane] and scene.support_plane is not None
    pipeline.reset()
    assert layout.resets == 1
