"""seg_perception.geometry.filters: mask erosion, depth range, voxel grid, outlier removal."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from seg_perception.geometry.filters import (
    depth_range,
    erode_mask,
    erode_mask_at_depth_edges,
    knn_mean_distances,
    load_neighbor_backend,
    median_of,
    neighbor_cell,
    remove_statistical_outliers,
    remove_voxel_outliers,
    voxel_downsample,
    voxel_neighbor_counts,
)


def square_mask(h: int = 20, w: int = 20, y0: int = 5, x0: int = 5, size: int = 10) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[y0:y0 + size, x0:x0 + size] = True
    return m


def test_erode_mask_shrinks_by_pixels_on_every_side() -> None:
    m = square_mask()
    e = erode_mask(m, 2)
    assert e.dtype == bool and e.shape == m.shape
    ys, xs = np.nonzero(e)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (7, 12, 7, 12)
    assert np.array_equal(erode_mask(m, 0), m)
    assert not erode_mask(m, 5).any()  # a 10 px square has no 11x11 interior


def test_erode_mask_batch_and_image_border() -> None:
    m = np.zeros((2, 8, 8), bool)
    m[0, :4, :4] = True  # touches the image corner: outside counts as background
    m[1, 2:7, 2:7] = True
    e = erode_mask(m, 1)
    assert e.shape == (2, 8, 8)
    assert np.array_equal(np.argwhere(e[0]), [[1, 1], [1, 2], [2, 1], [2, 2]])
    assert np.array_equal(e[1], erode_mask(m[1], 1))
    assert erode_mask(np.zeros((0, 8, 8), bool), 1).shape == (0, 8, 8)
    with pytest.raises(ValueError, match="pixels must be >= 0"):
        erode_mask(m[0], -1)
    with pytest.raises(ValueError, match="HxW or NxHxW"):
        erode_mask(np.zeros(5, bool), 1)


def test_depth_edge_erosion_drops_flying_pixels_keeps_true_outline() -> None:
    # A 10x10 object at 1.0 m in front of a wall at 2.0 m.
    m = square_mask()
    depth = np.where(m, 1.0, 2.0).astype(np.float32)
    # Clean outline: nothing is dropped (plain erosion would drop 64 pixels).
    kept = erode_mask_at_depth_edges(m, depth, 2, tolerance=0.01)
    assert np.array_equal(kept, m)
    assert erode_mask(m, 2).sum() == 36
    # Flying pixels: the outermost ring of the mask lies half way to the wall.
    ring = m & ~erode_mask(m, 1)
    depth[ring] = 1.5
    kept = erode_mask_at_depth_edges(m, depth, 2, tolerance=0.01)
    assert not (kept & ring).any()
    assert np.array_equal(kept, m & ~ring)
    # Pixels without depth are never kept; tolerance 0 equals erosion here.
    depth[8, 8] = 0.0
    assert not erode_mask_at_depth_edges(m, depth, 2, 0.01)[8, 8]
    assert erode_mask_at_depth_edges(m, depth, 0, 0.01).sum() == m.sum() - 1
    with pytest.raises(ValueError, match="tolerance"):
        erode_mask_at_depth_edges(m, depth, 1, -0.1)


def test_depth_range_is_inclusive_boolean_mask() -> None:
    pts = np.array([[0, 0, 0.1], [0, 0, 0.2], [0, 0, 0.5], [0, 0, 3.0], [0, 0, 3.1]], np.float32)
    keep = depth_range(pts, 0.2, 3.0)
    assert keep.dtype == bool
    assert keep.tolist() == [False, True, True, True, False]


def reference_voxel_means(points: np.ndarray, size: float) -> dict[tuple[int, ...], np.ndarray]:
    groups: dict[tuple[int, ...], list[np.ndarray]] = {}
    for p in points.astype(np.float64):
        groups.setdefault(tuple(np.floor(p / size).astype(int)), []).append(p)
    return {k: np.mean(v, axis=0) for k, v in groups.items()}


@pytest.mark.parametrize("spread", [0.1, 1000.0])  # dense table and np.unique fallback
def test_voxel_downsample_matches_reference(spread: float) -> None:
    rng = np.random.default_rng(3)
    pts = rng.uniform(-spread, spread, (3000, 3)).astype(np.float32)
    size = 0.02 if spread < 1 else 50.0
    out, colors = voxel_downsample(pts, size)
    assert colors is None and out.dtype == np.float32
    ref = reference_voxel_means(pts, size)
    assert out.shape == (len(ref), 3)
    got = {tuple(np.floor(p.astype(np.float64) / size).astype(int)): p for p in out}
    for key, mean in ref.items():
        np.testing.assert_allclose(got[key], mean, atol=1e-5 * max(spread, 1))
    # Deterministic order.
    np.testing.assert_array_equal(voxel_downsample(pts, size)[0], out)


def test_voxel_downsample_colours_and_passthrough() -> None:
    pts = np.array([[0.001, 0.001, 0.001], [0.003, 0.003, 0.003], [0.011, 0.0, 0.0]], np.float32)
    cols = np.array([[10, 20, 30], [21, 40, 60], [200, 0, 0]], np.uint8)
    out, out_cols = voxel_downsample(pts, 0.01, cols)
    np.testing.assert_allclose(out, [[0.002, 0.002, 0.002], [0.011, 0, 0]], atol=1e-7)
    assert out_cols is not None and out_cols.dtype == np.uint8
    assert out_cols.tolist() == [[16, 30, 45], [200, 0, 0]]  # rounded means
    same, same_cols = voxel_downsample(pts, 0.0, cols)
    assert same is not None and np.array_equal(same, pts) and same_cols is cols
    empty, _ = voxel_downsample(np.zeros((0, 3), np.float32), 0.01)
    assert empty.shape == (0, 3)


def plane_with_outliers(seed: int = 0) -> tuple[np.ndarray, int]:
    rng = np.random.default_rng(seed)
    xy = np.stack(np.meshgrid(np.arange(40), np.arange(40)), -1).reshape(-1, 2) * 0.004
    plane = np.c_[xy, np.full(len(xy), 0.8)]
    outliers = np.array([[0.3, 0.3, 0.9], [-0.2, 0.0, 0.7], [0.08, 0.08, 1.0]])
    return np.concatenate([plane, outliers + rng.normal(0, 1e-3, outliers.shape)]), len(plane)


def test_statistical_outliers_removed_and_clean_edges_kept_with_floor() -> None:
    pts, n_plane = plane_with_outliers()
    keep = remove_statistical_outliers(pts, 16, 2.0, backend="scipy")
    assert keep.dtype == bool and keep.shape == (len(pts),)
    assert not keep[n_plane:].any()
    # PCL's test alone trims the edges of a clean grid ...
    clean = pts[:n_plane]
    trimmed = remove_statistical_outliers(clean, 16, 2.0, backend="scipy")
    assert 0 < (~trimmed).sum() < 0.1 * n_plane
    assert remove_statistical_outliers(clean, 16, 2.0, floor_ratio=2.0).all()
    # ... the floor keeps every clean point and still drops the outliers.
    keep = remove_statistical_outliers(pts, 16, 2.0, floor_ratio=2.0)
    assert keep[:n_plane].all() and not keep[n_plane:].any()


def test_statistical_outliers_trivial_cases_and_errors() -> None:
    pts, _ = plane_with_outliers()
    assert remove_statistical_outliers(pts, 0, 2.0).all()
    assert remove_statistical_outliers(pts[:10], 16, 2.0).all()
    with pytest.raises(ValueError, match="std_ratio"):
        remove_statistical_outliers(pts, 8, 0.0)
    with pytest.raises(ValueError, match="unknown nearest-neighbour backend"):
        remove_statistical_outliers(pts, 8, 2.0, backend="pcl")
    assert load_neighbor_backend("scipy") == "scipy"
    expected = "open3d" if importlib.util.find_spec("open3d") else "scipy"
    assert load_neighbor_backend() == expected


@pytest.mark.skipif(importlib.util.find_spec("open3d") is None, reason="open3d not installed")
def test_open3d_and_scipy_backends_agree() -> None:
    rng = np.random.default_rng(1)
    pts = rng.normal(size=(3000, 3))
    pts[:30] *= 6
    np.testing.assert_allclose(knn_mean_distances(pts, 16, backend="open3d"),
                               knn_mean_distances(pts, 16, backend="scipy"), rtol=1e-12)
    a = remove_statistical_outliers(pts, 16, 1.0, backend="scipy")
    b = remove_statistical_outliers(pts, 16, 1.0, backend="open3d")
    assert 2700 < a.sum() < 3000
    np.testing.assert_array_equal(a, b)
    # Same inliers as Open3D's own PCL-style filter (it counts the point itself,
    # which scales every mean by k / (k + 1) and leaves the test unchanged).
    import open3d as o3d

    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
    _, kept = cloud.remove_statistical_outlier(17, 1.0)
    np.testing.assert_array_equal(np.flatnonzero(a), np.sort(np.asarray(kept)))


def reference_neighbor_counts(points: np.ndarray, size: float, cell: int) -> np.ndarray:
    """voxel_neighbor_counts by brute force: occupied voxels whose cell is within one cell
    of the point's cell, on the grid and (cell > 1) on the grid shifted by cell // 2."""
    keys = np.floor(points * (1.0 / size)).astype(np.int64)  # in the points' precision
    voxels = np.unique(keys, axis=0)
    best = np.zeros(len(points), np.int64)
    for shift in ((0, cell // 2) if cell > 1 else (0,)):
        vc = (voxels + shift) // cell
        pc = (keys + shift) // cell
        near = np.abs(pc[:, None, :] - vc[None, :, :]).max(axis=2) <= 1
        best = np.maximum(best, near.sum(axis=1))
    return best


@pytest.mark.parametrize("cell", [1, 2, 3])
def test_voxel_neighbor_counts_match_brute_force(cell: int) -> None:
    rng = np.random.default_rng(cell)
    # A noisy surface patch, a line and isolated points, with repeated voxels.
    surface = np.c_[rng.uniform(0, 0.06, (600, 2)), 0.5 + rng.normal(0, 0.002, 600)]
    line = np.c_[np.linspace(0, 0.05, 40), np.full(40, 0.02), np.full(40, 0.53)]
    stray = rng.uniform([0, 0, 0.45], [0.06, 0.06, 0.6], (20, 3))
    pts = np.concatenate([surface, line, stray]).astype(np.float32)
    counts = voxel_neighbor_counts(pts, 0.004, cell)
    assert counts.dtype == np.int32 and counts.min() >= 1
    np.testing.assert_array_equal(counts, reference_neighbor_counts(pts, 0.004, cell))
    # Far apart clusters take the sparse path (no dense grid over the gap): same answer.
    far = np.concatenate([pts, pts[:50] + np.float32(400.0)])
    np.testing.assert_array_equal(voxel_neighbor_counts(far, 0.004, cell),
                                  reference_neighbor_counts(far, 0.004, cell))
    with pytest.raises(ValueError, match="voxel_size"):
        voxel_neighbor_counts(pts, 0.0)
    with pytest.raises(ValueError, match="cell"):
        voxel_neighbor_counts(pts, 0.004, 0)
    assert voxel_neighbor_counts(np.zeros((0, 3)), 0.004).shape == (0,)


def test_neighbor_cell_sizes_the_block_like_k_neighbours() -> None:
    # A flat surface through 3x3x3 cells of c voxels holds (3c)**2 voxels.
    assert [neighbor_cell(k) for k in (1, 8, 9, 16, 35, 36)] == [1, 1, 2, 2, 2, 3]


def test_voxel_outliers_remove_strays_keep_clean_grid_like_knn() -> None:
    pts, n_plane = plane_with_outliers()
    keep = remove_voxel_outliers(pts, 0.004, 16, 2.0, floor_ratio=2.0)
    assert keep.dtype == bool and keep.shape == (len(pts),)
    assert keep[:n_plane].all() and not keep[n_plane:].any()
    np.testing.assert_array_equal(keep, remove_statistical_outliers(pts, 16, 2.0, floor_ratio=2.0,
                                                                    backend="scipy"))
    # A small dense clump away from the surface is an outlier too (few voxels around it).
    clump = np.array([0.05, 0.05, 0.9]) + np.random.default_rng(1).normal(0, 0.002, (6, 3))
    keep = remove_voxel_outliers(np.concatenate([pts[:n_plane], clump]), 0.004, 16, 2.0,
                                 floor_ratio=2.0)
    assert keep[:n_plane].all() and not keep[n_plane:].any()
    assert remove_voxel_outliers(pts, 0.004, 0, 2.0).all()
    assert remove_voxel_outliers(pts[:10], 0.004, 16, 2.0).all()
    with pytest.raises(ValueError, match="std_ratio"):
        remove_voxel_outliers(pts, 0.004, 16, 0.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_median_of_is_np_median_to_the_bit(dtype):
    rng = np.random.default_rng(4)
    for n in (1, 2, 3, 4, 7, 50, 51, 999, 1000):
        for _ in range(20):
            values = (rng.random(n) * 3.0).astype(dtype)
            values[: n // 3] = values[0]  # ties
            assert median_of(values) == float(np.median(values))
            assert isinstance(median_of(values), float)
    assert np.isnan(median_of(np.zeros(0, dtype)))
