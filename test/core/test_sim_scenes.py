"""pybullet tabletop scenes and the depth sensor model.

Determinism, ground truth, intrinsics, motion, hard cases, depth noise statistics.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from seg_perception.errors import ConfigError, InvalidFrameError
from seg_perception.frames import RGBDFrame
from seg_perception.results import LAYOUT_CLASSES
from seg_perception.sim.depth_noise import DepthNoiseModel, apply_depth_noise
from seg_perception.sim.scenes import (
    HARD_CASES,
    SceneConfig,
    SimFrame,
    TabletopSim,
    look_at_transform,
)

SMALL = SceneConfig(width=160, height=120, num_objects=(4, 6), hard_case_probability=1.0,
                    shadows=False)
SUPPORT, FLOOR, WALL, OBJECT = (LAYOUT_CLASSES.index(n) for n in
                                ("support_surface", "floor", "wall", "object"))


@pytest.fixture(scope="module")
def frame() -> SimFrame:
    with TabletopSim(SMALL, seed=4) as sim:
        return sim.render()


def _pixel_rays(frame: SimFrame) -> np.ndarray:
    K = frame.intrinsics
    u, v = np.meshgrid(np.arange(K.width), np.arange(K.height))
    return np.stack([(u - K.cx) / K.fx, (v - K.cy) / K.fy, np.ones(u.shape)], axis=-1)


def _quat_matrix(q) -> np.ndarray:
    x, y, z, w = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


# --- determinism ---------------------------------------------------------------------

def _assert_same(a: SimFrame, b: SimFrame) -> None:
    for name in ("rgb", "depth", "depth_gt", "instance_labels", "semantic", "camera_pose"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.object_poses == b.object_poses
    assert a.case_tags == b.case_tags


def test_same_seed_gives_bit_identical_frames(frame: SimFrame) -> None:
    config = dataclasses.replace(SMALL, depth_noise=True, rgb_noise_std=2.0)
    with TabletopSim(config, seed=4) as fresh:
        first = fresh.render()
    with TabletopSim(config, seed=99) as reused:
        reused.reset(4)  # the same seed after another scene: history must not leak in
        second = reused.render()
    _assert_same(first, second)
    # Noise and colour jitter sit on top of the same clean scene.
    np.testing.assert_array_equal(first.depth_gt, frame.depth_gt)
    assert not np.array_equal(first.depth, first.depth_gt)


def test_reconnecting_client_keeps_frames_identical(frame: SimFrame) -> None:
    """Past a texture budget the sim reconnects to pybullet; results must not change."""
    with TabletopSim(SMALL, seed=3) as sim:
        sim._MAX_TEXTURES_PER_CLIENT = 0  # reconnect on every reset
        client = sim._client
        sim.reset(4)
        assert sim._client is not client
        _assert_same(sim.render(), frame)


def test_importing_the_sim_modules_loads_no_heavy_dependencies() -> None:
    import subprocess
    import sys

    code = ("import sys, seg_perception.sim.scenes, seg_perception.sim.dataset, "
            "seg_perception.sim.depth_noise; "
            "print([m for m in ('pybullet', 'cv2', 'pycocotools', 'torch') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_scenes_is_the_public_entry_of_the_tabletop_package() -> None:
    """``seg_perception.sim.scenes`` re-exports the API of ``seg_perception.sim.tabletop``
    (the same objects, not copies), and no tabletop module imports pybullet at import."""
    import pkgutil
    import subprocess
    import sys

    from seg_perception.sim import scenes, tabletop

    assert scenes.__all__ == tabletop.__all__
    for name in scenes.__all__:
        assert getattr(scenes, name) is getattr(tabletop, name), name
    modules = sorted(m.name for m in pkgutil.iter_modules(tabletop.__path__))
    assert {"camera", "config", "ground_truth", "layout", "objects", "world"} <= set(modules)
    code = ("import sys; " + "; ".join(f"import seg_perception.sim.tabletop.{m}" for m in modules)
            + "; print('pybullet' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_different_seeds_give_different_scenes(frame: SimFrame) -> None:
    with TabletopSim(SMALL, seed=5) as sim:
        other = sim.render()
    assert not np.array_equal(other.depth_gt, frame.depth_gt)


# --- frame contents ------------------------------------------------------------------

def test_frame_types_and_shapes(frame: SimFrame) -> None:
    assert frame.rgb.shape == (120, 160, 3) and frame.rgb.dtype == np.uint8
    assert frame.depth.shape == (120, 160) and frame.depth.dtype == np.float32
    assert frame.instance_labels.dtype == np.uint16 and frame.semantic.dtype == np.uint8
    assert frame.intrinsics.size == (160, 120)
    assert frame.camera_pose.shape == (4, 4)
    assert frame.rgb.std() > 10  # a real picture, not a blank
    rgbd = frame.to_rgbd_frame()
    assert isinstance(rgbd, RGBDFrame) and rgbd.intrinsics == frame.intrinsics
    assert rgbd.valid_depth_fraction > 0.99  # the room closes the view: every ray hits


def test_instance_labels_match_object_poses(frame: SimFrame) -> None:
    ids = [p.instance_id for p in frame.object_poses]
    assert ids == list(range(1, len(ids) + 1))
    labelled = set(np.unique(frame.instance_labels)) - {0}
    assert labelled <= set(ids) and len(labelled) >= 3
    for pose in frame.object_poses:
        assert pose.visible_pixels == int((frame.instance_labels == pose.instance_id).sum())
    # Objects are exactly the "object" layout class.
    np.testing.assert_array_equal(frame.instance_labels > 0, frame.semantic == OBJECT)
    gt = frame.gt_instances()
    assert len(gt) == len(labelled)
    np.testing.assert_array_equal(gt.label_image() > 0, frame.instance_labels > 0)


def test_poses_in_camera_frame_follow_the_camera_pose(frame: SimFrame) -> None:
    T = frame.camera_pose
    np.testing.assert_allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3), atol=1e-9)
    for pose in frame.object_poses:
        expected = T[:3, :3] @ np.asarray(pose.position_world) + T[:3, 3]
        np.testing.assert_allclose(pose.position_camera, expected, atol=1e-9)
        R = T[:3, :3] @ _quat_matrix(pose.quaternion_world)
        np.testing.assert_allclose(_quat_matrix(pose.quaternion_camera), R, atol=1e-9)
        np.testing.assert_allclose(pose.matrix_camera[:3, 3], pose.position_camera)


def test_depth_on_box_tops_matches_the_pose() -> None:
    """Depth of every visible box top pixel equals the analytic ray-plane hit (sub-mm)."""
    config = dataclasses.replace(SMALL, kinds=("box",), hard_cases=(), num_objects=(4, 4))
    with TabletopSim(config, seed=2) as sim:
        frame = sim.render()
    rays = _pixel_rays(frame)
    checked = 0
    for pose in frame.object_poses:
        R = _quat_matrix(pose.quaternion_camera)
        top_axis = int(np.argmax(np.abs((frame.camera_pose[:3, :3].T @ R)[2])))  # most vertical
        normal = R[:, top_axis] * np.sign((frame.camera_pose[:3, :3].T @ R)[2, top_axis])
        top = np.asarray(pose.box_center_camera) + normal * pose.extents[top_axis] / 2
        t = (normal @ top) / (rays @ normal)  # ray parameter = depth (rays have z = 1)
        hit = rays * t[..., None] - top
        # Pixels whose ray hits the top face inside its rectangle and show this object.
        others = [a for a in range(3) if a != top_axis]
        inside = np.all([np.abs(hit @ R[:, a]) < pose.extents[a] / 2 - 2e-3 for a in others],
                        axis=0)
        mask = inside & (frame.instance_labels == pose.instance_id)
        if mask.sum() < 5:
            continue
        err = np.abs(frame.depth_gt[mask] - t[mask])
        assert err.max() < 1e-4, f"{pose.name}: depth off by {err.max() * 1000:.3f} mm"
        checked += 1
    assert checked >= 2


def test_table_top_pixels_lie_on_the_table_plane(frame: SimFrame) -> None:
    rays = _pixel_rays(frame)
    points = rays * frame.depth_gt[..., None]
    top = frame.semantic == SUPPORT
    assert top.sum() > 1000
    dist = frame.table_plane.signed_distance(points[top].astype(np.float32))
    assert np.percentile(np.abs(dist), 99) < 2e-3
    # The plane normal points to the camera side; objects stand above the table.
    assert frame.table_plane.offset > 0
    obj = frame.table_plane.signed_distance(points[frame.semantic == OBJECT].astype(np.float32))
    assert np.median(obj) > 0.005


def test_floor_and_wall_are_labelled() -> None:
    config = dataclasses.replace(SMALL, camera_elevation_deg=(30, 30), camera_distance_m=(1.1, 1.1),
                                 wall_distance_m=(0.2, 0.2))
    with TabletopSim(config, seed=1) as sim:
        frame = sim.render()
    points = _pixel_rays(frame) * frame.depth_gt[..., None]
    wall = frame.semantic == WALL
    assert wall.sum() > 200
    # The wall is vertical: its points are off the table plane in both directions.
    wall_d = frame.table_plane.signed_distance(points[wall].astype(np.float32))
    assert wall_d.max() - wall_d.min() > 0.2
    floor = frame.semantic == FLOOR
    if floor.any():  # seen past the table edge at this pose
        assert np.all(frame.table_plane.signed_distance(points[floor].astype(np.float32)) < -0.6)


def test_intrinsics_reproduce_the_rendered_silhouette() -> None:
    """A lone box's mask equals the analytic projection of its corners with ``intrinsics``."""
    import cv2

    config = dataclasses.replace(SMALL, width=320, height=240, kinds=("box",), hard_cases=(),
                                 num_objects=(1, 1), camera_distance_m=(0.7, 0.7))
    with TabletopSim(config, seed=0) as sim:
        frame = sim.render()
    (pose,) = frame.object_poses
    assert "truncated" not in pose.tags and pose.visible_pixels > 300
    K = frame.intrinsics
    R = _quat_matrix(pose.quaternion_camera)
    unit = np.array([[x, y, z] for x in (-.5, .5) for y in (-.5, .5) for z in (-.5, .5)])
    corners = (unit * pose.extents) @ R.T + pose.box_center_camera
    uv = corners[:, :2] / corners[:, 2:] * [K.fx, K.fy] + [K.cx, K.cy]
    s = 8  # supersample: pixel i covers [i - 0.5, i + 0.5]
    big = np.zeros((K.height * s, K.width * s), np.uint8)
    cv2.fillConvexPoly(big, cv2.convexHull(np.round(uv * s + (s - 1) / 2).astype(np.int32)), 1)
    analytic = big.reshape(K.height, s, K.width, s).mean(axis=(1, 3)) > 0.5
    mask = frame.instance_labels == pose.instance_id
    iou = (mask & analytic).sum() / (mask | analytic).sum()
    assert iou > 0.97
    v, u = np.nonzero(mask)
    va, ua = np.nonzero(analytic)
    assert abs(u.mean() - ua.mean()) < 0.15 and abs(v.mean() - va.mean()) < 0.15
    # The projected box centre lands inside the mask.
    c = np.asarray(pose.box_center_camera)
    uc, vc = K.fx * c[0] / c[2] + K.cx, K.fy * c[1] / c[2] + K.cy
    assert mask[int(round(vc)), int(round(uc))]


