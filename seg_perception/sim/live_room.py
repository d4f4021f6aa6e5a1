"""Eval cases of a live camera in a room (issue 24): what a robot's RGB-D camera
sees around the table, with ground truth.

Every case has the wall and the floor behind the table, chairs and sometimes a
second table 0.3-2 m from the work table (1-3 m from the camera), RealSense
D435-like depth (noise ~ z**2, holes and extra noise on dark surfaces, flying
pixels at edges, the projector's shadow) and a colour camera with fx ~ 613 at
640x480, 0.4-1.5 m from the table and tilted 30-70 degrees down. The cases vary
the table: ``live_room`` (a wooden or coloured table), ``live_dark_table`` (a
plain near-black top), ``live_round_table`` (a disc on one column) and
``live_small_table`` (0.5-0.7 m). The objects are separated boxes, cylinders,
books, mugs and small cubes: the room is what is under test here, dense piles
are not.

Each frame's ``case_tags`` holds its case name, so ``seg-perception eval`` on an
exported folder reports every case. Export with
``python -m seg_perception.sim.live_room OUT --frames-per-case N``.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Mapping, Sequence

from .depth_noise import DepthNoiseModel
from .cases import case_config, case_configs, export_cases_main
from .scenes import SceneConfig

__all__ = ["LIVE_ROOM_CASES", "live_room_config", "live_room_configs"]

# Colour camera of a D435 at 640x480: fx = fy ~ 613 px -> vertical FOV 42.8 degrees.
_D435_VFOV_DEG = 2.0 * math.degrees(math.atan(240.0 / 613.0))

_BASE = SceneConfig(
    width=640, height=480, vertical_fov_deg=_D435_VFOV_DEG, num_objects=(3, 6),
    kinds=("box", "cylinder", "book", "mug", "cube_small"), clutter="separated",
    hard_cases=(), camera_distance_m=(0.4, 1.5), camera_elevation_deg=(30.0, 70.0),
    camera_azimuth_deg=(-35.0, 35.0), wall_distance_m=(0.4, 2.0),
    depth_noise=True, noise_model=DepthNoiseModel.realsense_d435_live(), rgb_noise_std=2.0,
    chairs=(1, 3), other_table_probability=0.6)

LIVE_ROOM_CASES: Mapping[str, SceneConfig] = {
    "live_room": replace(_BASE, scene_tags=("live_room",)),
    "live_dark_table": replace(_BASE, table_brightness=(0.03, 0.1), scene_tags=("live_dark_table",)),
    "live_round_table": replace(_BASE, table_shape="round", table_length_m=(0.7, 1.1),
                                table_depth_m=(0.7, 1.1), object_region_m=(0.45, 0.45),
                                num_objects=(2, 5), scene_tags=("live_round_table",)),
    "live_small_table": replace(_BASE, table_length_m=(0.5, 0.7), table_depth_m=(0.45, 0.6),
                                object_region_m=(0.35, 0.3), num_objects=(2, 4),
                                scene_tags=("live_small_table",)),
}
"""Case name -> scene settings (640x480)."""


def live_room_config(case: str, width: int = 640, height: int = 480) -> SceneConfig:
    """The scene settings of one case at another image size (same field of view)."""
    return case_config(LIVE_ROOM_CASES, case, width, height)


def live_room_configs(cases: Sequence[str] | None = None) -> list[SceneConfig]:
    """The settings of ``cases`` (default: all), for ``export_coco`` to render in turn."""
    return case_configs(LIVE_ROOM_CASES, cases)


def main(argv: Sequence[str] | None = None) -> int:
    return export_cases_main(LIVE_ROOM_CASES, 24000, __doc__.split("\n\n")[0], argv)


if __name__ == "__main__":
    raise SystemExit(main())
