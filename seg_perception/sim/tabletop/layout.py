"""Scene layout: which objects a scene holds and where they start, hard cases built
on purpose (``touching``, ``stacked``, ``occluded``, ``thin_flat``) as groups of
objects placed together, offsets relative to the group's anchor on the table."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .config import HARD_CASES, SceneConfig
from .objects import ObjectSpec, procedural_spec, spec_for

__all__ = ["Group", "Placement", "sample_groups"]


@dataclass
class Placement:
    """One object of a group: its spec, offset from the anchor and yaw."""

    spec: ObjectSpec
    xy: np.ndarray
    z_base: float = 0.0  # height of the object's bottom above the table top
    yaw: float = 0.0


@dataclass
class Group:
    """Objects placed together (a hard case); offsets relative to the group anchor."""

    members: list[Placement]
    case: str | None = None
    aim: tuple[float, float] | None = None  # occluder (distance, lateral offset) toward the camera

    def aim_at(self, anchor: np.ndarray, camera_xy: np.ndarray) -> None:
        """Put the second member between the first and the camera (occlusion groups)."""
        if self.aim is None:
            return
        toward = np.asarray(camera_xy, np.float64) - anchor
        toward /= max(float(np.linalg.norm(toward)), 1e-6)
        side = np.array([-toward[1], toward[0]])
        self.members[1].xy = self.aim[0] * toward + self.aim[1] * side



def _rotate(xy: np.ndarray, yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([c * xy[0] - s * xy[1], s * xy[0] + c * xy[1]])


def _touching_group(rng: np.random.Generator, tex_p: float) -> Group:
    """Two or three objects in contact: a box with a box or cylinder against its sides."""
    gap = 5e-4  # a hair apart, so the solver does not start from interpenetration
    a = procedural_spec("box", rng, tex_p)
    a.size = (rng.uniform(0.03, 0.06), rng.uniform(0.025, 0.05), rng.uniform(0.03, 0.07))
    members = [Placement(a, np.zeros(2))]
    b = procedural_spec(str(rng.choice(["box", "cylinder"])), rng, tex_p)
    if b.shape == "box":
        b.size = (rng.uniform(0.025, 0.05), rng.uniform(0.025, 0.05), rng.uniform(0.03, 0.08))
        x = a.size[0] + b.size[0] + gap
        y = rng.uniform(-0.5, 0.5) * min(a.size[1], b.size[1])
    else:
        x = a.size[0] + b.size[0] + gap
        y = rng.uniform(-0.5, 0.5) * a.size[1]
    members.append(Placement(b, np.array([x, y])))
    if rng.random() < 0.4:
        c = procedural_spec("box", rng, tex_p)
        c.size = (rng.uniform(0.02, 0.04), rng.uniform(0.02, 0.04), rng.uniform(0.03, 0.07))
        members.append(Placement(c, np.array([rng.uniform(-0.3, 0.3) * a.size[0],
                                               -(a.size[1] + c.size[1] + gap)])))
    yaw = rng.uniform(-np.pi, np.pi)
    for m in members:
        m.xy = _rotate(m.xy, yaw)
        m.yaw = yaw
    return Group(members, "touching")


def _stacked_group(rng: np.random.Generator, tex_p: float) -> Group:
    """A small box or cylinder resting on a wider, low box."""
    base = procedural_spec("box", rng, tex_p)
    base.size = (rng.uniform(0.045, 0.07), rng.uniform(0.04, 0.065), rng.uniform(0.02, 0.045))
    top = procedural_spec(str(rng.choice(["box", "cylinder"])), rng, tex_p)
    room = min(base.size[0], base.size[1])
    if top.shape == "box":
        top.size = (rng.uniform(0.45, 0.75) * room, rng.uniform(0.45, 0.75) * room,
                    rng.uniform(0.02, 0.05))
    else:
        top.size = (rng.uniform(0.5, 0.8) * room, rng.uniform(0.04, 0.10))
    yaw = rng.uniform(-np.pi, np.pi)
    offset = _rotate(rng.uniform(-0.2, 0.2, 2) * room, yaw)
    return Group([Placement(base, np.zeros(2), yaw=yaw),
                   Placement(top, offset, z_base=2.0 * base.size[2] + 1e-3,
                              yaw=yaw + rng.uniform(-0.6, 0.6))], "stacked")


def _occluded_group(rng: np.random.Generator, tex_p: float, toward_camera: np.ndarray,
                    camera_height: float, camera_range: float) -> Group:
    """A target with a taller object between it and the camera, a little to one side."""
    target = procedural_spec(str(rng.choice(["box", "cylinder"])), rng, tex_p)
    if target.shape == "box":
        target.size = (rng.uniform(0.03, 0.05), rng.uniform(0.03, 0.05), rng.uniform(0.025, 0.05))
    else:
        target.size = (rng.uniform(0.03, 0.045), rng.uniform(0.05, 0.10))
    occluder = procedural_spec(str(rng.choice(["box", "cylinder"])), rng, tex_p)
    r_o = rng.uniform(0.025, 0.04)
    gap = rng.uniform(0.01, 0.04)
    s = target.footprint_radius() + r_o + gap
    # Height of the line of sight to the target's middle, above the occluder's spot.
    h_t = target.height()
    h_line = h_t / 2 + s * (camera_height - h_t / 2) / max(camera_range, 1e-3)
    h_o = float(np.clip(h_line + rng.uniform(0.0, 0.05), 0.10, 0.25))
    if occluder.shape == "box":
        occluder.size = (r_o / math.sqrt(2), r_o / math.sqrt(2), h_o / 2)
    else:
        occluder.size = (r_o, h_o)
    lateral = rng.uniform(-0.6, 0.6) * target.footprint_radius()
    yaw = rng.uniform(-np.pi, np.pi)
    group = Group([Placement(target, np.zeros(2), yaw=yaw),
                    Placement(occluder, np.zeros(2), yaw=yaw)], "occluded", aim=(s, lateral))
    group.aim_at(np.zeros(2), toward_camera)
    return group


def _thin_flat_group(rng: np.random.Generator, tex_p: float) -> Group:
    spec = procedural_spec(str(rng.choice(["book", "plate"])), rng, tex_p)
    return Group([Placement(spec, np.zeros(2), yaw=rng.uniform(-np.pi, np.pi))], "thin_flat")



def sample_groups(rng: np.random.Generator, cfg: SceneConfig, camera_eye: np.ndarray,
                  ) -> list[Group]:
    """The objects of a scene, hard cases first (each with ``cfg.hard_case_probability``
    while the object budget lasts), then single objects of random kinds."""
    n = int(rng.integers(cfg.num_objects[0], cfg.num_objects[1] + 1))
    tex_p = cfg.texture_probability
    eye_xy = camera_eye[:2]
    toward = eye_xy / max(float(np.linalg.norm(eye_xy)), 1e-6)  # table centre -> camera
    groups: list[Group] = []
    budget = n
    order = [HARD_CASES[i] for i in rng.permutation(len(HARD_CASES))]
    for case in order:
        u = rng.random()
        if case not in cfg.hard_cases or u >= cfg.hard_case_probability:
            continue
        if case == "touching":
            group = _touching_group(rng, tex_p)
        elif case == "stacked":
            group = _stacked_group(rng, tex_p)
        elif case == "occluded":
            group = _occluded_group(rng, tex_p, toward, float(camera_eye[2]),
                                    float(np.linalg.norm(eye_xy)))
        else:
            group = _thin_flat_group(rng, tex_p)
        if len(group.members) <= budget:
            groups.append(group)
            budget -= len(group.members)
    kinds = list(cfg.kinds)
    for _ in range(budget):
        kind = kinds[int(rng.integers(0, len(kinds)))]
        groups.append(Group([Placement(spec_for(kind, rng, tex_p), np.zeros(2))]))
    return groups
