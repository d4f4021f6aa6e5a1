"""Helpers of the grid's noise and support split (noise.py, grid.py)."""
from __future__ import annotations

import numpy as np


def test_missing_levels_alternate_smallest_and_largest_and_are_shared_read_only():
    from seg_perception.segmenters.geometric.noise import _missing_levels

    got = _missing_levels((3, 4))
    np.testing.assert_array_equal(got, [[0, 255, 0, 255], [255, 0, 255, 0], [0, 255, 0, 255]])
    assert got.dtype == np.uint8 and not got.flags.writeable
    assert _missing_levels((3, 4)) is got
