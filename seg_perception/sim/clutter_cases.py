"""Eval cases of real clutter (issue 19): what fails on real cluttered tables, built
on purpose in simulation, with ground truth.

* ``clutter_flat_among``: books and plates lying flat (the ``thin_flat`` hard case,
  under 3 cm high) among other objects that may touch them, 6-9 objects in all.
* ``clutter_box_against_box``: boxes standing against boxes (``touching``; now and
  then a cylinder against a box) and a box resting on a low, wide box (``stacked``),
  among other boxes, 5-8 objects in all.
* ``clutter_dense_pile``: 10-20 objects dropped in a pile with random orientations
  (boxes, cylinders, books, plates, mugs, small cubes), touching and on top of each
  other.

All cases use a Kinect-like camera (fx = 525 at 640x480) 0.6-1.1 m from the table,
looking down 35-75 degrees, with the z**2 depth noise model, in a room (wall and
floor behind the table). Each frame's ``case_tags`` holds its case name, so
``seg-perception eval`` on an exported folder reports every case. Export with
``python -m seg_perception.sim.clutter_cases OUT --frames-per-case N``.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Mapping, Sequence

from .depth_noise import DepthNoiseModel
from .cases import case_config, case_configs, export_cases_main
from .scenes import SceneConfig

__all__ = ["CLUTTER_CASES", "clutter_case_config", "clutter_case_configs"]

_BASE = SceneConfig(
    width=640, height=480, kinds=("box", "cylinder", "book", "plate", "mug", "cube_small"),
    clutter="random", hard_case_probability=1.0, depth_noise=True,
    noise_model=DepthNoiseModel.kinect_v1(), rgb_noise_std=2.0)

CLUTTER_CASES: Mapping[str, SceneConfig] = {
    "clutter_flat_among": replace(_BASE, num_objects=(6, 9), hard_cases=("thin_flat",),
                                  object_region_m=(0.4, 0.3),
                                  scene_tags=("clutter_flat_among",)),
    "clutter_box_against_box": replace(_BASE, num_objects=(5, 8), kinds=("box",),
                                       hard_cases=("touching", "stacked"),
                                       object_region_m=(0.4, 0.3),
                                       scene_tags=("clutter_box_against_box",)),
    "clutter_dense_pile": replace(_BASE, num_objects=(10, 20), clutter="dense", hard_cases=(),
                                  object_region_m=(0.35, 0.3), settle_steps=360,
                                  scene_tags=("clutter_dense_pile",)),
}
"""Case name -> scene settings (640x480)."""


def clutter_case_config(case: str, width: int = 640, height: int = 480) -> SceneConfig:
    """The scene settings of one case at another image size (same field of view)."""
    return case_config(CLUTTER_CASES, case, width, height)


def clutter_case_configs(cases: Sequence[str] | None = None) -> list[SceneConfig]:
    """The settings of ``cases`` (default: all), for ``export_coco`` to render in turn."""
    return case_configs(CLUTTER_CASES, cases)


def main(argv: Sequence[str] | None = None) -> int:
    return export_cases_main(CLUTTER_CASES, 19000, __doc__.split("\n\n")[0], argv)


if __name__ == "__main__":
    raise SystemExit(main())