def test_unoccluded_object_centres_project_into_their_masks(frame: SimFrame) -> None:
    K = frame.intrinsics
    checked = 0
    for pose in frame.object_poses:
        if pose.occlusion > 0.05 or "truncated" in pose.tags or pose.visible_pixels < 20:
            continue
        c = np.asarray(pose.box_center_camera)
        u, v = int(round(K.fx * c[0] / c[2] + K.cx)), int(round(K.fy * c[1] / c[2] + K.cy))
        window = frame.instance_labels[max(v - 1, 0):v + 2, max(u - 1, 0):u + 2]
        assert (window == pose.instance_id).any(), pose.name
        checked += 1
    assert checked >= 2


# --- motion ----------------------------------------------------------------------------

def test_move_object_is_exact_and_keeps_ids() -> None:
    config = dataclasses.replace(SMALL, hard_cases=(), num_objects=(3, 3), clutter="separated",
                                 kinds=("box", "cylinder"))
    with TabletopSim(config, seed=3) as sim:
        before = sim.render()
        sim.move_object(2, dx=0.03, dy=-0.02, dyaw=0.4)
        after = sim.render()
        with pytest.raises(KeyError, match="instance id 42"):
            sim.move_object(42, dx=0.1)
    a, b = before.object_pose(2), after.object_pose(2)
    np.testing.assert_allclose(np.subtract(b.position_world, a.position_world), [0.03, -0.02, 0.0],
                               atol=1e-9)
    yaw_a = math.atan2(*_quat_matrix(a.quaternion_world)[[1, 0], 0])
    yaw_b = math.atan2(*_quat_matrix(b.quaternion_world)[[1, 0], 0])
    assert math.isclose(math.remainder(yaw_b - yaw_a, 2 * math.pi), 0.4, abs_tol=1e-6)
    for other in (1, 3):
        assert before.object_pose(other).position_world == after.object_pose(other).position_world
    assert not np.array_equal(before.instance_labels == 2, after.instance_labels == 2)
    assert after.frame_index == 1 and after.stamp_ns > before.stamp_ns


