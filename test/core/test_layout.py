"""The weight-free ``geometric_layout`` semantic segmenter on analytic scenes."""
from __future__ import annotations

import numpy as np
import pytest

from seg_perception.errors import ConfigError
from seg_perception.frames import RGBDFrame
from seg_perception.results import LAYOUT_CLASSES, SemanticMap
from seg_perception.segmenters import (
    SemanticSegmenter,
    build_semantic_segmenter,
    list_semantic_segmenters,
)
from seg_perception.segmenters.geometric import build_geometric
from seg_perception.segmenters.layout import (
    GeometricLayoutSegmenter,
    LayoutConfig,
    build_geometric_layout,
)
from seg_perception.sim.synthetic import look_at, preset_objects, render_scene

SUPPORT, FLOOR, WALL, OBJECT = (LAYOUT_CLASSES.index(n) for n in
                                ("support_surface", "floor", "wall", "object"))
FAR = look_at((0.0, -1.3, 0.6), (0.0, 0.1, 0.0))        # table, floor and wall in view
OBLIQUE = look_at((0.6, -0.9, 0.3), (0.0, 0.1, 0.05))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def _noisy(frame: RGBDFrame, seed: int) -> RGBDFrame:
    rng = np.random.default_rng(seed)
    depth = frame.depth.copy()
    valid = depth > 0
    depth[valid] += (rng.normal(0, 1, valid.sum()) * 0.0015 * depth[valid] ** 2).astype(np.float32)
    depth[rng.random(depth.shape) < 0.02] = 0
    return RGBDFrame.create(frame.rgb, depth, frame.intrinsics)


@pytest.fixture(scope="module")
def layout() -> GeometricLayoutSegmenter:
    return build_geometric_layout()


@pytest.mark.parametrize("size", [(320, 240), (640, 480)])
def test_support_surface_and_objects(layout, size):
    scene = render_scene(preset_objects("separated"), *size)
    sem = layout.segment(scene.frame)
    assert isinstance(sem, SemanticMap)
    assert sem.labels.shape == (size[1], size[0]) and sem.labels.dtype == np.uint8
    assert sem.class_names == LAYOUT_CLASSES
    truth = scene.semantic_labels
    assert _iou(sem.labels == SUPPORT, truth == SUPPORT) >= 0.9
    # Objects are labelled object, and nothing else is.
    objects = truth == OBJECT
    assert (sem.labels[objects] == OBJECT).mean() >= 0.9
    assert _iou(sem.labels == OBJECT, objects) >= 0.85


@pytest.mark.parametrize("camera", [FAR, OBLIQUE], ids=["far", "oblique"])
def test_floor_and_wall_when_visible(layout, camera):
    scene = render_scene(preset_objects("separated"), 320, 240, camera=camera)
    sem = layout.segment(_noisy(scene.frame, 1))
    truth = scene.semantic_labels
    assert (truth == FLOOR).mean() > 0.1 and (truth == WALL).mean() > 0.1
    assert _iou(sem.labels == SUPPORT, truth == SUPPORT) >= 0.9
    assert _iou(sem.labels == FLOOR, truth == FLOOR) >= 0.85
    assert _iou(sem.labels == WALL, truth == WALL) >= 0.85
    assert (sem.labels[truth == OBJECT] == OBJECT).mean() >= 0.8


def test_no_wall_or_floor_invented_on_a_plain_table(layout):
    scene = render_scene(preset_objects("touching"), 320, 240,
                         camera=look_at((0.0, -0.1, 0.5), (0.0, 0.05, 0.0)))  # table fills the view
    assert not np.isin(scene.semantic_labels, (FLOOR, WALL)).any()
    sem = layout.segment(scene.frame)
    assert not np.isin(sem.labels, (FLOOR, WALL)).any()
    assert _iou(sem.labels == SUPPORT, scene.semantic_labels == SUPPORT) >= 0.9


