"""Putting a scene's objects on the table: each group (a hard case or a single
object) is created in pybullet and placed where its footprint is free, or dropped
in a pile in ``dense`` clutter; physics then lets everything come to rest."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .bodies import Body, TextureLoader, create_object
from .config import SceneConfig
from .layout import Group
from .transforms import quat_to_matrix, yaw_quat

if TYPE_CHECKING:  # pragma: no cover
    from pybullet_utils.bullet_client import BulletClient

__all__ = ["fallen", "place_groups", "settle"]


def place_groups(p: "BulletClient", groups: list[Group], rng: np.random.Generator,
                 cfg: SceneConfig, table_size: tuple[float, float], camera_eye: np.ndarray,
                 load_texture: TextureLoader) -> dict[int, Body]:
    """Create the bodies, then put each group where its footprint is free; a group
    with no room left is dropped. Returns the bodies by instance id, 1..N in order."""
    half_region = np.minimum(np.asarray(cfg.object_region_m) / 2,
                             np.array([table_size[0], table_size[1]]) / 2 - 0.06)
    gap = {"separated": 0.03, "random": 0.005, "dense": 0.0}[cfg.clutter]
    placed: list[tuple[np.ndarray, float]] = []  # (centre xy, radius)
    created: dict[int, Body] = {}
    next_id = 1
    drop_height = 0.0
    for group in groups:
        bodies = []
        for m in group.members:
            body = create_object(p, m.spec, next_id, load_texture)
            bodies.append(body)
            next_id += 1
        tumble = cfg.clutter == "dense" and group.case is None
        # Footprint: a circle that holds the object at any yaw (any orientation if tumbled).
        radius = max(float(np.linalg.norm(m.xy)) + (
            m.spec.size[0] if m.spec.shape == "cylinder" and not tumble else
            float(np.linalg.norm(b.extents[:3 if tumble or not m.spec.upright else 2])) / 2)
            for m, b in zip(group.members, bodies))
        anchor = None
        # Hard cases stay near the middle, where the camera looks, to stay in view.
        spread = 0.6 if tumble else (0.7 if group.case else 1.0)
        for _attempt in range(60):
            cand = rng.uniform(-1, 1, 2) * half_region * spread
            if tumble or all(np.linalg.norm(cand - c) >= radius + r + gap for c, r in placed):
                anchor = cand
                break
        if anchor is None:  # no room left: drop the group
            for b in bodies:
                p.removeBody(b.body_id)
            continue
        group.aim_at(anchor, camera_eye[:2])
        placed.append((anchor, radius))
        for m, b in zip(group.members, bodies):
            if tumble or not m.spec.upright:
                quat = tuple(p.getQuaternionFromEuler(list(rng.uniform(-np.pi, np.pi, 3))))
            else:
                quat = yaw_quat(m.yaw if group.case else rng.uniform(-np.pi, np.pi))
            R = quat_to_matrix(quat)
            corners = (np.array([[sx, sy, sz] for sx in (-.5, .5) for sy in (-.5, .5)
                                 for sz in (-.5, .5)]) * b.extents + b.center_offset) @ R.T
            z = m.z_base - corners[:, 2].min() + 1e-3
            if tumble:
                z += drop_height
                drop_height += float(corners[:, 2].max() - corners[:, 2].min()) + 0.01
            xy = anchor + m.xy
            p.resetBasePositionAndOrientation(b.body_id, [float(xy[0]), float(xy[1]), z],
                                              list(quat))
            created[b.instance_id] = b
    # Renumber 1..N in creation order (groups may have been dropped).
    return {i + 1: b.renumbered(i + 1) for i, b in enumerate(created.values())}


def settle(p: "BulletClient", bodies: dict[int, Body], steps: int) -> None:
    """Run ``steps`` physics steps (240 Hz), a few more rounds while anything still
    moves, then stop every object (a render must not see drifting objects)."""
    for _ in range(steps):
        p.stepSimulation()
    for _ in range(3):  # a few more rounds while anything still moves
        speeds = [np.linalg.norm(p.getBaseVelocity(b.body_id)[0]) for b in bodies.values()]
        if not speeds or max(speeds) < 0.01:
            break
        for _ in range(120):
            p.stepSimulation()
    for b in bodies.values():  # freeze: a render must not see drifting objects
        p.resetBaseVelocity(b.body_id, [0, 0, 0], [0, 0, 0])


def fallen(p: "BulletClient", bodies: dict[int, Body]) -> list[int]:
    """Instance ids of the objects whose box centre is more than 1 cm below the table top
    (they fell off the table)."""
    out = []
    for i, b in bodies.items():
        pos, quat = p.getBasePositionAndOrientation(b.body_id)
        if (np.asarray(pos) + quat_to_matrix(quat) @ b.center_offset)[2] < -0.01:
            out.append(i)
    return out
