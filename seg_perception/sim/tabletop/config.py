"""What shapes a random tabletop scene: :class:`SceneConfig` and the names it
chooses from (hard cases, clutter modes; object kinds live in :mod:`.objects`)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ...errors import ConfigError
from ...frames import CameraIntrinsics
from ..depth_noise import DepthNoiseModel
from ..room import TABLE_SHAPES
from .objects import OBJECT_KINDS

__all__ = ["CLUTTER_MODES", "HARD_CASES", "SceneConfig"]


HARD_CASES: tuple[str, ...] = ("occluded", "stacked", "thin_flat", "touching")
"""Hard cases :class:`TabletopSim` can build on purpose (``SceneConfig.hard_cases``)."""

CLUTTER_MODES: tuple[str, ...] = ("dense", "random", "separated")
"""How the remaining objects are placed: ``separated`` (gaps of 3 cm or more),
``random`` (non-overlapping footprints, may touch), ``dense`` (dropped in a pile
with random orientations)."""


@dataclass(frozen=True)
class SceneConfig:
    """Everything that shapes a random tabletop scene; ranges are ``(low, high)``.

    Attributes:
        width, height: image size in pixels.
        vertical_fov_deg: vertical field of view; ``fy = fx = (height / 2) /
            tan(fov / 2)`` and the principal point is the image centre
            (default 49.13 deg gives fx = 525 at 640x480, a Kinect).
        num_objects: number of objects, inclusive (objects that fall off the
            table are removed, so a frame can hold fewer).
        kinds: object kinds of the randomly placed objects (see
            :data:`OBJECT_KINDS`); hard cases always use boxes, cylinders,
            books and plates, whose geometry is exact.
        clutter: placement of the random objects, one of :data:`CLUTTER_MODES`.
        hard_cases: hard cases that may be built, subset of :data:`HARD_CASES`.
        hard_case_probability: each listed hard case is built in a scene with
            this probability (1 = in every scene, while objects remain).
        camera_distance_m: eye-to-target distance.
        camera_elevation_deg: angle of the view ray above the table plane.
        camera_azimuth_deg: rotation about the vertical, 0 = straight from the front.
        target_jitter_m: the look-at point is the table centre plus this much noise.
        table_length_m, table_depth_m, table_height_m: table size (x, y, height).
        wall_distance_m: gap between the table's back edge and the wall.
        object_region_m: ``(x, y)`` full size of the table area objects are placed in.
        texture_probability: chance that an object (or the table/floor) is textured.
        shadows: render cast shadows (about 50 % slower).
        depth_noise: corrupt ``SimFrame.depth`` with ``noise_model``
            (``SimFrame.depth_gt`` stays exact).
        noise_model: the depth sensor model.
        rgb_noise_std: Gaussian colour noise, standard deviation in 8-bit levels.
        settle_steps: physics steps (240 Hz) to let the objects come to rest.
        near_m, far_m: clipping planes of the renderer.
        seed: default seed of :class:`TabletopSim` when none is given.
        chairs: number of chairs around the table, inclusive range (a live room).
        other_table_probability: chance of a second table beside the work table.
        table_shape: ``rect`` or ``round`` (see :data:`~seg_perception.sim.room.TABLE_SHAPES`).
        table_brightness: ``(low, high)`` brightness (0-1) of a plain table top, e.g.
            ``(0.04, 0.12)`` for a dark table; None: the usual wood or random colour.
        scene_tags: tags added to every frame's ``case_tags`` (names an eval case).
    """

    width: int = 640
    height: int = 480
    vertical_fov_deg: float = 49.13
    num_objects: tuple[int, int] = (3, 8)
    kinds: tuple[str, ...] = OBJECT_KINDS
    clutter: str = "random"
    hard_cases: tuple[str, ...] = HARD_CASES
    hard_case_probability: float = 0.5
    camera_distance_m: tuple[float, float] = (0.6, 1.1)
    camera_elevation_deg: tuple[float, float] = (35.0, 75.0)
    camera_azimuth_deg: tuple[float, float] = (-40.0, 40.0)
    target_jitter_m: float = 0.06
    table_length_m: tuple[float, float] = (0.9, 1.6)
    table_depth_m: tuple[float, float] = (0.65, 1.0)
    table_height_m: tuple[float, float] = (0.70, 0.80)
    wall_distance_m: tuple[float, float] = (0.15, 0.8)
    object_region_m: tuple[float, float] = (0.6, 0.4)
    texture_probability: float = 0.5
    shadows: bool = True
    depth_noise: bool = False
    noise_model: DepthNoiseModel = field(default_factory=DepthNoiseModel)
    rgb_noise_std: float = 0.0
    settle_steps: int = 240
    near_m: float = 0.05
    far_m: float = 10.0
    seed: int = 0
    chairs: tuple[int, int] = (0, 0)
    other_table_probability: float = 0.0
    table_shape: str = "rect"
    table_brightness: tuple[float, float] | None = None
    scene_tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.width < 8 or self.height < 8:
            raise ConfigError(f"SceneConfig image size {self.width}x{self.height} is too small "
                              "(8x8 at least)")
        if not 5.0 < self.vertical_fov_deg < 170.0:
            raise ConfigError(f"SceneConfig.vertical_fov_deg={self.vertical_fov_deg} must lie "
                              "in (5, 170) degrees")
        for name in ("num_objects", "camera_distance_m", "camera_elevation_deg",
                     "camera_azimuth_deg", "table_length_m", "table_depth_m",
                     "table_height_m", "wall_distance_m"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ConfigError(f"SceneConfig.{name}=({lo}, {hi}): low is above high")
        if self.num_objects[0] < 0:
            raise ConfigError("SceneConfig.num_objects must not be negative")
        if not (0 < self.camera_elevation_deg[0] and self.camera_elevation_deg[1] <= 90):
            raise ConfigError("SceneConfig.camera_elevation_deg must lie in (0, 90]")
        if self.camera_distance_m[0] <= self.near_m:
            raise ConfigError("SceneConfig.camera_distance_m must exceed near_m")
        unknown = sorted(set(self.kinds) - set(OBJECT_KINDS))
        if unknown or not self.kinds:
            raise ConfigError(f"SceneConfig.kinds has unknown kinds {unknown}; choose a "
                              f"non-empty subset of {list(OBJECT_KINDS)}")
        if self.clutter not in CLUTTER_MODES:
            raise ConfigError(f"SceneConfig.clutter={self.clutter!r}: choose one of "
                              f"{list(CLUTTER_MODES)}")
        bad = sorted(set(self.hard_cases) - set(HARD_CASES))
        if bad:
            raise ConfigError(f"SceneConfig.hard_cases has unknown cases {bad}; choose from "
                              f"{list(HARD_CASES)}")
        if self.table_shape not in TABLE_SHAPES:
            raise ConfigError(f"SceneConfig.table_shape={self.table_shape!r}: choose one of "
                              f"{list(TABLE_SHAPES)}")
        if self.chairs[0] < 0 or self.chairs[0] > self.chairs[1]:
            raise ConfigError(f"SceneConfig.chairs={self.chairs}: need 0 <= low <= high")
        if self.table_brightness is not None and not (
                0 <= self.table_brightness[0] <= self.table_brightness[1] <= 1):
            raise ConfigError("SceneConfig.table_brightness must be (low, high) in [0, 1]")
        for name in ("hard_case_probability", "texture_probability", "other_table_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"SceneConfig.{name}={getattr(self, name)} must lie in [0, 1]")
        if not 0 < self.near_m < self.far_m:
            raise ConfigError("SceneConfig needs 0 < near_m < far_m")
        if self.settle_steps < 0 or self.rgb_noise_std < 0:
            raise ConfigError("SceneConfig.settle_steps and rgb_noise_std must be >= 0")

    @property
    def intrinsics(self) -> CameraIntrinsics:
        """Pinhole intrinsics of the rendered images (no distortion)."""
        f = (self.height / 2.0) / math.tan(math.radians(self.vertical_fov_deg) / 2.0)
        return CameraIntrinsics(self.width, self.height, f, f,
                                (self.width - 1) / 2.0, (self.height - 1) / 2.0)