def test_reuses_the_instance_segmenters_analysis(monkeypatch):
    import seg_perception.segmenters.geometric.analysis as analysis_module
    from seg_perception.segmenters._protocol import ReusesAnalysis, SharesAnalysis

    calls = []
    real = analysis_module._analyse
    monkeypatch.setattr(analysis_module, "_analyse",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    scene = render_scene(preset_objects("stacked"), 320, 240)
    frame = RGBDFrame(scene.frame.rgb, scene.frame.depth, scene.frame.intrinsics)
    instances, layout = build_geometric(), build_geometric_layout()
    assert isinstance(instances, SharesAnalysis) and isinstance(layout, ReusesAnalysis)
    found = instances.segment_shared(frame)  # what the pipeline hands on
    sem = layout.segment_reusing(frame, found)
    assert len(calls) == 1  # one RANSAC, one analysis for both stages
    # Object pixels are exactly the instance masks.
    np.testing.assert_array_equal(sem.labels == OBJECT, found.masks.masks.any(axis=0))
    # The same through segment(frame, analysis=...).
    again = layout.segment(frame, analysis=found.analysis)
    assert len(calls) == 1 and np.array_equal(again.labels, sem.labels)


def test_given_plane_skips_the_search(monkeypatch):
    import seg_perception.segmenters.geometric.analysis as analysis_module

    scene = render_scene(preset_objects("flat"), 320, 240)
    called = []
    real = analysis_module.support_plane
    monkeypatch.setattr(analysis_module, "support_plane",
                        lambda *a, **k: called.append(1) or real(*a, **k))
    sem = build_geometric_layout().segment_with_plane(scene.frame, scene.table_plane)
    assert not called
    assert _iou(sem.labels == SUPPORT, scene.semantic_labels == SUPPORT) >= 0.9


def test_explicit_up_direction():
    # Up given in the camera frame instead of taken from the support plane.
    scene = render_scene(preset_objects("separated"), 320, 240, camera=FAR)
    up = tuple(scene.camera.rotation.T @ np.array([0.0, 0.0, 1.0]))
    sem = build_geometric_layout(up=up).segment(scene.frame)
    assert _iou(sem.labels == FLOOR, scene.semantic_labels == FLOOR) >= 0.85
    # An up direction that makes the table vertical: it is no longer a support surface.
    sideways = build_geometric_layout(up=(1.0, 0.0, 0.0)).segment(scene.frame)
    assert (sideways.labels == SUPPORT).mean() < 0.01


def test_registry_protocol_and_errors():
    assert "geometric_layout" in list_semantic_segmenters()
    seg = build_semantic_segmenter("geometric_layout", device="cuda", floor_min_drop=0.2,
                                   min_height=0.01)
    assert isinstance(seg, SemanticSegmenter) and seg.name == "geometric_layout"
    assert seg.device == "cpu" and seg.class_names == LAYOUT_CLASSES
    assert seg.config.floor_min_drop == 0.2 and seg.config.geometric.min_height == 0.01
    frames = [render_scene([], 160, 120).frame,
              render_scene(preset_objects("flat"), 160, 120).frame]
    maps = seg.segment_batch(frames)
    assert [int((m.labels == OBJECT).any()) for m in maps] == [0, 1]
    with pytest.raises(ValueError, match="has no weights"):
        build_geometric_layout(weights="x.pt")
    with pytest.raises(ConfigError, match="unknown geometric_layout option"):
        build_geometric_layout(flor_min_drop=0.2)
    with pytest.raises(ConfigError, match="up"):
        LayoutConfig(up=(0.0, 0.0, 0.0))


def test_the_pipeline_hands_the_analysis_to_the_layout_stage(monkeypatch):
    # One analysis per frame for both stages, handed on explicitly (no frame cache).
    import seg_perception.segmenters.geometric.analysis as analysis_module
    from seg_perception.pipeline import Pipeline

    calls = []
    real = analysis_module._analyse
    monkeypatch.setattr(analysis_module, "_analyse",
                        lambda *a, **k: calls.append(1) or real(*a, **k))

    pipeline = Pipeline(layout_thread=False)
    scene = pipeline.process(render_scene(preset_objects("stacked"), 320, 240).frame)
    assert len(calls) == 1
    np.testing.assert_array_equal(scene.semantic.labels == OBJECT,
                                  scene.instances.masks.any(axis=0))
