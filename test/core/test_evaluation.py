"""seg_perception.evaluation, `seg-perception eval` and io.iter_labeled_folder.

Scores are checked against segmenters whose output is known: a "perfect" one that
returns the ground truth (every mask metric must be exactly 1), one that misses
objects on some frames (the per-case breakdown must show where), and the default
geometric pipeline on exact analytic scenes. Images are 160x120.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from seg_perception.cli import main
from seg_perception.config import PipelineConfig
from seg_perception.errors import InvalidFrameError
from seg_perception.evaluation import EvalReport, evaluate_dataset, write_report
from seg_perception.evaluation.geometry3d import visible_centroids
from seg_perception.frames import RGBDFrame
from seg_perception.io import LabeledFrame, iter_labeled_folder
from seg_perception.pipeline import Pipeline
from seg_perception.results import LAYOUT_CLASSES, InstanceMasks, SemanticMap
from seg_perception.sim.synthetic import SyntheticScene, preset_objects, render_scene

W, H = 160, 120


# ----------------------------------------------------------------------------- helpers


def _key(frame: RGBDFrame) -> bytes:
    return frame.rgb.tobytes() + frame.depth.tobytes()


class TableSegmenter:
    """Returns a fixed answer per frame (looked up by pixel content)."""

    def __init__(self, name: str, answers: dict[bytes, InstanceMasks]) -> None:
        self.name = name
        self.answers = answers

    def segment(self, frame: RGBDFrame) -> InstanceMasks:
        return self.answers[_key(frame)]


class TableSemantic(TableSegmenter):
    def segment(self, frame: RGBDFrame) -> SemanticMap:  # type: ignore[override]
        return self.answers[_key(frame)]  # type: ignore[return-value]


@dataclass(frozen=True, eq=False)
class HandSample:
    """The sample attributes evaluate_dataset reads, from an analytic scene."""

    name: str
    frame: RGBDFrame
    instances: InstanceMasks
    instance_labels: np.ndarray
    semantic: SemanticMap | None
    case_tags: tuple[str, ...]
    kinds: tuple[str, ...] = ()
    annotations: tuple[dict[str, Any], ...] = ()
    depth_gt: np.ndarray | None = None


def hand_sample(preset: str, tags: tuple[str, ...], name: str | None = None) -> HandSample:
    scene: SyntheticScene = render_scene(preset_objects(preset), W, H)
    return HandSample(name or preset, scene.frame,
                      InstanceMasks.from_label_image(scene.instance_labels),
                      scene.instance_labels, SemanticMap(scene.semantic_labels, LAYOUT_CLASSES),
                      tags)


def perfect_pipeline(samples: list[Any], **config: Any) -> Pipeline:
    answers = {_key(s.frame): s.instances for s in samples}
    cfg = PipelineConfig(semantic_backend="none", tracking=False, **config)
    return Pipeline(cfg, instance_segmenter=TableSegmenter("perfect", answers))


def strict_json(path: Path) -> Any:
    def no_nan(name: str) -> None:
        raise AssertionError(f"report.json contains {name}: not valid JSON")
    return json.loads(path.read_text(), parse_constant=no_nan)


@pytest.fixture(scope="module")
def samples() -> list[HandSample]:
    return [hand_sample("separated", ()), hand_sample("touching", ("touching",)),
            hand_sample("stacked", ("stacked", "occluded"))]


@pytest.fixture(scope="module")
def coco_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from seg_perception.sim.dataset import export_coco
    from seg_perception.sim.scenes import SceneConfig

    out = tmp_path_factory.mktemp("coco")
    export_coco(out, 2, seed=3, config=SceneConfig(width=W, height=H, num_objects=(2, 4)),
                progress=False)
    return out


# ----------------------------------------------------------------------------- evaluate_dataset


def test_perfect_segmenter_scores_one_everywhere(samples: list[HandSample]) -> None:
    report = evaluate_dataset(perfect_pipeline(samples), samples, progress=False)
    o = report.overall
    assert o["num_frames"] == 3 and o["num_gt"] == o["num_pred"] == 8
    for key in ("AP", "AP50", "AP75", "overlap_f", "boundary_f", "obj_detected_075_percentage",
                "object_recall", "object_precision"):
        assert o[key] == pytest.approx(1.0), key
    # Frames without a tag are "none"; a frame with two tags counts in both.
    assert set(report.per_case) == {"none", "touching", "stacked", "occluded"}
    assert report.per_case["stacked"]["num_frames"] == 1
    assert report.per_case["touching"]["AP50"] == pytest.approx(1.0)
    assert [f.name for f in report.frames] == ["separated", "touching", "stacked"]
    assert all(f.num_matched == f.num_gt for f in report.frames)
    # The pipeline's centroid (eroded, voxelised cloud) is near the visible-surface mean.
    errors = np.array([ob.centroid_error_m for ob in report.objects])
    assert np.isfinite(errors).all() and errors.max() < 0.01
    # No GT boxes in these samples: box IoU is not invented.
    assert np.isnan([ob.box_iou for ob in report.objects]).all()
    assert {"instance", "geometry", "total"} <= set(report.timings_ms)
    assert report.timings_ms["total"]["n"] == 2  # the first (warm-up) frame is left out
    assert report.semantic_iou is None and np.isnan(o["miou"])


def test_per_case_breakdown_shows_a_regression_on_one_case(samples: list[HandSample]) -> None:
    answers = {_key(s.frame): s.instances for s in samples}
    stacked = samples[2]
    answers[_key(stacked.frame)] = InstanceMasks.empty(H, W)  # misses everything there
    pipeline = Pipeline(PipelineConfig(semantic_backend="none", tracking=False,
                                       compute_geometry=False),
                        instance_segmenter=TableSegmenter("blind_on_stacks", answers))
    report = evaluate_dataset(pipeline, samples, progress=False)
    assert report.per_case["none"]["overlap_f"] == pytest.approx(1.0)
    assert report.per_case["touching"]["AP50"] == pytest.approx(1.0)
    assert report.per_case["stacked"]["overlap_f"] == 0.0
    assert report.per_case["stacked"]["object_recall"] == 0.0
    assert report.per_case["stacked"]["AP"] == 0.0
    assert report.overall["object_recall"] == pytest.approx(6 / 8)
    assert 0.0 < report.overall["AP50"] < 1.0
    # The worst frame is the one it got wrong.
    assert report.examples[0].name == "stacked" and report.examples[0].overlap_f == 0.0
    # No geometry computed: no centroid error, but the match is still counted.
    assert np.isnan(report.overall["centroid_error_mean_m"])


def _spill_case(gt_in_full: bool) -> tuple[HandSample, Pipeline, Pipeline, np.ndarray]:
    """A strip without depth through 30 % of the middle object; ``(sample, depth_only,
    spill, hole)``: two segmenters, one that labels only pixels with depth (as a
    depth-based one does) and one that also claims the pixels without depth (as an RGB
    model would). ``gt_in_full``: GT labels the strip too (else OSD-style, cut there)."""
    base = hand_sample("separated", ())
    depth = base.frame.depth.copy()
    hole = np.zeros((H, W), bool)
    hole[:, 86:92] = True
    depth[hole] = 0.0
    frame = RGBDFrame.create(base.frame.rgb, depth, base.frame.intrinsics)
    labels = base.instance_labels if gt_in_full else np.where(hole, 0, base.instance_labels)
    labels = labels.astype(np.uint16)
    sample = HandSample("hole", frame, InstanceMasks.from_label_image(labels), labels, None, ())
    cfg = PipelineConfig(semantic_backend="none", tracking=False, compute_geometry=False)
    full = InstanceMasks.from_label_image(base.instance_labels)
    cut = InstanceMasks.from_label_image(np.where(hole, 0, base.instance_labels))
    depth_only = Pipeline(cfg, instance_segmenter=TableSegmenter("cut", {_key(frame): cut}))
    spill = Pipeline(cfg, instance_segmenter=TableSegmenter("spill", {_key(frame): full}))
    return sample, depth_only, spill, hole


def test_gt_without_depth_is_scored_by_default_and_ignored_only_on_request() -> None:
    sample, depth_only, spill, hole = _spill_case(gt_in_full=True)
    middle = sample.instance_labels == 2
    assert 0.6 < 1 - (middle & hole).sum() / middle.sum() < 0.8  # its share with depth
    standard = evaluate_dataset(depth_only, [sample], progress=False)
    legacy = evaluate_dataset(depth_only, [sample], progress=False, ignore_gt_without_depth=True)
    # Missing the object's pixels without depth is an error under the published protocol...
    assert standard.overall["overlap_precision"] == pytest.approx(1.0)
    assert standard.overall["overlap_recall"] < 0.95
    assert standard.overall["AP"] < 1.0
    assert standard.objects[1].pixels == int(middle.sum())
    # ... and hidden by the lenient option, which the report names.
    assert legacy.overall["overlap_f"] == pytest.approx(1.0)
    assert legacy.overall["AP"] == pytest.approx(1.0)
    assert legacy.objects[1].pixels == int((middle & ~hole).sum())
    assert standard.settings["protocol"] == "standard"
    assert standard.settings["min_segment_depth"] == 0.8
    assert legacy.settings["protocol"] == "ignore-gt-without-depth"
    assert "in full" in standard.settings["protocol_description"]
    # Claiming the pixels without depth is right: full marks when the segment has enough
    # depth for the filter (UCN's OCID rule, 50 %), a missed object under the OSD rule (80 %).
    ocid = evaluate_dataset(spill, [sample], progress=False, min_segment_depth=0.5)
    assert ocid.overall["overlap_f"] == pytest.approx(1.0)
    osd = evaluate_dataset(spill, [sample], progress=False)
    assert osd.frames[0].num_pred == 2 and osd.overall["object_recall"] == pytest.approx(2 / 3)


def test_spilling_into_pixels_without_depth_is_penalised_by_default() -> None:
    # OSD-style GT: the labels stop where depth does; the prediction spills past them.
    sample, _, spill, _ = _spill_case(gt_in_full=False)
    standard = evaluate_dataset(spill, [sample], progress=False, min_segment_depth=0.5)
    legacy = evaluate_dataset(spill, [sample], progress=False, ignore_gt_without_depth=True)
    assert legacy.overall["overlap_f"] == pytest.approx(1.0)
    assert legacy.overall["AP"] == pytest.approx(1.0)
    assert standard.overall["overlap_precision"] < 0.95
    assert standard.overall["AP"] < 1.0


def test_predicted_segment_mostly_without_depth_is_removed() -> None:
    sample, depth_only, _, hole = _spill_case(gt_in_full=False)
    # A phantom on the table, 60 % of it where the sensor measured nothing (glare).
    phantom = np.zeros((H, W), bool)
    phantom[90:100, 84:94] = True
    assert not sample.instance_labels[phantom].any()
    assert (phantom & hole).sum() / phantom.sum() == pytest.approx(0.6)
    answer = depth_only.instance_segmenter.answers[_key(sample.frame)]
    with_phantom = InstanceMasks.from_masks(np.concatenate([answer.masks, phantom[None]]))
    answers = {_key(sample.frame): with_phantom}
    pipe = Pipeline(depth_only.config, instance_segmenter=TableSegmenter("phantom", answers))
    removed = evaluate_dataset(pipe, [sample], progress=False)
    kept = evaluate_dataset(pipe, [sample], progress=False, min_segment_depth=0.0)
    assert removed.frames[0].num_pred == 3 and kept.frames[0].num_pred == 4
    assert removed.overall["overlap_f"] == pytest.approx(1.0)
    assert removed.overall["object_precision"] == pytest.approx(1.0)
    assert removed.overall["AP"] == pytest.approx(1.0)
    assert kept.overall["overlap_precision"] < 1.0
    assert kept.overall["object_precision"] == pytest.approx(3 / 4)
    with pytest.raises(ValueError, match="min_segment_depth"):
        evaluate_dataset(pipe, [sample], progress=False, min_segment_depth=80)


def test_semantic_miou_by_class_name(samples: list[HandSample]) -> None:
    perfect = {_key(s.frame): s.semantic for s in samples}
    answers = {_key(s.frame): s.instances for s in samples}
    cfg = PipelineConfig(semantic_backend="none", tracking=False, compute_geometry=False)

    def run(semantic: dict[bytes, Any]) -> EvalReport:
        pipe = Pipeline(cfg, instance_segmenter=TableSegmenter("perfect", answers),
                        semantic_segmenter=TableSemantic("layout", semantic))
        return evaluate_dataset(pipe, samples, progress=False)

    report = run(perfect)
    assert report.semantic_backend == "layout"
    assert report.overall["miou"] == pytest.approx(1.0)
    # "unknown" is void: not a scored class.
    assert set(report.semantic_iou) == set(LAYOUT_CLASSES) - {"unknown"}
    # These views show no floor: its IoU is undefined (NaN), not 0, and not in the mean.
    assert np.isnan(report.semantic_iou["floor"])
    assert all(v == pytest.approx(1.0) for k, v in report.semantic_iou.items() if k != "floor")

    # Same picture with the class list in another order and the wall renamed:
    # matching is by name, and a class the GT lacks counts as an error.
    order = ("object", "wall_renamed", "floor", "support_surface", "unknown")
    renamed = {}
    for k, s in perfect.items():
        names = [n if n != "wall" else "wall_renamed" for n in LAYOUT_CLASSES]
        lut = np.array([order.index(n) for n in names], np.uint8)
        renamed[k] = SemanticMap(lut[s.labels], order)
    r2 = run(renamed)
    assert r2.semantic_iou["object"] == pytest.approx(1.0)
    assert r2.semantic_iou["support_surface"] == pytest.approx(1.0)
    assert r2.semantic_iou["wall"] == 0.0
    assert r2.overall["miou"] == pytest.approx(2 / 3)  # support, wall, object

    # A backend with unrelated classes is not scored, and the report says why.
    coco_like = {k: SemanticMap(np.zeros((H, W), np.uint8), ("person",)) for k in perfect}
    r3 = run(coco_like)
    assert r3.semantic_iou is None and np.isnan(r3.overall["miou"])
    assert any("share no name" in n for n in r3.notes)


def test_default_geometric_pipeline_on_exact_scenes() -> None:
    easy = [hand_sample("separated", ("separated",)), hand_sample("flat", ("thin_flat",))]
    # The default configuration (geometric instances + geometric layout), tracking off.
    pipeline = Pipeline(PipelineConfig(tracking=False))
    report = evaluate_dataset(pipeline, easy, progress=False)
    assert (report.backend, report.semantic_backend) == ("geometric", "geometric_layout")
    assert report.semantic_iou is not None and np.isfinite(report.overall["miou"])
    assert report.semantic_iou["support_surface"] > 0.9
    assert report.semantic_iou["object"] > 0.9
    assert "semantic" in report.timings_ms
    assert report.overall["AP50"] >= 0.9
    assert report.overall["overlap_f"] >= 0.9
    assert report.overall["object_recall"] == pytest.approx(1.0)
    assert report.overall["centroid_error_mean_m"] < 0.02
    assert set(report.per_case) == {"separated", "thin_flat"}


def test_visible_centroid_is_the_mean_of_the_masks_depth_points() -> None:
    scene = render_scene(preset_objects("touching"), W, H)
    masks = InstanceMasks.from_label_image(scene.instance_labels).masks
    got = visible_centroids(masks, scene.frame.depth, scene.frame.intrinsics)
    np.testing.assert_allclose(got, scene.visible_centroids(), atol=1e-6)  # float32 depth
    empty = visible_centroids(np.zeros((1, H, W), bool), scene.frame.depth, scene.frame.intrinsics)
    assert np.isnan(empty).all()


def test_coco_dataset_with_gt_boxes(coco_dataset: Path) -> None:
    from seg_perception.sim.dataset import CocoRGBDDataset

    ds = CocoRGBDDataset(coco_dataset)
    report = evaluate_dataset(perfect_pipeline(list(ds)), ds, progress=False)
    assert report.overall["AP50"] == pytest.approx(1.0)
    assert report.overall["overlap_f"] == pytest.approx(1.0)
    tags = {t for s in ds for t in s.case_tags} or {"none"}
    assert set(report.per_case) == tags
    # Exported annotations carry whole-object boxes: matched objects get a box IoU.
    matched = [o for o in report.objects if np.isfinite(o.centroid_error_m)]
    box_iou = np.array([o.box_iou for o in matched])
    assert box_iou.size and np.isfinite(box_iou).all() and (box_iou <= 1.0).all()
    # Perfect masks: a box object's whole box is seen (0.99 here); round and flat objects
    # are boxed from their visible surface, about half to three quarters of the truth
    # (0.34-0.75 here). A box in the wrong place or frame gives ~0.
    assert (box_iou > 0.25).all() and np.median(box_iou) > 0.5, box_iou
    assert all(o.box_iou > 0.9 for o in matched if o.kind == "box"), box_iou
    assert {o.kind for o in report.objects} <= {s for smp in ds for s in smp.kinds}
    assert report.frames[0].name == "rgb/000000.png"


def test_write_report_files(samples: list[HandSample], tmp_path: Path) -> None:
    report = evaluate_dataset(perfect_pipeline(samples), samples, progress=False, num_examples=2)
    assert len(report.examples) == 2 and report.examples[0].prediction.shape == (H, W, 3)
    written = write_report({"a": report, "b": report}, tmp_path, dataset="hand")
    for name in ("report.json", "report.md", "plots/a_case_f.png", "plots/a_frame_f_hist.png",
                 "plots/a_worst_frames.png", "plots/b_case_f.png", "plots/compare_case_f.png"):
        path = tmp_path / name
        assert path.is_file() and path.stat().st_size > 0, name
    assert written["json"] == tmp_path / "report.json"
    data = strict_json(tmp_path / "report.json")
    assert set(data["backends"]) == {"a", "b"}
    a = data["backends"]["a"]
    assert a["overall"]["AP50"] == 1.0 and a["overall"]["miou"] is None
    assert set(a["per_case"]) == {"none", "touching", "stacked", "occluded"}
    assert len(a["frames"]) == 3 and len(a["objects"]) == 8
    assert data["comparison"]["b"]["overlap_f"] == 1.0
    md = (tmp_path / "report.md").read_text()
    assert "## Per backend" in md and "### Per case" in md and "| stacked | 1 |" in md
    assert "](plots/a_worst_frames.png)" in md
    png = cv2.imread(str(tmp_path / "plots/a_case_f.png"))
    assert png is not None and png.shape[0] > 100


def test_no_samples_is_an_error() -> None:
    with pytest.raises(ValueError, match="no samples"):
        evaluate_dataset(perfect_pipeline([]), [], progress=False)


# ----------------------------------------------------------------------------- labelled folder


def write_labeled_folder(root: Path, scenes: dict[str, tuple[str, str]],
                         top_intrinsics: bool = False) -> dict[str, SyntheticScene]:
    """``scenes``: name -> (preset, category); writes the osd_learn layout."""
    rendered, frames = {}, []
    for name, (preset, category) in scenes.items():
        s = render_scene(preset_objects(preset), W, H)
        rendered[name] = s
        cv2.imwrite(str(root / f"{name}_rgb.png"), s.frame.rgb[:, :, ::-1])
        cv2.imwrite(str(root / f"{name}_depth.png"),
                    np.round(s.frame.depth * 1000).astype(np.uint16))
        cv2.imwrite(str(root / f"{name}_label.png"), s.instance_labels.astype(np.uint16))
        entry = {"name": name, "category": category, "rgb": f"{name}_rgb.png",
                 "depth": f"{name}_depth.png", "label": f"{name}_label.png",
                 "width": W, "height": H, "depth_scale": 0.001}
        K = s.frame.intrinsics
        if not top_intrinsics:
            entry.update(fx=K.fx, fy=K.fy, cx=K.cx, cy=K.cy)
        frames.append(entry)
    top: dict[str, Any] = {"frames": frames}
    if top_intrinsics:
        K = next(iter(rendered.values())).frame.intrinsics
        top.update(fx=K.fx, fy=K.fy, cx=K.cx, cy=K.cy)
    (root / "frames.json").write_text(json.dumps(top))
    return rendered


def test_iter_labeled_folder(tmp_path: Path) -> None:
    rendered = write_labeled_folder(tmp_path, {"a": ("separated", "boxes"),
                                               "b": ("stacked", "stacked_boxes")})
    frames = list(iter_labeled_folder(tmp_path))
    assert [f.name for f in frames] == ["a", "b"]
    a = frames[0]
    assert isinstance(a, LabeledFrame)
    assert a.case_tags == ("boxes",) and a.semantic is None and a.depth_gt is None
    np.testing.assert_array_equal(a.instance_labels, rendered["a"].instance_labels)
    np.testing.assert_array_equal(a.instance_ids, [1, 2, 3])
    assert len(a.instances) == 3 and a.kinds == ("object",) * 3
    np.testing.assert_array_equal(a.instances.masks[1], rendered["a"].instance_labels == 2)
    np.testing.assert_array_equal(a.frame.rgb, rendered["a"].frame.rgb)
    np.testing.assert_allclose(a.frame.depth, rendered["a"].frame.depth, atol=5e-4)
    assert a.frame.intrinsics.fx == pytest.approx(rendered["a"].frame.intrinsics.fx)
    assert frames[1].case_tags == ("stacked_boxes",)


def test_iter_labeled_folder_top_level_intrinsics_and_errors(tmp_path: Path) -> None:
    write_labeled_folder(tmp_path, {"a": ("flat", "thin")}, top_intrinsics=True)
    (frame,) = iter_labeled_folder(tmp_path)
    assert frame.frame.intrinsics.cx == pytest.approx((W - 1) / 2)

    meta = json.loads((tmp_path / "frames.json").read_text())
    del meta["fx"]
    (tmp_path / "frames.json").write_text(json.dumps(meta))
    with pytest.raises(InvalidFrameError, match="no 'fx'"):
        list(iter_labeled_folder(tmp_path))
    del meta["frames"][0]["label"]
    (tmp_path / "frames.json").write_text(json.dumps(meta))
    with pytest.raises(InvalidFrameError, match="names no label"):
        list(iter_labeled_folder(tmp_path))
    with pytest.raises(FileNotFoundError, match="not a folder"):
        list(iter_labeled_folder(tmp_path / "nothing_here"))
    (tmp_path / "frames.json").unlink()
    with pytest.raises(FileNotFoundError, match="frames.json does not exist"):
        list(iter_labeled_folder(tmp_path))


# ----------------------------------------------------------------------------- CLI


def test_cli_eval_labeled_folder_with_failed_compare(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_labeled_folder(data, {"a": ("separated", "boxes"), "b": ("flat", "thin")})
    out = tmp_path / "out"
    rc = main(["eval", str(data), "--out", str(out), "--quiet", "--semantic-backend", "none",
               "--compare", "geometric,tabletop_baseline,no_such_backend", "--no-plots",
               "--timing-repeats", "2", "--overlays"])
    assert rc == 1  # one backend failed: reported, and the others still evaluated
    data_json = strict_json(out / "report.json")
    assert set(data_json["backends"]) == {"geometric", "tabletop_baseline"}
    assert "no_such_backend" in data_json["errors"]
    geo = data_json["backends"]["geometric"]
    assert geo["settings"]["num_frames"] == 2
    assert set(geo["per_case"]) == {"boxes", "thin"}
    assert geo["overall"]["overlap_f"] > 0.9
    # frames.json folders get UCN's OSD rule by default, and every report says so.
    assert geo["settings"]["protocol"] == "standard"
    assert geo["settings"]["min_segment_depth"] == 0.8
    # Timings from 2 more runs of each frame, with the geometric analysis's own stages.
    assert geo["timings_ms"]["total"]["n"] == 4
    assert any(k.startswith("analysis.") for k in geo["timings_ms"])
    assert geo["timings_ms"]["total"]["min"] <= geo["timings_ms"]["total"]["p50"]
    # The classic baseline finds the separated boxes of these exact scenes.
    base = data_json["backends"]["tabletop_baseline"]
    assert base["per_case"]["boxes"]["overlap_f"] > 0.8
    for backend in ("geometric", "tabletop_baseline"):
        for name in ("a", "b"):
            png = cv2.imread(str(out / "overlays" / backend / f"{name}.png"))
            assert png is not None and png.shape == (H, 2 * W, 3), (backend, name)
    md = (out / "report.md").read_text()
    assert "| geometric |" in md and "`no_such_backend` failed" in md
    assert "protocol `standard` (OSD/OCID, UOIS-Net/UCN): ground truth scored in full, " \
        "predicted segments with under 80 % of pixels with depth removed" in md
    assert md.count("Protocol: `standard`") == 2  # in each backend's section too
    assert "from 2 more runs of every frame" in md
    assert not (out / "plots").exists()
    printed = capsys.readouterr().out
    assert "geometric: frames=2" in printed and "protocol: `standard`" in printed
    # Per case too, with the report's numbers.
    line = next(ln for ln in printed.splitlines() if ln.strip().startswith("boxes"))
    assert "frames=1" in line
    assert f"overlap F={geo['per_case']['boxes']['overlap_f']:.3f}" in line


def test_cli_eval_legacy_protocol_is_named(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_labeled_folder(data, {"a": ("separated", "boxes")})
    out = tmp_path / "out"
    assert main(["eval", str(data), "--out", str(out), "--quiet", "--semantic-backend", "none",
                 "--no-plots", "--ignore-gt-without-depth"]) == 0
    settings = strict_json(out / "report.json")["backends"]["geometric"]["settings"]
    assert settings["protocol"] == "ignore-gt-without-depth"
    assert "not the published protocol" in settings["protocol_description"]
    assert "min_segment_depth" not in settings
    md = (out / "report.md").read_text()
    assert "`ignore-gt-without-depth` (not the published protocol)" in md
    assert "protocol: `ignore-gt-without-depth`" in capsys.readouterr().out


def test_cli_eval_coco_end_to_end(coco_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    rc = main(["eval", str(coco_dataset), "--out", str(out), "--quiet", "--max-frames", "1",
               "--semantic-backend", "none", "--examples", "1"])
    assert rc == 0
    data = strict_json(out / "report.json")
    (name,) = data["backends"]
    assert name == "geometric"
    report = data["backends"][name]
    assert report["settings"]["num_frames"] == 1 and len(report["frames"]) == 1
    assert report["settings"]["pipeline_config"]["tracking"] is False
    # The library's number for the same pipeline settings, frame and protocol.
    from seg_perception.sim.dataset import CocoRGBDDataset

    config = PipelineConfig.from_mapping(report["settings"]["pipeline_config"], strict=False)
    library = evaluate_dataset(Pipeline(config), CocoRGBDDataset(coco_dataset), max_frames=1,
                               min_segment_depth=report["settings"]["min_segment_depth"],
                               progress=False)
    assert report["overall"]["overlap_f"] == pytest.approx(library.overall["overlap_f"],
                                                           abs=1e-12)
    assert (out / "plots" / "geometric_worst_frames.png").is_file()
    assert (out / "report.md").read_text().startswith("# Segmentation evaluation")


def test_cli_argument_errors(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="cannot tell the format"):
        main(["eval", str(tmp_path), "--quiet"])
    with pytest.raises(SystemExit, match="NAME=PATH"):
        main(["eval", str(tmp_path), "--format", "osd", "--compare", "geometric",
              "--weights", "geometric"])
    with pytest.raises(SystemExit, match="does not list"):
        main(["eval", str(tmp_path), "--format", "osd", "--compare", "geometric",
              "--weights", "maskrcnn=x.pt"])
    with pytest.raises(SystemExit, match="--min-segment-depth 80"):
        main(["eval", str(tmp_path), "--format", "osd", "--min-segment-depth", "80"])