def test_step_objects_moves_some_objects_and_rest_stay() -> None:
    config = dataclasses.replace(SMALL, hard_cases=(), num_objects=(5, 5), clutter="separated",
                                 kinds=("box", "cylinder"))
    with TabletopSim(config, seed=8) as sim:
        before = sim.render()
        moved = sim.step_objects(fraction=0.5, max_translation_m=0.02, settle_steps=30)
        after = sim.render()
        assert set(sim.instance_ids) == {p.instance_id for p in after.object_poses}
    assert moved
    for pose in before.object_poses:
        shift = np.subtract(after.object_pose(pose.instance_id).position_world, pose.position_world)
        if pose.instance_id in moved:
            assert np.linalg.norm(shift[:2]) < 0.02 * math.sqrt(2) + 0.01
        else:
            assert np.linalg.norm(shift) < 2e-3  # resting objects stay put


def test_camera_pose_can_be_set() -> None:
    with TabletopSim(SMALL, seed=4) as sim:
        T = look_at_transform((0.0, -0.6, 0.6), (0.0, 0.0, 0.0))
        sim.set_camera_pose(T)
        frame = sim.render()
        with pytest.raises(ConfigError, match="rigid"):
            sim.set_camera_pose(np.ones((4, 4)))
    np.testing.assert_array_equal(frame.camera_pose, T)
    # The look-at target (the table centre) is at the principal point, on the table.
    K = frame.intrinsics
    centre = frame.semantic[int(round(K.cy)), int(round(K.cx))]
    assert centre in (SUPPORT, OBJECT)
    assert math.isclose(float(frame.depth_gt[60, 80]), 0.6 * math.sqrt(2), rel_tol=0.05) or \
        centre == OBJECT


