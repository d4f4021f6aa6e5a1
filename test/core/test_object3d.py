"""seg_perception.geometry.object3d (and boxes): per-object 3D on exact synthetic scenes.

The analytic scenes (320x240, camera 0.78 m from the table, 45 deg down) give
every object's true pose and size, so the bounds below are tight and say why.
"""
from __future__ import annotations

import numpy as np
import pytest

from seg_perception.errors import ConfigError
from seg_perception.geometry.boxes import OrientedBox, min_area_rectangle, oriented_box, principal_axes
from seg_perception.geometry.filters import erode_mask
from seg_perception.geometry.object3d import (Object3DConfig, compute_object_geometry,
                                              compute_objects, compute_objects_with_status)
from seg_perception.geometry.projection import depth_to_xyz_image
from seg_perception.results import InstanceMasks, Plane
from seg_perception.sim.synthetic import Box, Cylinder, SyntheticScene, preset_objects, render_scene

W, H = 320, 240
PRESETS = ("separated", "touching", "flat", "textured")


@pytest.fixture(scope="module")
def scenes() -> dict[str, SyntheticScene]:
    return {name: render_scene(preset_objects(name), W, H) for name in PRESETS + ("stacked",)}


def masks_of(scene: SyntheticScene) -> InstanceMasks:
    return InstanceMasks.from_label_image(scene.instance_labels)


def true_box(scene: SyntheticScene, i: int) -> OrientedBox:
    """Object ``i``'s solid box in the camera frame."""
    obj = scene.objects[i]
    yaw = obj.yaw if isinstance(obj, Box) else 0.0
    size = obj.size if isinstance(obj, Box) else (2 * obj.radius, 2 * obj.radius, obj.height)
    c, s = np.cos(yaw), np.sin(yaw)
    rz = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    return OrientedBox(scene.centers_cam[i], scene.camera.rotation.T @ rz, np.asarray(size, float))


def horizontal_size(obj: Box | Cylinder) -> np.ndarray:
    if isinstance(obj, Box):
        return np.sort(obj.size[:2])[::-1]
    return np.array([2 * obj.radius, 2 * obj.radius])


@pytest.mark.parametrize("name", PRESETS + ("stacked",))
def test_centroid_matches_visible_surface(scenes: dict[str, SyntheticScene], name: str) -> None:
    scene = scenes[name]
    geoms = compute_objects(scene.frame, masks_of(scene), scene.table_plane)
    truth = scene.visible_centroids()
    for g, c in zip(geoms, truth):
        assert g is not None
        # Erosion of flying-pixel rims and voxel means (area rather than pixel
        # weighting) move the cloud's mean by ~3 mm at most here.
        assert np.linalg.norm(g.centroid - c) < 0.005
        np.testing.assert_allclose(g.centroid, g.points.astype(np.float64).mean(axis=0), atol=1e-9)


@pytest.mark.parametrize("name", PRESETS)
def test_gravity_aligned_box_recovers_pose_and_size(scenes: dict[str, SyntheticScene],
                                                    name: str) -> None:
    scene = scenes[name]
    geoms = compute_objects(scene.frame, masks_of(scene), scene.table_plane)
    up = np.asarray(scene.table_plane.normal)
    for i, (g, obj) in enumerate(zip(geoms, scene.objects)):
        assert g is not None
        R = g.box_rotation
        np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-9)
        assert np.isclose(np.linalg.det(R), 1.0)
        np.testing.assert_allclose(R[:, 2], up, atol=1e-9)
        np.testing.assert_allclose(g.top_normal, up, atol=1e-9)
        # Extended down to the table, the height is exact (the top face is seen).
        height = obj.size[2] if isinstance(obj, Box) else obj.height
        assert abs(g.box_extent[2] - height) < 0.001
        # Horizontal: the top face projects onto the whole footprint, but its far
        # edge is seen at ~45 deg, where one 320x240 pixel spans ~4 mm of it, and
        # voxel means pull the last row in by up to half a voxel (2 mm). The box
        # is never larger than the object (no flying pixels survive).
        err = g.box_extent[:2] - horizontal_size(obj)
        assert np.all(err > -0.007) and np.all(err < 0.001), (name, i, err)
        if name == "touching" and isinstance(obj, Cylinder):
            continue  # its back is hidden by the box in front of it: centre biased
        # The box centre is the solid's centre (the cloud only sees its surface).
        assert np.linalg.norm(g.box_center - scene.centers_cam[i]) < 0.004, (name, i)
        if isinstance(obj, Box) and obj.size[0] != obj.size[1]:
            major_world = scene.camera.rotation @ R[:, 0]
            yaw = np.arctan2(major_world[1], major_world[0])
            true_yaw = obj.yaw if obj.size[0] > obj.size[1] else obj.yaw + np.pi / 2
            diff = (np.degrees(yaw - true_yaw) + 90) % 180 - 90  # axis, so modulo 180
            assert abs(diff) < 2.0, (name, i, diff)


