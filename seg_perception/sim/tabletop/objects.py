"""Graspable objects: the kinds a scene can hold, their random specs (size, colour,
texture) and the mesh of a cylinder with flat-shaded caps."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...errors import ConfigError
from .appearance import random_color, texture_for

__all__ = ["MESH_KINDS", "OBJECT_KINDS", "PROCEDURAL_KINDS", "ObjectSpec", "cylinder_mesh",
           "mesh_spec", "procedural_spec", "spec_for"]

# Procedural shapes (exact geometry known) and meshes shipped in pybullet_data:
# kind -> (URDF path relative to pybullet_data, global scale range).
PROCEDURAL_KINDS = ("box", "cylinder", "book", "plate")
MESH_KINDS: dict[str, tuple[str, tuple[float, float]]] = {
    "cube_small": ("cube_small.urdf", (0.8, 1.4)),
    "duck": ("duck_vhacd.urdf", (0.8, 1.2)),
    "lego": ("lego/lego.urdf", (1.2, 2.2)),
    "mug": ("objects/mug.urdf", (0.75, 1.0)),
    "jenga": ("jenga/jenga.urdf", (0.6, 0.9)),
    "teddy": ("teddy_vhacd.urdf", (0.8, 1.2)),
    "blob": ("random_urdfs/{0:03d}/{0:03d}.urdf", (1.0, 1.5)),
}
OBJECT_KINDS: tuple[str, ...] = PROCEDURAL_KINDS + tuple(MESH_KINDS)
"""Every object kind a scene can contain (``SceneConfig.kinds`` picks a subset)."""


@dataclass
class ObjectSpec:
    """An object to create: kind, shape and appearance."""

    kind: str
    shape: str  # "box" | "cylinder" | "mesh"
    size: tuple[float, ...]  # box: half extents (3); cylinder: (radius, height); mesh: (scale,)
    color: np.ndarray
    texture: np.ndarray | None = None
    urdf: str = ""
    upright: bool = True

    def footprint_radius(self) -> float:
        """Radius of a circle that holds the object at any yaw (procedural shapes)."""
        if self.shape == "box":
            return float(math.hypot(self.size[0], self.size[1]))
        return float(self.size[0])

    def height(self) -> float:
        if self.shape == "box":
            return 2.0 * float(self.size[2])
        if self.shape == "cylinder":
            return float(self.size[1])
        return 0.1



def procedural_spec(kind: str, rng: np.random.Generator, tex_p: float) -> ObjectSpec:
    color = random_color(rng)
    if kind == "box":
        size: tuple[float, ...] = (rng.uniform(0.02, 0.06), rng.uniform(0.02, 0.05),
                                   rng.uniform(0.02, 0.08))
        shape = "box"
    elif kind == "cylinder":
        size, shape = (rng.uniform(0.02, 0.045), rng.uniform(0.05, 0.16)), "cylinder"
    elif kind == "book":
        size, shape = (rng.uniform(0.06, 0.11), rng.uniform(0.045, 0.08),
                       rng.uniform(0.006, 0.014)), "box"
    elif kind == "plate":
        size, shape = (rng.uniform(0.06, 0.10), rng.uniform(0.006, 0.015)), "cylinder"
    else:  # pragma: no cover - guarded by the callers
        raise ConfigError(f"{kind!r} is not a procedural kind")
    return ObjectSpec(kind, shape, tuple(float(s) for s in size), color,
                 texture_for(rng, tex_p, color, "label" if kind == "book" else None))


def mesh_spec(kind: str, rng: np.random.Generator, tex_p: float) -> ObjectSpec:
    path, (lo, hi) = MESH_KINDS[kind]
    index = int(rng.integers(0, 1000))
    color = random_color(rng)
    texture = texture_for(rng, tex_p * 0.5, color)
    return ObjectSpec(kind, "mesh", (float(rng.uniform(lo, hi)),), color, texture,
                 urdf=path.format(index), upright=kind != "blob")


def spec_for(kind: str, rng: np.random.Generator, tex_p: float) -> ObjectSpec:
    if kind in PROCEDURAL_KINDS:
        return procedural_spec(kind, rng, tex_p)
    return mesh_spec(kind, rng, tex_p)


def cylinder_mesh(radius: float, height: float, segments: int = 48,
                   ) -> tuple[list[list[float]], list[int], list[list[float]], list[list[float]]]:
    """Vertices, triangle indices, normals and uvs of a z-axis cylinder centred on the origin.

    Caps and side have separate vertices, so caps shade flat and sides round.
    """
    verts: list[list[float]] = []
    normals: list[list[float]] = []
    uvs: list[list[float]] = []
    faces: list[int] = []
    half = height / 2
    for k in range(segments + 1):  # the seam is duplicated so the texture wraps once
        a = 2 * math.pi * k / segments
        c, s = math.cos(a), math.sin(a)
        for z, v in ((-half, 0.0), (half, 1.0)):
            verts.append([radius * c, radius * s, z])
            normals.append([c, s, 0.0])
            uvs.append([k / segments, v])
    for k in range(segments):
        i = 2 * k
        faces += [i, i + 2, i + 3, i, i + 3, i + 1]
    for z, sign in ((half, 1.0), (-half, -1.0)):
        centre = len(verts)
        verts.append([0.0, 0.0, z])
        normals.append([0.0, 0.0, sign])
        uvs.append([0.5, 0.5])
        for k in range(segments):
            a = 2 * math.pi * k / segments
            verts.append([radius * math.cos(a), radius * math.sin(a), z])
            normals.append([0.0, 0.0, sign])
            uvs.append([0.5 + 0.5 * math.cos(a), 0.5 + 0.5 * math.sin(a)])
        for k in range(segments):
            a_, b_ = centre + 1 + k, centre + 1 + (k + 1) % segments
            faces += [centre, a_, b_] if sign > 0 else [centre, b_, a_]
    return verts, faces, normals, uvs