# --- hard cases ------------------------------------------------------------------------

@pytest.mark.parametrize("case", HARD_CASES)
def test_hard_cases_are_built_and_verified(case: str) -> None:
    config = dataclasses.replace(SMALL, hard_cases=(case,), num_objects=(3, 4))
    with TabletopSim(config, seed=0) as sim:
        hits = 0
        for seed in range(3):
            sim.reset(seed)
            frame = sim.render()
            tagged = [p for p in frame.object_poses if case in p.tags]
            if case in frame.case_tags:
                hits += 1
                assert tagged
            for pose in tagged:  # the tag is backed by the ground truth
                if case == "thin_flat":
                    assert min(pose.extents) < 0.03
                elif case == "occluded":
                    assert pose.occlusion >= 0.15 and pose.visible_pixels > 0
                elif case == "stacked":
                    assert len(tagged) >= 2
                    heights = sorted(p.box_center_world[2] for p in tagged)
                    assert heights[-1] - heights[0] > 0.01
    assert hits >= 2, f"{case} built in only {hits} of 3 scenes"


def test_no_hard_cases_when_disabled() -> None:
    config = dataclasses.replace(SMALL, kinds=("box", "cylinder"), hard_cases=(),
                                 clutter="separated", num_objects=(3, 3))
    with TabletopSim(config, seed=6) as sim:
        frame = sim.render()
    assert not {"touching", "stacked", "thin_flat"} & set(frame.case_tags)


