"""Fixtures shared by the core tests."""
from __future__ import annotations

import pytest

from seg_perception.sim.synthetic import Box, look_at, preset_objects, render_scene


@pytest.fixture(scope="module")
def room():
    """Three objects on a table; behind it a cabinet rising above the table top, beside
    it a second table of the same height with a box on it."""
    objects = preset_objects("separated") + [
        Box((0.0, 0.75), (0.5, 0.3, 0.9), z_base=-0.75, color=(120, 100, 90)),
        Box((0.6, 0.1), (0.3, 0.5, 0.75), z_base=-0.75, color=(150, 150, 150)),
        Box((0.6, 0.1), (0.08, 0.08, 0.1), z_base=0.0, color=(200, 200, 40)),
    ]
    return render_scene(objects, table_size=(0.7, 0.6), wall_distance=1.2,
                        camera=look_at((0.1, -0.7, 0.55), (0.1, 0.0, 0.0)))