def test_cylinder_diameter(scenes: dict[str, SyntheticScene]) -> None:
    for name in ("separated", "flat"):
        scene = scenes[name]
        geoms = compute_objects(scene.frame, masks_of(scene), scene.table_plane)
        for g, obj in zip(geoms, scene.objects):
            if isinstance(obj, Cylinder):
                assert g is not None
                assert np.all(np.abs(g.box_extent[:2] - 2 * obj.radius) < 0.006)


def test_box_without_extension_and_stacked_objects(scenes: dict[str, SyntheticScene]) -> None:
    scene = scenes["stacked"]
    lower, upper = compute_objects(scene.frame, masks_of(scene), scene.table_plane,
                                   Object3DConfig(extend_to_support=False))
    assert lower is not None and upper is not None
    # The sides are seen down to their base, minus the eroded bottom rim.
    assert abs(lower.box_extent[2] - 0.06) < 0.004
    assert abs(upper.box_extent[2] - 0.05) < 0.004
    lower_ext, upper_ext = compute_objects(scene.frame, masks_of(scene), scene.table_plane)
    assert lower_ext is not None and upper_ext is not None
    # The lower box reaches the table; the upper one stops on the lower one's top
    # (a box down to the table would swallow the lower object for MoveIt).
    assert abs(lower_ext.box_extent[2] - 0.06) < 0.001
    assert abs(upper_ext.box_extent[2] - 0.05) < 0.001
    bottom = upper_ext.box_center - upper_ext.box_rotation[:, 2] * upper_ext.box_extent[2] / 2
    assert abs(float(bottom @ scene.table_plane.normal) + scene.table_plane.offset - 0.06) < 0.001


def test_without_support_plane_pca_box_faces_camera(scenes: dict[str, SyntheticScene]) -> None:
    scene = scenes["flat"]
    book, _ = compute_objects(scene.frame, masks_of(scene), None)
    assert book is not None
    R = book.box_rotation
    assert np.isclose(np.linalg.det(R), 1.0)
    np.testing.assert_allclose(R, book.principal_axes, atol=1e-12)
    assert book.top_normal @ book.centroid < 0  # points back towards the camera
    # A thin book: the minor PCA axis is close to the table normal.
    assert abs(book.top_normal @ np.asarray(scene.table_plane.normal)) > 0.97
    assert np.sort(book.box_extent)[0] < 0.03


def test_flying_pixels_at_mask_outline_are_dropped(scenes: dict[str, SyntheticScene]) -> None:
    scene = scenes["separated"]
    mask = scene.instance_labels == 1
    depth = scene.frame.depth.copy()
    rim = mask & ~erode_mask(mask, 1)
    depth[rim] += 0.06  # mixed pixels half way to the table behind
    frame = type(scene.frame)(rgb=scene.frame.rgb, depth=depth, intrinsics=scene.frame.intrinsics)
    solid = true_box(scene, 0)
    raw = compute_object_geometry(frame, mask, scene.table_plane,
                                  Object3DConfig(erosion_px=0, outlier_neighbors=0))
    assert raw is not None
    assert (~solid.contains(raw.points, margin=0.01)).sum() > 20
    for cfg in (Object3DConfig(), Object3DConfig(rim_tolerance=0.0)):
        clean = compute_object_geometry(frame, mask, scene.table_plane, cfg)
        assert clean is not None
        assert solid.contains(clean.points, margin=0.002).all()


