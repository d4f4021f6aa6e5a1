"""Helpers of the grid's support plane, noise and support split (support.py, noise.py, grid.py)."""
from __future__ import annotations

import numpy as np


def test_missing_levels_alternate_smallest_and_largest_and_are_shared_read_only():
    from seg_perception.segmenters.geometric.noise import _missing_levels

    got = _missing_levels((3, 4))
    np.testing.assert_array_equal(got, [[0, 255, 0, 255], [255, 0, 255, 0], [0, 255, 0, 255]])
    assert got.dtype == np.uint8 and not got.flags.writeable
    assert _missing_levels((3, 4)) is got


def test_grown_candidates_are_the_low_pixels_connected_to_a_candidate():
    import cv2

    from seg_perception.segmenters.geometric.grid import grown_candidates

    rng = np.random.default_rng(0)
    for _ in range(300):
        h, w = rng.integers(1, 30, 2)
        base = rng.random((h, w))
        candidates = base < rng.random() * 0.4
        low = (base < rng.random()) | (rng.random((h, w)) < 0.2)
        # By definition: the components of low | candidates that hold a candidate.
        n, comp = cv2.connectedComponents((low | candidates).view(np.uint8), connectivity=8)
        has = np.zeros(n, bool)
        has[comp[candidates]] = True
        has[0] = False
        np.testing.assert_array_equal(grown_candidates(candidates, low),
                                      has[comp] & ~candidates)
    assert not grown_candidates(np.ones((4, 5), bool), np.ones((4, 5), bool)).any()


def test_upsampled_2x_is_a_nearest_neighbour_resize_cropped():
    import cv2

    from seg_perception.segmenters.geometric.noise import upsampled_2x

    small = np.random.default_rng(0).random((5, 7)).astype(np.float32)
    full = cv2.resize(small, (14, 10), interpolation=cv2.INTER_NEAREST)
    for shape in [(10, 14), (9, 14), (10, 13), (9, 13)]:
        got = upsampled_2x(small, shape)
        assert got.flags.c_contiguous and got.dtype == np.float32
        np.testing.assert_array_equal(got, full[:shape[0], :shape[1]])


def test_gathered_stacks_the_arrays_values_at_flat_indices():
    from seg_perception.segmenters.geometric.support import _gathered

    rng = np.random.default_rng(0)
    arrays = tuple(rng.random((4, 6)).astype(np.float32) for _ in range(3))
    idx = rng.integers(0, 24, 50)
    got = _gathered(arrays, idx)
    np.testing.assert_array_equal(got, np.stack([a.ravel()[idx] for a in arrays], axis=1))
    assert got.dtype == np.float32 and got.flags.c_contiguous
