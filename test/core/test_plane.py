"""Plane fitting: RANSAC accuracy under outliers, orientation, hints, several planes."""
from __future__ import annotations

import math

import numpy as np
import pytest

from seg_perception.errors import InvalidFrameError
from seg_perception.geometry.plane import (
    estimate_support_plane,
    find_planes,
    fit_plane_lstsq,
    refit_plane,
    segment_plane,
)
from seg_perception.results import Plane
from seg_perception.sim.synthetic import look_at, preset_objects, render_scene


def _angle_deg(n1, n2) -> float:
    return math.degrees(math.acos(min(1.0, abs(float(np.dot(n1, n2))))))


def _plane_points(rng, normal, offset, n, noise=0.001, extent=0.6):
    """Points on ``normal . p + offset = 0`` around its foot point, with Gaussian noise."""
    normal = np.asarray(normal, float) / np.linalg.norm(normal)
    a = np.cross(normal, [1.0, 0.0, 0.0])
    if np.linalg.norm(a) < 0.1:
        a = np.cross(normal, [0.0, 1.0, 0.0])
    a /= np.linalg.norm(a)
    b = np.cross(normal, a)
    uv = rng.uniform(-extent / 2, extent / 2, (n, 2))
    foot = -offset * normal
    return foot + uv[:, :1] * a + uv[:, 1:] * b + rng.normal(0, noise, (n, 1)) * normal


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ransac_recovers_plane_with_30_percent_outliers(seed):
    rng = np.random.default_rng(seed)
    # A table seen from a camera tilted down by ~40 degrees, 0.9 m away.
    normal = np.array([0.05, -0.64, -0.77])
    normal /= np.linalg.norm(normal)
    inliers = _plane_points(rng, normal, 0.9, 1400)
    outliers = rng.uniform([-0.5, -0.5, 0.3], [0.5, 0.5, 1.6], (600, 3))
    pts = np.concatenate([inliers, outliers]).astype(np.float32)
    plane, idx = segment_plane(pts, distance_threshold=0.005, rng=seed)
    assert _angle_deg(plane.normal, normal) < 1.0
    assert abs(plane.offset - 0.9) < 0.002
    # Nearly all true inliers found, few outliers taken.
    found = np.zeros(len(pts), bool)
    found[idx] = True
    assert found[:1400].mean() > 0.95
    assert found[1400:].mean() < 0.05


def test_normal_points_towards_camera():
    rng = np.random.default_rng(3)
    # Same plane given with both signs: the result is oriented the same way.
    for sign in (1.0, -1.0):
        normal = sign * np.array([0.0, -1.0, -1.0])
        pts = _plane_points(rng, normal, sign * 0.7, 500).astype(np.float32)
        plane, _ = segment_plane(pts, 0.005)
        assert plane.offset > 0  # the camera (origin) is on the positive side
        assert np.all(plane.signed_distance(np.zeros((1, 3), np.float32)) > 0)
        assert float(np.dot(plane.normal, pts.mean(axis=0))) < 0


def test_normal_hint_prefers_the_up_plane_over_a_bigger_wall():
    rng = np.random.default_rng(4)
    wall = _plane_points(rng, [0.0, 0.0, -1.0], 1.5, 3000)     # faces a level camera
    table = _plane_points(rng, [0.0, -1.0, 0.0], 0.4, 1000)    # 0.4 m below the camera
    pts = np.concatenate([wall, table]).astype(np.float32)
    dominant, _ = segment_plane(pts, 0.005)
    assert _angle_deg(dominant.normal, [0, 0, -1]) < 1.0
    up, idx = segment_plane(pts, 0.005, normal_hint=(0, -1, 0), max_angle_deg=30)
    assert _angle_deg(up.normal, [0, -1, 0]) < 1.0
    assert abs(up.offset - 0.4) < 0.002
    assert np.all(idx >= 3000 - 30)  # essentially only table points


