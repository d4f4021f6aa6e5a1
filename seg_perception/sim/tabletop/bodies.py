"""pybullet bodies of a scene: static boxes and discs (room, table) and the graspable
objects made from an :class:`~.objects.ObjectSpec`."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from .objects import ObjectSpec, cylinder_mesh

if TYPE_CHECKING:  # pragma: no cover
    from pybullet_utils.bullet_client import BulletClient

__all__ = ["Body", "TextureLoader", "create_object", "static_box", "static_disc"]

TextureLoader = Callable[[np.ndarray], int]
"""Loads an ``uint8[H, W, 3]`` RGB texture into the client, returns its texture id."""


@dataclass
class Body:
    """A graspable object in the pybullet world and what the ground truth needs of it."""

    body_id: int
    instance_id: int
    kind: str
    name: str
    extents: np.ndarray
    center_offset: np.ndarray  # bounding box centre in the body frame
    color: tuple[int, int, int]

    def renumbered(self, instance_id: int) -> "Body":
        """The same body under another instance id (and the name that goes with it)."""
        return Body(self.body_id, instance_id, self.kind, f"{self.kind}_{instance_id}",
                    self.extents, self.center_offset, self.color)


def static_box(p: "BulletClient", half: Sequence[float], pos: Sequence[float], color: np.ndarray,
               texture: np.ndarray | None, load_texture: TextureLoader) -> int:
    """A static (mass 0) box of half extents ``half`` centred on ``pos``."""
    col = p.createCollisionShape(p.GEOM_BOX, halfExtents=list(half))
    vis = p.createVisualShape(p.GEOM_BOX, halfExtents=list(half),
                              rgbaColor=[*(color if texture is None else np.ones(3)), 1.0])
    body = p.createMultiBody(0.0, col, vis, list(pos))
    if texture is not None:
        p.changeVisualShape(body, -1, textureUniqueId=load_texture(texture))
    p.changeDynamics(body, -1, lateralFriction=0.8)
    return int(body)


def static_disc(p: "BulletClient", radius: float, thickness: float, color: np.ndarray,
                texture: np.ndarray | None, load_texture: TextureLoader) -> int:
    """A round table top: a static cylinder whose top face is z = 0."""
    col = p.createCollisionShape(p.GEOM_CYLINDER, radius=radius, height=thickness)
    verts, faces, normals, uvs = cylinder_mesh(radius, thickness)
    vis = p.createVisualShape(p.GEOM_MESH, vertices=verts, indices=faces, normals=normals,
                              uvs=uvs, rgbaColor=[*(color if texture is None else np.ones(3)),
                                                  1.0])
    body = p.createMultiBody(0.0, col, vis, [0.0, 0.0, -thickness / 2])
    if texture is not None:
        p.changeVisualShape(body, -1, textureUniqueId=load_texture(texture))
    p.changeDynamics(body, -1, lateralFriction=0.8)
    return int(body)


def create_object(p: "BulletClient", spec: ObjectSpec, instance_id: int,
                  load_texture: TextureLoader) -> Body:
    """A dynamic body for ``spec``, parked below the floor until it is placed."""
    rgba = [*(spec.color if spec.texture is None else np.ones(3)), 1.0]
    if spec.shape == "box":
        col = p.createCollisionShape(p.GEOM_BOX, halfExtents=list(spec.size))
        vis = p.createVisualShape(p.GEOM_BOX, halfExtents=list(spec.size), rgbaColor=rgba)
        mass = 0.5 * 8 * spec.size[0] * spec.size[1] * spec.size[2] * 1000 + 0.02
        body = p.createMultiBody(mass, col, vis, [0, 0, -5.0 - instance_id])
    elif spec.shape == "cylinder":
        r, h = spec.size
        col = p.createCollisionShape(p.GEOM_CYLINDER, radius=r, height=h)
        # Own mesh: pybullet's cylinder shares normals between cap and side,
        # which shades flat caps like cones.
        verts, faces, normals, uvs = cylinder_mesh(r, h)
        vis = p.createVisualShape(p.GEOM_MESH, vertices=verts, indices=faces, normals=normals,
                                  uvs=uvs, rgbaColor=rgba)
        mass = 0.5 * math.pi * r * r * h * 1000 + 0.02
        body = p.createMultiBody(mass, col, vis, [0, 0, -5.0 - instance_id])
    else:
        body = p.loadURDF(spec.urdf, [0, 0, -5.0 - instance_id], globalScaling=spec.size[0])
        p.changeVisualShape(body, -1, rgbaColor=rgba)
    if spec.texture is not None:
        p.changeVisualShape(body, -1, textureUniqueId=load_texture(spec.texture))
    p.changeDynamics(body, -1, lateralFriction=0.9, rollingFriction=1e-3,
                     spinningFriction=1e-3)
    pos = np.asarray(p.getBasePositionAndOrientation(body)[0])
    lo, hi = (np.asarray(a) for a in p.getAABB(body))
    if spec.shape == "box":
        extents, offset = 2.0 * np.asarray(spec.size), np.zeros(3)
    elif spec.shape == "cylinder":
        r, h = spec.size
        extents, offset = np.array([2 * r, 2 * r, h]), np.zeros(3)
    else:  # the collision AABB at identity orientation is the body-frame box
        extents, offset = hi - lo, (hi + lo) / 2 - pos
    color = tuple(int(round(c * 255)) for c in spec.color)
    return Body(int(body), instance_id, spec.kind, f"{spec.kind}_{instance_id}",
                extents, offset, color)  # type: ignore[arg-type]