def test_compute_objects_equals_single_object_path() -> None:
    # An object cut by the image border exercises the crop-and-erode logic.
    scene = render_scene([Box((-0.42, 0.05), (0.1, 0.08, 0.1), yaw=0.2),
                          Cylinder((0.1, 0.05), 0.03, 0.1)], W, H)
    masks = masks_of(scene)
    assert masks.masks[0][:, 0].any()  # touches the left border
    cfg = Object3DConfig(outlier_backend="scipy")
    many = compute_objects(scene.frame, masks.masks, scene.table_plane, cfg)
    for m, g in zip(masks.masks, many):
        one = compute_object_geometry(scene.frame, m, scene.table_plane, cfg)
        assert g is not None and one is not None
        np.testing.assert_array_equal(g.points, one.points)
        np.testing.assert_allclose(g.box_extent, one.box_extent, atol=1e-12)


def test_too_few_points_and_empty_inputs(scenes: dict[str, SyntheticScene]) -> None:
    scene = scenes["separated"]
    tiny = np.zeros((H, W), bool)
    ys, xs = np.nonzero(scene.instance_labels == 1)
    tiny[ys[:4], xs[:4]] = True
    assert compute_object_geometry(scene.frame, tiny, scene.table_plane) is None
    empty = np.zeros((H, W), bool)
    geoms = compute_objects(scene.frame, np.stack([tiny, empty, scene.instance_labels == 2]),
                            scene.table_plane)
    assert geoms[0] is None and geoms[1] is None and geoms[2] is not None
    assert compute_objects(scene.frame, InstanceMasks.empty(H, W)) == []
    # A mask whose pixels have no depth measurement.
    mask = scene.instance_labels == 1
    holes = type(scene.frame)(rgb=scene.frame.rgb, depth=np.where(mask, 0, scene.frame.depth),
                              intrinsics=scene.frame.intrinsics)
    assert compute_object_geometry(holes, mask, scene.table_plane) is None
    # min_points counts the final cloud.
    big = compute_object_geometry(scene.frame, scene.instance_labels == 2, scene.table_plane,
                                  Object3DConfig(min_points=100000))
    assert big is None
    with pytest.raises(ValueError, match="mask shape"):
        compute_object_geometry(scene.frame, np.zeros((10, 10), bool))
    with pytest.raises(ValueError, match="masks must be"):
        compute_objects(scene.frame, np.zeros((1, 10, 10), bool))


def test_colours_depth_range_and_plane_sign(scenes: dict[str, SyntheticScene]) -> None:
    scene = scenes["flat"]
    masks = masks_of(scene)
    book, can = compute_objects(scene.frame, masks, scene.table_plane)
    assert book is not None and can is not None
    assert book.colors is not None and book.colors.dtype == np.uint8
    assert book.colors.shape == (book.num_points, 3)
    mean = book.colors.astype(float).mean(axis=0)
    assert mean[2] > mean[1] > mean[0]  # the book is blue (30, 90, 160), shaded
    plain = compute_objects(scene.frame, masks, scene.table_plane,
                            Object3DConfig(with_colors=False))[0]
    assert plain is not None and plain.colors is None
    np.testing.assert_array_equal(plain.points, book.points)
    # A plane given with the opposite sign convention gives the same result.
    n, d = scene.table_plane.normal, scene.table_plane.offset
    flipped = Plane(tuple(-c for c in n), -d)
    again = compute_objects(scene.frame, masks, flipped)[0]
    assert again is not None
    np.testing.assert_allclose(again.box_extent, book.box_extent, atol=1e-12)
    np.testing.assert_allclose(again.top_normal, book.top_normal, atol=1e-12)
    # A depth window that excludes the objects leaves nothing.
    assert compute_objects(scene.frame, masks, scene.table_plane,
                           Object3DConfig(min_depth=2.0, max_depth=3.0)) == [None, None]