def test_per_point_thresholds_and_bad_arguments():
    rng = np.random.default_rng(5)
    pts = _plane_points(rng, [0, 0, -1], 1.0, 200).astype(np.float32)
    plane, idx = segment_plane(pts, np.full(200, 0.005, np.float32))
    assert len(idx) == 200 and abs(plane.offset - 1.0) < 0.002
    with pytest.raises(ValueError, match="one value per point"):
        segment_plane(pts, np.full(10, 0.005))
    with pytest.raises(ValueError, match="distance_threshold"):
        segment_plane(pts, 0.0)
    with pytest.raises(InvalidFrameError, match="at least 3 points"):
        segment_plane(pts[:2])
    with pytest.raises(InvalidFrameError, match=r"float\[M, 3\]"):
        segment_plane(pts[:, :2])
    with pytest.raises(InvalidFrameError, match="normal_hint"):
        segment_plane(pts, 0.005, normal_hint=(0, -1, 0), max_angle_deg=20)
    with pytest.raises(ValueError, match="non-zero 3-vector"):
        segment_plane(pts, 0.005, normal_hint=(0, 0, 0))


def test_fit_plane_lstsq_is_exact_on_exact_points():
    rng = np.random.default_rng(6)
    pts = _plane_points(rng, [1.0, 2.0, -2.0], 0.5, 50, noise=0.0)
    plane = fit_plane_lstsq(pts)
    assert isinstance(plane, Plane)
    assert _angle_deg(plane.normal, np.array([1.0, 2.0, -2.0]) / 3) < 1e-4
    assert np.abs(plane.signed_distance(pts.astype(np.float32))).max() < 1e-5


def test_find_planes_returns_disjoint_planes_largest_first():
    rng = np.random.default_rng(7)
    wall = _plane_points(rng, [0.0, 0.0, -1.0], 1.5, 1200)
    table = _plane_points(rng, [0.0, -1.0, 0.0], 0.4, 2000)
    noise = rng.uniform(-1, 1, (300, 3)) + [0, 0, 1.5]
    pts = np.concatenate([wall, table, noise]).astype(np.float32)
    planes = find_planes(pts, max_planes=3, distance_threshold=0.005, min_inliers=500)
    assert len(planes) == 2
    (p1, i1), (p2, i2) = planes
    assert _angle_deg(p1.normal, [0, -1, 0]) < 1 and _angle_deg(p2.normal, [0, 0, -1]) < 1
    assert len(i1) >= len(i2)
    assert not set(i1.tolist()) & set(i2.tolist())


def test_estimate_support_plane_on_a_rendered_scene():
    scene = render_scene(preset_objects("separated"), width=160, height=120)
    plane = estimate_support_plane(scene.frame, exclude=scene.instance_labels > 0)
    truth = scene.table_plane
    assert plane is not None
    assert _angle_deg(plane.normal, truth.normal) < 1.0
    assert abs(plane.offset - truth.offset) < 0.002
    assert float(np.dot(plane.normal, truth.normal)) > 0  # same orientation (up)


def test_estimate_support_plane_prefers_the_table_to_a_bigger_floor():
    # Far view: more floor than table pixels; the table is the large plane above it.
    scene = render_scene(preset_objects("separated"), width=160, height=120,
                         camera=look_at((0.0, -1.3, 0.6), (0.0, 0.1, 0.0)))
    floor = (scene.semantic_labels == 2).sum()
    table = (scene.semantic_labels == 1).sum()
    assert floor > table
    from seg_perception.segmenters.geometric import analyse_scene
    plane = analyse_scene(scene.frame).plane
    assert plane is not None and abs(plane.offset - scene.table_plane.offset) < 0.003


def test_refit_plane_corrects_a_slightly_wrong_plane_and_counts_its_support():
    rng = np.random.default_rng(5)
    normal = np.array([0.0, -0.6, -0.8])
    table = _plane_points(rng, normal, 0.9, 1500)
    clutter = rng.uniform([-0.5, -0.5, 0.3], [0.5, 0.5, 1.6], (500, 3))
    pts = np.concatenate([table, clutter]).astype(np.float32)
    # Last frame's plane, 0.5 degrees and 2 mm off (the camera shook a little).
    tilt = np.array([0.0, -0.6, -0.8]) + np.array([0.0, 0.005, -0.0037])
    tilt /= np.linalg.norm(tilt)
    plane, idx = refit_plane(pts, Plane(tuple(tilt), 0.902), 0.005)
    assert _angle_deg(plane.normal, normal) < 0.2 and abs(plane.offset - 0.9) < 0.001
    found = np.zeros(len(pts), bool)
    found[idx] = True
    assert found[:1500].mean() > 0.95 and found[1500:].mean() < 0.05
    # A plane that is no longer there holds (almost) nothing: the caller searches anew.
    _, none = refit_plane(pts, Plane((0.0, -0.6, -0.8), 0.5), 0.005)
    assert none.size < 0.05 * len(pts)