def test_dense_clutter_settles_on_the_table() -> None:
    config = dataclasses.replace(SMALL, clutter="dense", num_objects=(6, 6), hard_cases=())
    with TabletopSim(config, seed=1) as sim:
        frame = sim.render()
    assert 1 <= len(frame.object_poses) <= 6
    for pose in frame.object_poses:  # fallen objects were removed; the rest rest on something
        assert pose.box_center_world[2] > 0


# --- configuration ---------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    ({"kinds": ("spaceship",)}, "unknown kinds"),
    ({"clutter": "chaos"}, "clutter"),
    ({"hard_cases": ("floating",)}, "hard_cases"),
    ({"num_objects": (5, 2)}, "low is above high"),
    ({"hard_case_probability": 1.5}, r"\[0, 1\]"),
    ({"width": 4}, "too small"),
])
def test_config_errors_name_the_field(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        SceneConfig(**kwargs)


def test_closed_sim_refuses_to_render() -> None:
    sim = TabletopSim(dataclasses.replace(SMALL, num_objects=(1, 1)), seed=0)
    sim.close()
    sim.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        sim.render()


def test_intrinsics_follow_the_field_of_view() -> None:
    K = SceneConfig(width=640, height=480).intrinsics
    assert math.isclose(K.fx, 525.0, rel_tol=1e-3) and K.fx == K.fy
    assert (K.cx, K.cy) == (319.5, 239.5)


# --- depth noise -----------------------------------------------------------------------

def _plane(z: float, shape=(240, 320)) -> np.ndarray:
    return np.full(shape, z, np.float32)


def _quiet(**kw) -> DepthNoiseModel:
    """Only axial noise and quantisation."""
    base = dict(edge_dropout=0.0, shadow_side=None, max_incidence_deg=90.0, blob_fraction=0.0,
                pixel_dropout=0.0)
    return DepthNoiseModel(**{**base, **kw})


def test_axial_noise_grows_with_depth_squared() -> None:
    model = _quiet(correlated_fraction=0.0)
    rng = np.random.default_rng(0)
    std = {}
    for z in (1.0, 2.0):
        noisy = apply_depth_noise(_plane(z), rng, model=model)
        assert (noisy > 0).all()
        assert abs(float(noisy.mean()) - z) < 0.1 * model.axial_sigma_m(z)  # unbiased
        std[z] = float(noisy.std())
        assert std[z] == pytest.approx(float(model.axial_sigma_m(z)), rel=0.2)
    assert std[2.0] / std[1.0] == pytest.approx(4.0, rel=0.2)
    assert 1e-3 < std[1.0] < 3e-3  # Kinect class: about 2 mm at 1 m


def test_depth_is_quantised_to_disparity_steps() -> None:
    model = _quiet()
    noisy = apply_depth_noise(_plane(1.3), np.random.default_rng(1), model=model)
    disparity = model.focal_px * model.baseline_m / noisy.astype(np.float64)
    steps = disparity / model.subpixel_step_px
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)
    assert len(np.unique(noisy)) > 3  # noise spans several steps


def test_noise_in_metres_does_not_depend_on_image_resolution() -> None:
    model = _quiet(correlated_fraction=0.0)
    full = apply_depth_noise(_plane(1.5), np.random.default_rng(2), model=model)
    quarter = apply_depth_noise(_plane(1.5, (60, 80)), np.random.default_rng(2), model=model,
                                image_focal_px=model.focal_px / 4)
    assert float(quarter.std()) == pytest.approx(float(full.std()), rel=0.25)