def test_config_validation() -> None:
    with pytest.raises(ConfigError, match="erosion_px"):
        Object3DConfig(erosion_px=-1)
    with pytest.raises(ConfigError, match="min_depth"):
        Object3DConfig(min_depth=2.0, max_depth=1.0)
    with pytest.raises(ConfigError, match="voxel_size"):
        Object3DConfig(voxel_size=-0.1)
    with pytest.raises(ConfigError, match="outlier_backend"):
        Object3DConfig(outlier_backend="pcl")
    with pytest.raises(ConfigError, match="outlier_floor_ratio"):
        Object3DConfig(outlier_floor_ratio=-1.0)
    with pytest.raises(ConfigError, match="min_points"):
        Object3DConfig(min_points=0)
    with pytest.raises(ConfigError, match="max_pixel_step"):
        Object3DConfig(max_pixel_step=0)


@pytest.mark.parametrize("name", ("separated", "stacked"))
def test_sampled_pixels_give_the_same_objects_at_high_resolution(name: str) -> None:
    # 640x480 at ~0.8 m: pixels ~1.5 mm apart, so every 2nd one still fills most 4 mm
    # voxels; centroids and boxes hardly move.
    scene = render_scene(preset_objects(name), 640, 480)
    masks = masks_of(scene)
    every = compute_objects(scene.frame, masks, scene.table_plane,
                            Object3DConfig(max_pixel_step=1))
    sampled = compute_objects(scene.frame, masks, scene.table_plane)  # default: up to 4
    truth = scene.visible_centroids()
    for a, b, c in zip(every, sampled, truth, strict=True):
        # No less accurate (here more: ~1-5 mm against ~4-9 mm with every pixel).
        assert np.linalg.norm(b.centroid - c) < min(0.006, np.linalg.norm(a.centroid - c) + 0.001)
        np.testing.assert_allclose(a.box_extent, b.box_extent, atol=0.003)
        assert 0.5 < b.num_points / a.num_points <= 1.0  # the same voxels, mostly filled
    # 320x240 (pixels ~3 mm apart): every pixel is kept.
    small = render_scene(preset_objects(name), 320, 240)
    small_masks = masks_of(small)
    for a, b in zip(compute_objects(small.frame, small_masks, small.table_plane,
                                    Object3DConfig(max_pixel_step=1)),
                    compute_objects(small.frame, small_masks, small.table_plane), strict=True):
        np.testing.assert_array_equal(a.points, b.points)


def test_pixel_sampling_does_not_depend_on_the_crop() -> None:
    # The sampled pixels are every 2nd row/column of the frame, wherever the mask's
    # box starts: a mask grown by one pixel on the top-left keeps the same samples there.
    scene = render_scene(preset_objects("separated"), 640, 480)
    mask = scene.instance_labels == 1
    grown = mask.copy()
    ys, xs = np.nonzero(mask)
    top, left = ys.min(), xs.min()
    grown[top - 1, xs[ys == top]] = True
    grown[ys[xs == left], left - 1] = True
    cfg = Object3DConfig(max_pixel_step=2, outlier_neighbors=0, voxel_size=0.001,
                         erosion_px=0)
    a = compute_object_geometry(scene.frame, mask, scene.table_plane, cfg)
    b = compute_object_geometry(scene.frame, grown, scene.table_plane, cfg)
    pa = {tuple(p) for p in np.round(a.points, 5)}
    pb = {tuple(p) for p in np.round(b.points, 5)}
    assert len(pa & pb) >= 0.95 * len(pa)


