"""Room furniture for :class:`~seg_perception.sim.scenes.TabletopSim`: chairs and other
tables around the work table, and the work table's shape.

World frame as in :mod:`~seg_perception.sim.scenes`: z up, the work table's top is
z = 0, the floor is at ``-table_height``, the wall is at +y behind the table, the
camera looks from -y. Furniture is static and is never an object (instance label
0, semantic ``unknown``): what a live camera sees around the table.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

__all__ = ["TABLE_SHAPES", "chair_boxes", "place_furniture", "table_boxes"]

TABLE_SHAPES: tuple[str, ...] = ("rect", "round")
"""Work table tops: ``rect`` (a slab with four legs) or ``round`` (a disc on one column)."""

# A static box: half extents, centre (world), colour (0-1).
Box = tuple[tuple[float, float, float], tuple[float, float, float], np.ndarray]


def _rotated(xy: Sequence[float], yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([c * xy[0] - s * xy[1], s * xy[0] + c * xy[1]])


def chair_boxes(centre: np.ndarray, yaw: float, floor_z: float, color: np.ndarray,
                rng: np.random.Generator) -> list[Box]:
    """A chair as boxes (seat, four legs, backrest) standing on the floor; the back is
    on the chair's +y side before ``yaw``."""
    seat_w = float(rng.uniform(0.38, 0.48))
    seat_h = float(rng.uniform(0.42, 0.48))
    back_h = float(rng.uniform(0.35, 0.5))
    t = 0.03
    boxes: list[Box] = []

    def add(half: Sequence[float], local: Sequence[float], z: float, shade: float = 1.0) -> None:
        xy = centre + _rotated(local[:2], yaw)
        hx, hy = (abs(a) for a in _rotated(half[:2], yaw)) if abs(math.sin(2 * yaw)) < 1e-6 \
            else (max(half[0], half[1]),) * 2
        boxes.append(((float(hx), float(hy), float(half[2])), (float(xy[0]), float(xy[1]), z),
                      np.clip(color * shade, 0, 1)))

    add((seat_w / 2, seat_w / 2, t / 2), (0, 0), floor_z + seat_h - t / 2)
    for sx in (-1, 1):
        for sy in (-1, 1):
            add((0.015, 0.015, (seat_h - t) / 2), (sx * (seat_w / 2 - 0.03), sy * (seat_w / 2 - 0.03)),
                floor_z + (seat_h - t) / 2, 0.8)
    add((seat_w / 2, 0.015, back_h / 2), (0, seat_w / 2 - 0.015), floor_z + seat_h + back_h / 2,
        0.9)
    return boxes


def table_boxes(centre: np.ndarray, length: float, depth: float, height: float,
                floor_z: float, color: np.ndarray) -> list[Box]:
    """Another table (top and four legs), top at ``floor_z + height``."""
    t = 0.03
    top_z = floor_z + height
    boxes: list[Box] = [((length / 2, depth / 2, t / 2), (float(centre[0]), float(centre[1]),
                                                          top_z - t / 2), color)]
    for sx in (-1, 1):
        for sy in (-1, 1):
            boxes.append(((0.025, 0.025, (height - t) / 2),
                          (float(centre[0] + sx * (length / 2 - 0.06)),
                           float(centre[1] + sy * (depth / 2 - 0.06)), floor_z + (height - t) / 2),
                          np.clip(color * 0.8, 0, 1)))
    return boxes


def place_furniture(rng: np.random.Generator, *, table_half: tuple[float, float],
                    table_height: float, wall_y: float, chairs: int, other_table: bool,
                    add_box: Callable[[tuple[float, float, float], tuple[float, float, float],
                                       np.ndarray], int]) -> list[int]:
    """Create chairs and maybe a second table 0.3-2 m from the work table's edges
    (behind it, between table and wall, or beside it); returns the body ids.

    Chairs stand behind or beside the table, pushed in or 0.2-1 m away; the other
    table stands beside the work table with a gap of 0.3-1.5 m, at its own height.
    """
    half_l, half_d = table_half
    floor_z = -table_height
    ids: list[int] = []
    taken: list[tuple[np.ndarray, float]] = []  # centre xy, radius

    def free(xy: np.ndarray, radius: float) -> bool:
        return all(np.linalg.norm(xy - c) >= radius + r for c, r in taken) and \
            xy[1] + radius < wall_y

    if other_table:
        for _ in range(20):
            length, depth = float(rng.uniform(0.6, 1.4)), float(rng.uniform(0.5, 0.9))
            side = 1.0 if rng.random() < 0.5 else -1.0
            gap = float(rng.uniform(0.3, 1.5))
            xy = np.array([side * (half_l + gap + length / 2),
                           float(rng.uniform(-half_d, half_d + 0.5))])
            radius = math.hypot(length, depth) / 2
            if free(xy, radius):
                height = table_height + float(rng.uniform(-0.05, 0.05))
                color = np.clip(rng.uniform(0.2, 0.9, 3), 0, 1)
                ids += [add_box(*b) for b in table_boxes(xy, length, depth, height, floor_z,
                                                          color)]
                taken.append((xy, radius))
                break
    for _ in range(chairs):
        for _attempt in range(20):
            if rng.random() < 0.5:  # behind the table, facing it
                xy = np.array([float(rng.uniform(-half_l, half_l)),
                               half_d + float(rng.uniform(0.1, 1.0))])
                yaw = 0.0
            else:  # beside it
                side = 1.0 if rng.random() < 0.5 else -1.0
                xy = np.array([side * (half_l + float(rng.uniform(0.2, 1.0))),
                               float(rng.uniform(-half_d, half_d + 0.6))])
                yaw = -side * math.pi / 2  # the back away from the table
            if free(xy, 0.33):
                color = np.clip(rng.uniform(0.1, 0.8) + rng.uniform(-0.1, 0.1, 3), 0, 1)
                ids += [add_box(*b) for b in chair_boxes(xy, yaw, floor_z, color, rng)]
                taken.append((xy, 0.33))
                break
    return ids