def test_projector_shadow_and_edges_drop_beside_foreground() -> None:
    depth = _plane(2.0, (60, 200))
    depth[:, 100:140] = 1.0
    model = _quiet(shadow_side="left", disparity_noise_px=0.0, subpixel_step_px=0.0)
    out = apply_depth_noise(depth, np.random.default_rng(0), model=model)
    missing = np.flatnonzero(out[30] == 0)
    width = model.focal_px * model.baseline_m * (1 / 1.0 - 1 / 2.0)  # disparity jump, pixels
    assert missing.max() == 99 and abs(len(missing) - width) <= 1.5
    assert (out[:, 140:] > 0).all()  # no shadow on the other side
    right = apply_depth_noise(depth, np.random.default_rng(0),
                              model=dataclasses.replace(model, shadow_side="right"))
    assert np.flatnonzero(right[30] == 0).min() == 140
    edges = apply_depth_noise(depth, np.random.default_rng(0),
                              model=_quiet(edge_dropout=1.0, disparity_noise_px=0.0))
    assert (edges[:, [99, 100, 139, 140]] == 0).all() and (edges[:, 120] > 0).all()


def test_dropout_range_and_grazing_angles() -> None:
    rng = np.random.default_rng(3)
    model = DepthNoiseModel(pixel_dropout=0.0, shadow_side=None)
    frontal = apply_depth_noise(_plane(1.0), rng, model=model)
    missing = frontal == 0
    assert missing.mean() == pytest.approx(model.blob_fraction, abs=0.001)
    import cv2
    n_blobs = cv2.connectedComponents(missing.astype(np.uint8))[0] - 1
    assert 1 <= n_blobs <= missing.sum() / 10  # missing data comes in blobs, not speckle
    assert (apply_depth_noise(_plane(5.0), rng, model=model) == 0).all()  # beyond range
    assert (apply_depth_noise(_plane(0.3), rng, model=model) == 0).all()  # too close
    # A floor seen nearly edge-on (85 deg incidence) loses most of its depth.
    h, w = 120, 160
    f = model.focal_px / 4
    v = (np.arange(h) - (h - 1) / 2) / f
    ray_y = np.repeat(v[:, None], w, axis=1)
    slope = math.tan(math.radians(85))
    grazing = (1.0 / (1.0 + ray_y * slope)).astype(np.float32)  # plane z = 1 - y * tan(85)
    grazing[(grazing <= 0) | (grazing > 3)] = 0
    out = apply_depth_noise(grazing, rng, model=model, image_focal_px=f)
    valid = grazing > 0
    assert (out[valid] == 0).mean() > 0.8
    zeros = np.zeros((10, 10), np.float32)
    assert (apply_depth_noise(zeros, rng) == 0).all()


def test_depth_noise_is_deterministic_and_validated() -> None:
    depth = _plane(1.2, (48, 64))
    depth[10:20, 10:30] = 0.8
    a = apply_depth_noise(depth, np.random.default_rng(7), image_focal_px=150.0)
    b = apply_depth_noise(depth, np.random.default_rng(7), image_focal_px=150.0)
    c = apply_depth_noise(depth, np.random.default_rng(8), image_focal_px=150.0)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.dtype == np.float32 and a.shape == depth.shape
    with pytest.raises(InvalidFrameError, match="metres"):
        apply_depth_noise(depth.astype(np.uint16), np.random.default_rng(0))
    with pytest.raises(InvalidFrameError, match="HxW"):
        apply_depth_noise(depth[None], np.random.default_rng(0))
    with pytest.raises(ConfigError, match="shadow_side"):
        DepthNoiseModel(shadow_side="up")
    with pytest.raises(ConfigError, match="range"):
        DepthNoiseModel(min_range_m=3.0, max_range_m=2.0)
    assert DepthNoiseModel.realsense_d435().baseline_m == 0.05
    ideal = apply_depth_noise(depth, np.random.default_rng(0), model=DepthNoiseModel.ideal())
    np.testing.assert_array_equal(ideal, depth)