def test_oriented_box_and_principal_axes_on_point_sets() -> None:
    rng = np.random.default_rng(0)
    yaw = 0.7
    c, s = np.cos(yaw), np.sin(yaw)
    rz = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    local = rng.uniform(-0.5, 0.5, (4000, 3)) * [0.12, 0.05, 0.08]
    pts = local @ rz.T + [0.2, -0.1, 0.9]
    box = oriented_box(pts, up=(0, 0, 2.0))  # up need not be unit
    np.testing.assert_allclose(box.extent, [0.12, 0.05, 0.08], atol=0.002)
    np.testing.assert_allclose(box.center, [0.2, -0.1, 0.9], atol=0.002)
    assert abs(abs(box.rotation[:, 0] @ rz[:, 0]) - 1) < 1e-3
    assert np.isclose(np.linalg.det(box.rotation), 1.0)
    assert box.contains(pts, margin=1e-9).all()
    assert np.isclose(box.volume, np.prod(box.extent))
    assert box.corners().shape == (8, 3)
    # Extended down to a plane 5 cm below the points.
    plane = Plane((0.0, 0.0, 1.0), -(0.9 - 0.04 - 0.05))
    ext = oriented_box(pts, support_plane=plane)
    assert abs(ext.extent[2] - 0.13) < 0.002
    # PCA box and axes: sorted major to minor, right-handed, deterministic sign.
    pca = oriented_box(pts)
    np.testing.assert_allclose(np.sort(pca.extent)[::-1], [0.12, 0.08, 0.05], atol=0.006)
    axes = principal_axes(pts)
    np.testing.assert_allclose(axes, pca.rotation)
    assert np.isclose(np.linalg.det(axes), 1.0)
    np.testing.assert_array_equal(principal_axes(pts[:2]), np.eye(3))
    with pytest.raises(ValueError, match="float\\[M, 3\\]"):
        oriented_box(np.zeros((0, 3)))


def test_min_area_rectangle_square_and_degenerate() -> None:
    sq = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)
    rot = np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])
    center, size, angle = min_area_rectangle(sq @ rot.T + 5)
    np.testing.assert_allclose(size, [1, 1], atol=1e-6)
    np.testing.assert_allclose(center, rot @ [0.5, 0.5] + 5, atol=1e-6)
    assert abs(angle - 0.3) < 1e-6
    _, size, _ = min_area_rectangle(np.array([[0, 0], [1, 1], [2, 2]], float))  # a segment
    assert np.isclose(max(size), np.sqrt(8), atol=1e-6) and min(size) < 1e-6


def test_object_with_hidden_bottom_extends_to_the_table_only_when_asked(
        scenes: dict[str, SyntheticScene]) -> None:
    scene = scenes["separated"]
    plane = scene.table_plane
    masks = masks_of(scene)
    # Hide each object's lower 4 cm, as a nearer object would: nothing is
    # segmented underneath, so only extend_unsupported decides.
    xyz = depth_to_xyz_image(scene.frame.depth, scene.frame.intrinsics)
    height = xyz @ plane.normal + plane.offset
    hidden = InstanceMasks(masks=masks.masks & (height > 0.04)[None], boxes=masks.boxes,
                           scores=masks.scores, class_ids=masks.class_ids,
                           class_names=masks.class_names)
    kept = compute_objects(scene.frame, hidden, plane, Object3DConfig(extend_unsupported=False))
    grown = compute_objects(scene.frame, hidden, plane)
    for k, g, obj in zip(kept, grown, scene.objects):
        assert k is not None and g is not None
        full = obj.size[2] if isinstance(obj, Box) else obj.height
        assert k.box_extent[2] < full - 0.03
        assert abs(g.box_extent[2] - full) < 0.004


# ----------------------------------------------------------------------------- status

def _depths(scene: SyntheticScene, label: int) -> np.ndarray:
    z = scene.frame.depth[scene.instance_labels == label]
    return z[z > 0]


