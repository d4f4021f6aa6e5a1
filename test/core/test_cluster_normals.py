"""Organised normals, grid clustering with edge constraints, and point clustering."""
from __future__ import annotations

import math

import numpy as np
import pytest

from seg_perception.frames import CameraIntrinsics
from seg_perception.geometry.cluster import (
    concave_edges,
    depth_edges,
    euclidean_clusters,
    label_regions,
)
from seg_perception.geometry.normals import organized_normals
from seg_perception.geometry.projection import depth_to_xyz_image
from seg_perception.sim.synthetic import preset_objects, render_scene

K = CameraIntrinsics(80, 60, 70.0, 70.0, 39.5, 29.5)


def test_normals_of_a_tilted_plane_face_the_camera():
    # Plane n . p + d = 0 with n = (0, -sin 40, -cos 40), d = 0.8: depth by ray casting.
    n = np.array([0.0, -math.sin(math.radians(40)), -math.cos(math.radians(40))])
    u = (np.arange(80) - K.cx) / K.fx
    v = (np.arange(60) - K.cy) / K.fy
    rays = np.stack(np.broadcast_arrays(u[None, :], v[:, None], 1.0), axis=-1)
    depth = (0.8 / -(rays @ n)).astype(np.float32)
    depth[10:14, 20:24] = 0  # a hole
    normals, ok = organized_normals(depth_to_xyz_image(depth, K))
    assert normals.shape == (60, 80, 3) and normals.dtype == np.float32
    assert ok[30, 40] and not ok[12, 22]
    assert np.all(normals[~ok] == 0)
    cos = normals[ok] @ n
    assert cos.min() > math.cos(math.radians(1.0))  # within 1 degree, towards the camera
    assert ok.mean() > 0.85


def test_normals_invalid_across_a_depth_step():
    depth = np.full((60, 80), 1.0, np.float32)
    depth[:, 40:] = 1.5
    _, ok = organized_normals(depth_to_xyz_image(depth, K), max_depth_change=0.03)
    assert ok[30, 20] and ok[30, 60]
    assert not ok[30, 39] and not ok[30, 40]


def test_depth_edges_mark_only_the_far_side():
    depth = np.full((20, 20), 1.0, np.float32)
    depth[:, 10:] = 1.2  # right half is farther
    depth[0, 0] = 0.0    # invalid pixels are never compared
    edges = depth_edges(depth, 0.05)
    assert edges[:, 10].all() and not edges[:, 9].any()
    assert edges.sum() == 20
    assert not depth_edges(depth, 0.3).any()
    # Per-pixel thresholds; slope test finds a small step on a slope-free surface.
    assert depth_edges(depth, np.full((20, 20), 0.05, np.float32)).sum() == 20
    small = np.full((20, 20), 1.0, np.float32)
    small[:, 10:] = 1.012
    assert not depth_edges(small, 0.05).any()
    assert depth_edges(small, 0.05, slope_ratio=3.0, noise=0.005)[:, 10].all()


def test_concave_crease_found_where_a_box_stands_on_the_table_but_not_on_convex_edges():
    scene = render_scene(preset_objects("stacked"), width=320, height=240)
    xyz = depth_to_xyz_image(scene.frame.depth, scene.frame.intrinsics)
    normals, ok = organized_normals(xyz)
    creases = concave_edges(xyz, normals, ok, baseline=2, min_score=0.5)
    lower, upper = scene.instance_labels == 1, scene.instance_labels == 2
    table = scene.semantic_labels == 1
    import cv2
    ring = lambda m: cv2.dilate(m.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0  # noqa: E731
    # Creases between the upper box and the lower box's top, and at the table...
    assert (creases & ring(upper) & lower).sum() > 20
    assert (creases & ring(lower) & table).sum() > 20
    # ...and none in the middle of a face or on the convex rim of the upper box's top.
    inner_top = cv2.erode(upper.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert not (creases & inner_top).any()


def test_label_regions_respects_cuts_and_gives_cut_pixels_back():
    mask = np.zeros((30, 40), bool)
    mask[5:25, 5:35] = True
    cuts = np.zeros_like(mask)
    cuts[:, 20] = True          # a full cut line splits the block in two
    labels = label_regions(mask, cuts, min_pixels=5, reassign_radius=2.0)
    assert labels.dtype == np.int32
    assert set(np.unique(labels[mask])) == {1, 2}  # cut pixels reassigned
    assert (labels[~mask] == 0).all()
    no_reassign = label_regions(mask, cuts, min_pixels=5)
    assert (no_reassign[:, 20] == 0).all()
    # A cut with a 2-pixel gap leaks, unless seeds are eroded by one pixel.
    cuts[10:12, 20] = False
    assert label_regions(mask, cuts).max() == 1
    assert label_regions(mask, cuts, erode=1, reassign_radius=3.0).max() == 2
    # Small regions are not seeds; the largest region is label 1.
    mask2 = np.zeros((30, 40), bool)
    mask2[2:4, 2:4] = True
    mask2[10:20, 10:30] = True
    lab2 = label_regions(mask2, min_pixels=10)
    assert lab2.max() == 1 and (lab2[2:4, 2:4] == 0).all()


def test_label_regions_depth_check_keeps_cut_pixels_off_a_far_region():
    mask = np.ones((10, 20), bool)
    cuts = np.zeros_like(mask)
    cuts[:, 10] = True
    depth = np.ones((10, 20), np.float32)
    depth[:, 10] = 3.0  # the cut pixels belong to neither side in depth
    labels = label_regions(mask, cuts, reassign_radius=2.0, depth=depth, depth_tolerance=0.1)
    assert (labels[:, 10] == 0).all() and labels.max() == 2


@pytest.mark.parametrize("method", ["voxel", "dbscan"])
def test_euclidean_clusters(method):
    if method == "dbscan":
        pytest.importorskip("open3d")
    rng = np.random.default_rng(0)
    a = rng.normal([0, 0, 1], 0.01, (300, 3))
    b = rng.normal([0.3, 0, 1], 0.01, (200, 3))
    lone = np.array([[1.0, 1.0, 1.0]])
    pts = np.concatenate([b, a, lone]).astype(np.float32)
    labels = euclidean_clusters(pts, tolerance=0.02, min_points=10, method=method)
    assert labels.dtype == np.int32 and labels.shape == (501,)
    assert (labels[200:500] == 0).all()   # largest cluster first
    assert (labels[:200] == 1).all()
    assert labels[500] == -1              # noise
    big_only = euclidean_clusters(pts, tolerance=0.02, min_points=10, max_points=250, method=method)
    assert (big_only[200:500] == -1).all() and (big_only[:200] == 0).all()


def test_euclidean_clusters_bad_method_and_empty():
    assert euclidean_clusters(np.zeros((0, 3), np.float32)).shape == (0,)
    with pytest.raises(ValueError, match="voxel"):
        euclidean_clusters(np.zeros((5, 3), np.float32), method="kmeans")
