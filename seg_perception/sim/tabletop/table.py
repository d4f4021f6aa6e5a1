"""The static world around the objects: a work table (a slab on four legs or a disc
on one column) whose top is the plane z = 0, the floor, the wall behind the table
at +y and, when the config asks, furniture (:func:`~seg_perception.sim.room.place_furniture`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..room import place_furniture
from .appearance import random_color, texture_for
from .bodies import TextureLoader, static_box, static_disc
from .config import SceneConfig

if TYPE_CHECKING:  # pragma: no cover
    from pybullet_utils.bullet_client import BulletClient

__all__ = ["Room", "build_room"]


@dataclass(frozen=True)
class Room:
    """Sizes (metres) and pybullet body ids of the static world."""

    table_length: float
    table_depth: float
    table_height: float
    table_top_id: int
    leg_ids: list[int]
    floor_id: int
    wall_id: int
    furniture_ids: list[int]


def build_room(p: "BulletClient", rng: np.random.Generator, cfg: SceneConfig,
               load_texture: TextureLoader) -> Room:
    """Draw the room's sizes and looks from ``rng`` and create its static bodies."""
    def box(half: Sequence[float], pos: Sequence[float], color: np.ndarray,
            texture: np.ndarray | None) -> int:
        return static_box(p, half, pos, color, texture, load_texture)

    table_length = float(rng.uniform(*cfg.table_length_m))
    table_depth = float(rng.uniform(*cfg.table_depth_m))
    table_height = float(rng.uniform(*cfg.table_height_m))
    wall_gap = float(rng.uniform(*cfg.wall_distance_m))
    thickness = float(rng.uniform(0.025, 0.045))
    table_color = np.asarray([0.55, 0.38, 0.22]) * rng.uniform(0.6, 1.3) if rng.random() < 0.6 \
        else random_color(rng)
    table_color = np.clip(table_color, 0, 1)
    floor_color = random_color(rng) * 0.8
    wall_color = np.clip(rng.uniform(0.7, 0.95) + rng.uniform(-0.06, 0.06, 3), 0, 1)
    table_tex = texture_for(rng, cfg.texture_probability, table_color, "wood")
    floor_tex = texture_for(rng, cfg.texture_probability, floor_color, "noise")
    if cfg.table_brightness is not None:  # a plain table of chosen brightness (dark)
        level = float(rng.uniform(*cfg.table_brightness))
        table_color, table_tex = np.clip(np.array([1.0, 0.85, 0.7]) * level, 0, 1), None
    half_l, half_d = table_length / 2, table_depth / 2
    leg = 0.025
    leg_h = table_height - thickness
    if cfg.table_shape == "round":
        radius = min(half_l, half_d)
        half_l = half_d = radius
        table_depth = table_length = 2 * radius
        table_top_id = static_disc(p, radius, thickness, table_color, table_tex, load_texture)
        leg_ids = [box((0.04, 0.04, leg_h / 2), (0.0, 0.0, -thickness - leg_h / 2),
                       table_color * 0.8, None)]
    else:
        table_top_id = box((half_l, half_d, thickness / 2), (0.0, 0.0, -thickness / 2),
                           table_color, table_tex)
        leg_ids = [box((leg, leg, leg_h / 2),
                       (sx * (half_l - 0.06), sy * (half_d - 0.06), -thickness - leg_h / 2),
                       table_color * 0.8, None)
                   for sx in (-1, 1) for sy in (-1, 1)]
    floor_id = box((4.0, 4.0, 0.025), (0.0, 0.0, -table_height - 0.025), floor_color, floor_tex)
    wall_id = box((3.0, 0.025, 1.6), (0.0, half_d + wall_gap + 0.025, -table_height + 1.6),
                  wall_color, None)
    furniture_ids: list[int] = []
    if cfg.chairs[1] > 0 or cfg.other_table_probability > 0:  # draws only when asked
        chairs = int(rng.integers(cfg.chairs[0], cfg.chairs[1] + 1))
        other = bool(rng.random() < cfg.other_table_probability)
        furniture_ids = place_furniture(
            rng, table_half=(half_l, half_d), table_height=table_height,
            wall_y=half_d + wall_gap, chairs=chairs, other_table=other,
            add_box=lambda half, pos, color: box(half, pos, color, None))
    return Room(table_length, table_depth, table_height, table_top_id, leg_ids, floor_id,
                wall_id, furniture_ids)