def test_status_says_why_an_object_has_no_geometry(scenes: dict[str, SyntheticScene]) -> None:
    scene = scenes["separated"]
    masks = masks_of(scene)
    geoms, status = compute_objects_with_status(scene.frame, masks, scene.table_plane)
    assert status == ["ok", "ok", "ok"] and all(g is not None for g in geoms)
    # The same geometry as compute_objects: the status is extra, not a different path.
    for g, plain in zip(geoms, compute_objects(scene.frame, masks, scene.table_plane)):
        np.testing.assert_array_equal(g.points, plain.points)

    tiny = np.zeros((H, W), bool)
    ys, xs = np.nonzero(scene.instance_labels == 1)
    tiny[ys[:4], xs[:4]] = True
    empty = np.zeros((H, W), bool)
    mask = scene.instance_labels == 1
    holes = type(scene.frame)(rgb=scene.frame.rgb, depth=np.where(mask, 0, scene.frame.depth),
                              intrinsics=scene.frame.intrinsics)
    geoms, status = compute_objects_with_status(
        holes, np.stack([tiny, empty, mask, scene.instance_labels == 2]), scene.table_plane)
    assert status == ["no_depth", "too_few_points", "no_depth", "ok"]
    assert [g is None for g in geoms] == [True, True, True, False]
    geoms, status = compute_objects_with_status(scene.frame, np.stack([tiny, empty]))
    assert status == ["too_few_points", "too_few_points"] and geoms == [None, None]

    # min_points counts the final cloud: enough pixels, too few points after the filters.
    geoms, status = compute_objects_with_status(scene.frame, masks, scene.table_plane,
                                                Object3DConfig(min_points=100_000))
    assert status == ["too_few_points"] * 3 and geoms == [None] * 3


def test_objects_beyond_the_depth_range_are_out_of_range(scenes: dict[str, SyntheticScene]
                                                         ) -> None:
    scene = scenes["separated"]
    masks = masks_of(scene)
    nearest = min(_depths(scene, k + 1).min() for k in range(len(masks)))
    farthest = max(_depths(scene, k + 1).max() for k in range(len(masks)))
    for cfg in (Object3DConfig(max_depth=float(nearest) - 0.01),   # all beyond max_depth
                Object3DConfig(min_depth=float(farthest) + 0.01)):  # all nearer than min_depth
        geoms, status = compute_objects_with_status(scene.frame, masks, scene.table_plane, cfg)
        assert geoms == [None] * 3 and status == ["out_of_range"] * 3


@pytest.mark.parametrize("side", ["max_depth", "min_depth"])
def test_objects_on_the_edge_of_the_depth_range(scenes: dict[str, SyntheticScene],
                                                side: str) -> None:
    scene = scenes["separated"]
    masks = masks_of(scene)
    k = 0
    z = _depths(scene, k + 1)
    far = side == "max_depth"
    (whole,), _ = compute_objects_with_status(scene.frame, masks.select([k]), scene.table_plane)

    def run(limit: float):
        cfg = Object3DConfig(**{side: float(limit)})
        (g,), (s,) = compute_objects_with_status(scene.frame, masks.select([k]),
                                                 scene.table_plane, cfg)
        return g, s

    # Exactly at the object's extreme depth: the range is inclusive, nothing is lost.
    g, s = run(z.max() if far else z.min())
    assert s == "ok"
    np.testing.assert_array_equal(g.points, whole.points)
    # Through the middle: geometry from the part inside, marked clipped.
    g, s = run(np.median(z))
    assert s == "clipped" and g is not None
    inside = g.points[:, 2] <= np.median(z) + 1e-6 if far else g.points[:, 2] >= np.median(z) - 1e-6
    assert inside.all() and g.num_points < whole.num_points
    # A sliver inside, fewer pixels than min_points: no geometry, and the range is why.
    sliver = np.sort(z)[10] if far else np.sort(z)[-11]
    g, s = run(sliver)
    assert g is None and s == "out_of_range"
    # Just past the object's whole depth span.
    g, s = run(z.min() - 1e-3 if far else z.max() + 1e-3)
    assert g is None and s == "out_of_range"
