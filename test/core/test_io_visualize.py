"""seg_perception.io (image folders, labelled folders, PLY, scene summaries) and
seg_perception.visualize (overlays, colours), on small analytic scenes."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from seg_perception.config import PipelineConfig
from seg_perception.errors import InvalidFrameError
from seg_perception.frames import CameraIntrinsics
from seg_perception.io import (
    iter_image_folder,
    iter_labeled_folder,
    save_ply,
    scene_summary,
    write_json,
)
from seg_perception.pipeline import Pipeline
from seg_perception.results import InstanceMasks, Scene
from seg_perception.sim.synthetic import SyntheticScene, preset_objects, render_scene
from seg_perception.visualize import color_for_id, overlay_scene, palette

W, H = 160, 120


@pytest.fixture(scope="module")
def scenes() -> dict[str, SyntheticScene]:
    return {name: render_scene(preset_objects(name), W, H, stamp_ns=7)
            for name in ("separated", "stacked")}


@pytest.fixture(scope="module")
def processed(scenes: dict[str, SyntheticScene]) -> Scene:
    """The separated scene through the default pipeline (tracking on: ids 1..3)."""
    return Pipeline(PipelineConfig(device="cpu")).process(scenes["separated"].frame)


def write_png(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image), path


def depth_mm(scene: SyntheticScene) -> np.ndarray:
    return np.round(scene.frame.depth * 1000).astype(np.uint16)


# ----------------------------------------------------------------------------- image folders


def test_image_folder_with_rgb_and_depth_subfolders(tmp_path: Path,
                                                    scenes: dict[str, SyntheticScene]) -> None:
    for name, s in scenes.items():
        write_png(tmp_path / "rgb" / f"{name}.png", s.frame.rgb[:, :, ::-1])  # BGR on disk
        write_png(tmp_path / "depth" / f"{name}.png", depth_mm(s))
    write_png(tmp_path / "rgb" / "zz_no_depth.png", scenes["stacked"].frame.rgb)  # unpaired
    K = scenes["separated"].frame.intrinsics
    (tmp_path / "intrinsics.json").write_text(json.dumps(
        {"fx": K.fx, "fy": K.fy, "cx": K.cx, "cy": K.cy}))
    frames = list(iter_image_folder(tmp_path))
    assert [f.name for f in frames] == ["separated", "stacked"]  # sorted, unpaired skipped
    for index, f in enumerate(frames):
        s = scenes[f.name]
        np.testing.assert_array_equal(f.frame.rgb, s.frame.rgb)  # back to RGB order
        # Millimetre PNG: at most half a millimetre of rounding.
        np.testing.assert_allclose(f.frame.depth, s.frame.depth, atol=5e-4 + 1e-6)
        np.testing.assert_array_equal(f.frame.valid, s.frame.valid)
        # Width and height default to the image's; the rest from intrinsics.json.
        assert f.frame.intrinsics == CameraIntrinsics(W, H, K.fx, K.fy, K.cx, K.cy)
        assert f.frame.stamp_ns == index


def test_image_folder_with_name_suffixes_explicit_intrinsics_and_scale(
        tmp_path: Path, scenes: dict[str, SyntheticScene]) -> None:
    s = scenes["stacked"]
    tenth_mm = np.round(s.frame.depth * 10000).astype(np.uint16)  # 0.1 mm units
    write_png(tmp_path / "a_rgb.png", s.frame.rgb[:, :, ::-1])
    write_png(tmp_path / "a_depth.png", tenth_mm)
    write_png(tmp_path / "b-color.png", s.frame.rgb[:, :, ::-1])
    write_png(tmp_path / "b-depth.png", tenth_mm)
    write_png(tmp_path / "c_rgb.png", s.frame.rgb)  # no depth: skipped
    write_png(tmp_path / "notes.png", s.frame.rgb)  # not a colour image name: skipped
    K = s.frame.intrinsics
    # No intrinsics.json needed when intrinsics are passed in.
    frames = list(iter_image_folder(tmp_path, K, depth_scale=0.0001))
    assert [f.name for f in frames] == ["a", "b"]
    for f in frames:
        assert f.frame.intrinsics is K
        np.testing.assert_allclose(f.frame.depth, s.frame.depth, atol=5e-5 + 1e-6)


def test_image_folder_reads_jpeg_colour_with_png_depth(tmp_path: Path,
                                                      scenes: dict[str, SyntheticScene]) -> None:
    s = scenes["separated"]
    write_png(tmp_path / "rgb" / "f0.jpg", s.frame.rgb[:, :, ::-1])
    write_png(tmp_path / "depth" / "f0.png", depth_mm(s))
    write_png(tmp_path / "depth" / "f1.jpg", depth_mm(s)[:, :, None].repeat(3, 2).astype(np.uint8))
    (f,) = iter_image_folder(tmp_path, s.frame.intrinsics)  # lossy depth is never paired
    assert f.name == "f0"
    # JPEG is lossy: close to the colours, exact depth.
    assert np.abs(f.frame.rgb.astype(int) - s.frame.rgb).mean() < 6
    np.testing.assert_allclose(f.frame.depth, s.frame.depth, atol=5e-4 + 1e-6)


def test_image_folder_grey_colour_is_replicated(tmp_path: Path,
                                                scenes: dict[str, SyntheticScene]) -> None:
    s = scenes["stacked"]
    grey = s.frame.rgb[:, :, 1].copy()
    write_png(tmp_path / "x_rgb.png", grey)
    write_png(tmp_path / "x_depth.png", depth_mm(s))
    (f,) = iter_image_folder(tmp_path, s.frame.intrinsics)
    assert f.frame.rgb.shape == (H, W, 3)
    assert all((f.frame.rgb[:, :, c] == grey).all() for c in range(3))


def test_image_folder_errors_name_the_problem(tmp_path: Path,
                                              scenes: dict[str, SyntheticScene]) -> None:
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        list(iter_image_folder(tmp_path / "missing"))
    with pytest.raises(InvalidFrameError, match=r"no RGB-D pairs in .*NAME_rgb.png"):
        list(iter_image_folder(tmp_path))
    s = scenes["stacked"]
    write_png(tmp_path / "a_rgb.png", s.frame.rgb)
    write_png(tmp_path / "a_depth.png", depth_mm(s))
    with pytest.raises(InvalidFrameError, match="no intrinsics: pass fx/fy/cx/cy or write"):
        list(iter_image_folder(tmp_path))
    # Intrinsics of another camera size: RGBDFrame.create's check, named per frame.
    with pytest.raises(InvalidFrameError, match="camera_info size 320x240"):
        list(iter_image_folder(tmp_path, s.frame.intrinsics.scaled(320, 240)))
    (tmp_path / "a_depth.png").write_bytes(b"not a png")
    with pytest.raises(InvalidFrameError, match="cannot read image .*a_depth.png"):
        list(iter_image_folder(tmp_path, s.frame.intrinsics))


# ----------------------------------------------------------------------------- labelled folders


def write_labeled(root: Path, scene: SyntheticScene, entry: dict | None = None,
                  top: dict | None = None, label: np.ndarray | None = None) -> None:
    write_png(root / "f_rgb.png", scene.frame.rgb[:, :, ::-1])
    write_png(root / "f_depth.png", depth_mm(scene))
    write_png(root / "f_label.png",
              scene.instance_labels.astype(np.uint16) if label is None else label)
    K = scene.frame.intrinsics
    item = {"rgb": "f_rgb.png", "depth": "f_depth.png", "label": "f_label.png",
            "fx": K.fx, "fy": K.fy, "cx": K.cx, "cy": K.cy, **(entry or {})}
    (root / "frames.json").write_text(json.dumps({"frames": [item], **(top or {})}))


def test_labeled_folder_defaults_and_8_bit_labels(tmp_path: Path,
                                                  scenes: dict[str, SyntheticScene]) -> None:
    s = scenes["stacked"]
    # Labels may be 8-bit; the name and category are optional.
    write_labeled(tmp_path, s, label=s.instance_labels.astype(np.uint8))
    (f,) = iter_labeled_folder(tmp_path)
    assert f.name == "frame0000" and f.case_tags == () and f.annotations == ()
    assert f.instance_labels.dtype == np.uint16
    np.testing.assert_array_equal(f.instance_labels, s.instance_labels)
    assert f.instance_ids.dtype == np.int64 and f.instance_ids.tolist() == [1, 2]
    assert f.instances.class_names == ("object", "object")
    np.testing.assert_array_equal(f.instances.masks, [s.instance_labels == 1,
                                                      s.instance_labels == 2])
    assert f.meta["rgb"] == "f_rgb.png" and f.frame.stamp_ns == 0


def test_labeled_folder_depth_scale_and_background_only(tmp_path: Path,
                                                        scenes: dict[str, SyntheticScene]) -> None:
    s = scenes["stacked"]
    # A top-level depth_scale applies to every frame: mm values read as 2 mm units.
    write_labeled(tmp_path, s, top={"depth_scale": 0.002},
                  label=np.zeros((H, W), np.uint16))
    (f,) = iter_labeled_folder(tmp_path)
    np.testing.assert_allclose(f.frame.depth, 2 * s.frame.depth, atol=1e-3 + 1e-6)
    assert len(f.instances) == 0 and f.instances.masks.shape == (0, H, W)
    assert f.instance_ids.size == 0 and f.kinds == ()
    # A per-frame value wins over the top-level one.
    write_labeled(tmp_path, s, entry={"depth_scale": 0.001}, top={"depth_scale": 0.002})
    (f,) = iter_labeled_folder(tmp_path)
    np.testing.assert_allclose(f.frame.depth, s.frame.depth, atol=5e-4 + 1e-6)


def test_labeled_folder_malformed_inputs(tmp_path: Path,
                                         scenes: dict[str, SyntheticScene]) -> None:
    s = scenes["stacked"]
    write_labeled(tmp_path, s, label=np.zeros((H // 2, W // 2), np.uint16))
    with pytest.raises(InvalidFrameError, match=rf"label \({W // 2}, {H // 2}\) and depth "
                       rf"\({W}, {H}\) differ in size"):
        list(iter_labeled_folder(tmp_path))
    write_labeled(tmp_path, s, label=np.zeros((H, W, 3), np.uint8))
    with pytest.raises(InvalidFrameError, match="must be a single-channel integer label image"):
        list(iter_labeled_folder(tmp_path))
    write_labeled(tmp_path, s, entry={"rgb": "missing.png"})
    with pytest.raises(InvalidFrameError, match="cannot read image .*missing.png"):
        list(iter_labeled_folder(tmp_path))
    (tmp_path / "frames.json").write_text("{not json")
    with pytest.raises(InvalidFrameError, match="is not valid JSON"):
        list(iter_labeled_folder(tmp_path))
    for bad in ([], {"frames": {"a": 1}}, {"images": []}):
        (tmp_path / "frames.json").write_text(json.dumps(bad))
        with pytest.raises(InvalidFrameError, match="has no 'frames' list"):
            list(iter_labeled_folder(tmp_path))
    (tmp_path / "frames.json").write_text(json.dumps({"frames": []}))
    assert list(iter_labeled_folder(tmp_path)) == []


# ----------------------------------------------------------------------------- PLY


def read_ply(path: Path) -> tuple[list[str], np.ndarray]:
    """Header lines and the vertex records of a binary little-endian PLY."""
    raw = path.read_bytes()
    end = raw.index(b"end_header\n") + len(b"end_header\n")
    header = raw[:end].decode("ascii").splitlines()
    assert header[0] == "ply" and header[1] == "format binary_little_endian 1.0"
    types = {"float": "<f4", "uchar": "u1", "int": "<i4"}
    fields = [(line.split()[2], types[line.split()[1]])
              for line in header if line.startswith("property ")]
    count = int(next(line for line in header if line.startswith("element vertex")).split()[-1])
    data = np.frombuffer(raw[end:], dtype=fields)
    assert data.size == count  # no trailing or missing bytes
    return header, data


def test_ply_with_colours_and_labels_reads_back(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    points = rng.normal(size=(50, 3)).astype(np.float64)
    colors = rng.integers(0, 256, (50, 3)).astype(np.uint8)
    labels = np.repeat([1, 2, 5, -1, 7], 10)
    path = tmp_path / "cloud.ply"
    save_ply(path, points, colors, labels)
    header, data = read_ply(path)
    assert header[2:] == ["element vertex 50", "property float x", "property float y",
                          "property float z", "property uchar red", "property uchar green",
                          "property uchar blue", "property int label", "end_header"]
    xyz = np.stack([data["x"], data["y"], data["z"]], 1)
    np.testing.assert_array_equal(xyz, points.astype(np.float32))
    np.testing.assert_array_equal(np.stack([data["red"], data["green"], data["blue"]], 1), colors)
    np.testing.assert_array_equal(data["label"], labels)


def test_ply_is_readable_by_open3d(tmp_path: Path) -> None:
    o3d = pytest.importorskip("open3d")  # an optional reader; the format check is above
    points = np.array([[0.0, 0.1, 0.8], [0.2, -0.1, 1.2], [0.05, 0.0, 0.9]], np.float32)
    colors = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)
    save_ply(tmp_path / "c.ply", points, colors)
    cloud = o3d.io.read_point_cloud(str(tmp_path / "c.ply"))
    np.testing.assert_allclose(np.asarray(cloud.points), points, atol=1e-7)
    np.testing.assert_allclose(np.asarray(cloud.colors), colors / 255.0, atol=1e-7)


def test_ply_points_only_and_empty(tmp_path: Path) -> None:
    # Flat input is reshaped to N x 3; no colour or label properties are written.
    save_ply(tmp_path / "p.ply", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    header, data = read_ply(tmp_path / "p.ply")
    assert [h for h in header if h.startswith("property")] == [
        "property float x", "property float y", "property float z"]
    assert data["z"].tolist() == [3.0, 6.0]
    # An empty cloud (no objects in a frame) is a valid file with 0 vertices.
    save_ply(tmp_path / "e.ply", np.zeros((0, 3)), np.zeros((0, 3), np.uint8), np.zeros(0))
    header, data = read_ply(tmp_path / "e.ply")
    assert "element vertex 0" in header and data.size == 0


# ----------------------------------------------------------------------------- scene summary


def test_scene_summary_describes_every_object(processed: Scene, tmp_path: Path) -> None:
    summary = scene_summary(processed)
    # Plain JSON: no numpy types, no NaN.
    text = json.dumps(summary, allow_nan=False)
    assert summary["stamp_ns"] == 7 and summary["frame_id"] == "camera_color_optical_frame"
    assert summary["size"] == [W, H]
    np.testing.assert_allclose(summary["support_plane"],
                               processed.support_plane.coefficients, atol=5e-6)
    assert set(summary["timings_ms"]) == set(processed.timings_ms)
    assert len(summary["objects"]) == len(processed.objects) == 3
    for item, obj in zip(summary["objects"], processed.objects):
        g = obj.geometry
        assert item["index"] == obj.index and item["track_id"] == obj.track_id >= 1
        assert item["age"] == 1 and item["class_name"] == "object" and item["score"] == 1.0
        assert item["mask_pixels"] == int(obj.mask.sum()) > 0
        np.testing.assert_allclose(item["box_2d"], obj.box_2d, atol=0.05)
        np.testing.assert_allclose(item["centroid"], g.centroid, atol=5e-5)
        np.testing.assert_allclose(item["box_center"], g.box_center, atol=5e-5)
        np.testing.assert_allclose(item["box_size"], g.box_extent, atol=5e-5)
        np.testing.assert_allclose(item["box_rotation"], g.box_rotation, atol=5e-6)
        assert item["num_points"] == g.num_points
        grasp = item["grasp"]
        np.testing.assert_allclose(grasp["point"], obj.grasp.point, atol=5e-5)
        np.testing.assert_allclose(grasp["approach"], obj.grasp.approach, atol=5e-5)
        assert grasp["width"] == pytest.approx(obj.grasp.width, abs=5e-5)
    # write_json round trip.
    write_json(tmp_path / "s.json", summary)
    assert json.loads((tmp_path / "s.json").read_text()) == json.loads(text)


def test_scene_summary_without_geometry_or_plane(scenes: dict[str, SyntheticScene]) -> None:
    pipeline = Pipeline(PipelineConfig(device="cpu", compute_geometry=False, tracking=False,
                                       semantic_backend="none"))
    scene = pipeline.process(scenes["separated"].frame)
    scene.support_plane = None
    summary = scene_summary(scene)
    assert summary["support_plane"] is None
    assert [o["track_id"] for o in summary["objects"]] == [-1, -1, -1]
    assert [o["mask_pixels"] for o in summary["objects"]] == [int(o.mask.sum())
                                                            for o in scene.objects]
    for item in summary["objects"]:
        assert not {"centroid", "box_center", "box_size", "grasp", "num_points"} & set(item)
    json.dumps(summary, allow_nan=False)


# ----------------------------------------------------------------------------- visualize


def interior(mask: np.ndarray, px: int = 2) -> np.ndarray:
    """The mask without a ``px`` rim (away from the drawn outline)."""
    return cv2.erode(mask.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)) > 0


def far_from_objects(scene: Scene, px: int = 2) -> np.ndarray:
    """Pixels more than ``px`` from every instance (outlines are 1 px either side)."""
    union = scene.instances.masks.any(axis=0).astype(np.uint8)
    return cv2.dilate(union, np.ones((2 * px + 1, 2 * px + 1), np.uint8)) == 0


def test_overlay_shape_dtype_and_input_untouched(processed: Scene) -> None:
    before = processed.frame.rgb.copy()
    out = overlay_scene(processed)
    assert out.shape == (H, W, 3) and out.dtype == np.uint8
    assert out is not processed.frame.rgb
    np.testing.assert_array_equal(processed.frame.rgb, before)
    assert (out != before).any()


def test_overlay_paints_each_instance_in_its_track_colour(processed: Scene) -> None:
    out = overlay_scene(processed, alpha=1.0, draw_layout=False, draw_labels=False)
    colours = []
    for obj in processed.objects:
        inner = interior(obj.mask)
        assert inner.sum() > 20
        # alpha 1: the instance's pixels are exactly its id's colour.
        expected = color_for_id(obj.track_id)
        assert (out[inner] == expected).all()
        colours.append(expected)
    assert len(set(colours)) == len(colours)  # one colour per instance
    # Pixels away from every instance and its outline keep the frame's colour.
    background = far_from_objects(processed)
    np.testing.assert_array_equal(out[background], processed.frame.rgb[background])


def test_overlay_with_alpha_zero_draws_only_outlines(processed: Scene) -> None:
    out = overlay_scene(processed, alpha=0.0, draw_layout=False, draw_labels=False)
    edges = np.zeros((H, W), bool)
    for obj in processed.objects:
        edge = cv2.morphologyEx(obj.mask.astype(np.uint8), cv2.MORPH_GRADIENT,
                                np.ones((3, 3), np.uint8)) > 0
        assert (out[edge] == color_for_id(obj.track_id)).all(axis=1).mean() > 0.9
        edges |= edge
    np.testing.assert_array_equal(out[~edges], processed.frame.rgb[~edges])


def test_overlay_tints_the_layout_classes(processed: Scene) -> None:
    plain = overlay_scene(processed, alpha=0.0, draw_layout=False, draw_labels=False)
    tinted = overlay_scene(processed, alpha=0.0, draw_layout=True, draw_labels=False)
    table = processed.semantic.mask_of("support_surface") & far_from_objects(processed)
    assert table.sum() > 100
    expected = 0.75 * processed.frame.rgb[table].astype(np.float32) + 0.25 * np.float32(
        [90, 160, 90])
    np.testing.assert_allclose(tinted[table], expected, atol=1.0)
    assert (tinted[table] != plain[table]).any()
    # Without a semantic map there is nothing to tint.
    no_layout = Scene(processed.frame, processed.instances, None, processed.objects,
                      processed.support_plane, processed.timings_ms)
    np.testing.assert_array_equal(overlay_scene(no_layout, alpha=0.0, draw_labels=False), plain)


def test_overlay_labels_are_drawn_near_the_boxes(processed: Scene) -> None:
    labelled = overlay_scene(processed, draw_layout=False, draw_labels=True)
    bare = overlay_scene(processed, draw_layout=False, draw_labels=False)
    changed = (labelled != bare).any(axis=2)
    assert changed.any()
    boxes = np.array([o.box_2d for o in processed.objects])
    # Box outlines and tags start at the boxes' left edges and end at their bottoms.
    rows, cols = np.nonzero(changed)
    assert cols.min() >= boxes[:, 0].min() and rows.max() < boxes[:, 3].max()


def test_overlay_falls_back_to_the_index_without_tracking(processed: Scene) -> None:
    untracked = [o.with_track(-1, 0) for o in processed.objects]
    scene = Scene(processed.frame, processed.instances, None, untracked)
    out = overlay_scene(scene, alpha=1.0, draw_labels=False)
    for obj in untracked:
        assert (out[interior(obj.mask)] == color_for_id(obj.index)).all()
    empty = Scene(processed.frame, InstanceMasks.empty(H, W), None, [])
    np.testing.assert_array_equal(overlay_scene(empty), processed.frame.rgb)


def test_label_image_of_overlapping_instances() -> None:
    masks = np.zeros((3, 6, 8), bool)
    masks[0, 0:4, 0:4] = True
    masks[1, 2:6, 2:6] = True  # overlaps 0, scores higher
    masks[2, 0:2, 6:8] = True
    inst = InstanceMasks.from_masks(masks, scores=[0.5, 0.9, 0.7])
    labels = inst.label_image()
    assert labels.dtype == np.uint16 and labels.shape == (6, 8)
    assert labels[0, 0] == 1 and labels[3, 3] == 2 and labels[0, 7] == 3 and labels[5, 0] == 0
    # The overlap goes to the higher-scoring instance; every pixel of a mask is labelled.
    assert (labels[masks[1]] == 2).all()
    np.testing.assert_array_equal(labels > 0, masks.any(axis=0))
    assert InstanceMasks.empty(6, 8).label_image().max() == 0


def test_palette_and_id_colours() -> None:
    p = palette(10)
    assert p.shape == (10, 3) and p.dtype == np.uint8
    assert len({tuple(c) for c in p}) == 10
    np.testing.assert_array_equal(palette(4), p[:4])  # a prefix does not depend on n
    assert palette(0).shape == (0, 3)
    # Saturated: every colour has a bright and a dark channel.
    assert (p.max(axis=1) >= 200).all() and (p.min(axis=1) <= 80).all()
    colours = [color_for_id(i) for i in range(64)]
    assert len(set(colours)) == 64  # ids in one window of 64 never share a colour
    assert color_for_id(3) == color_for_id(3) == color_for_id(3 + 64)
    assert all(type(v) is int for v in color_for_id(5))


def test_overlay_blends_objects_over_their_layout_tint_pixel_by_pixel(processed: Scene) -> None:
    """Every pixel off the outlines is the float32 blend of its own colour, its layout
    class's tint and its object's colour, as written out pixel by pixel here."""
    alpha = 0.5
    out = overlay_scene(processed, alpha=alpha, draw_labels=False)
    rgb = processed.frame.rgb.astype(np.float32)
    base = rgb.copy()
    tints = {"support_surface": (90, 160, 90), "floor": (90, 90, 160), "wall": (160, 150, 90)}
    names = processed.semantic.class_names
    for name, tint in tints.items():
        if name in names:
            where = processed.semantic.labels == names.index(name)
            base[where] = 0.75 * rgb[where] + 0.25 * np.float32(tint)
    expected = base.copy()
    outline = np.zeros((H, W), bool)
    for i, obj in enumerate(processed.objects):
        mask = processed.instances.label_image() == i + 1
        colour = np.float32(color_for_id(obj.track_id))
        expected[mask] = (1 - alpha) * base[mask] + alpha * colour
        outline |= cv2.morphologyEx(obj.mask.astype(np.uint8), cv2.MORPH_GRADIENT,
                                    np.ones((3, 3), np.uint8)) > 0
    expected = np.clip(expected, 0, 255).astype(np.uint8)
    on_objects = (processed.instances.label_image() > 0) & ~outline
    tinted = np.isin(processed.semantic.labels, [names.index(n) for n in tints if n in names])
    assert on_objects.sum() > 50 and (tinted & ~outline).sum() > 100
    np.testing.assert_array_equal(out[~outline], expected[~outline])
