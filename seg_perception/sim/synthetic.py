"""Analytic RGB-D tabletop scenes: exact ground truth for tests and examples.

A vectorised ray caster (no physics, no renderer) of a table, floor and wall
with boxes and upright cylinders on the table. Every pixel's depth, instance id
and layout class is exact, so tests can state tight bounds. For physics,
clutter and sensor noise use :mod:`seg_perception.sim.scenes` (pybullet).

World frame: z up, table top is the plane z = 0 centred on the origin.
Camera frame: optical (x right, y down, z forward), metres.

Example:
    >>> scene = render_scene(preset_objects("separated"), width=160, height=120)
    >>> scene.frame.depth.shape, int(scene.instance_labels.max())
    ((120, 160), 3)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence, Union

import numpy as np

from ..frames import CameraIntrinsics, RGBDFrame
from ..results import LAYOUT_CLASSES, Plane

__all__ = [
    "Box",
    "CameraPose",
    "Cylinder",
    "SyntheticScene",
    "default_intrinsics",
    "look_at",
    "preset_objects",
    "render_scene",
]

_SUPPORT, _FLOOR, _WALL, _OBJECT, _UNKNOWN = (LAYOUT_CLASSES.index(n) for n in (
    "support_surface", "floor", "wall", "object", "unknown"))


@dataclass(frozen=True)
class Box:
    """A box standing on ``z_base`` (table top = 0), rotated by ``yaw`` about z.

    ``center_xy`` metres (world), ``size`` full extents (x, y, z) metres.
    """

    center_xy: tuple[float, float]
    size: tuple[float, float, float]
    yaw: float = 0.0
    color: tuple[int, int, int] = (200, 40, 40)
    z_base: float = 0.0
    striped: bool = False

    @property
    def center(self) -> np.ndarray:
        return np.array([*self.center_xy, self.z_base + self.size[2] / 2])


@dataclass(frozen=True)
class Cylinder:
    """An upright cylinder standing on ``z_base``."""

    center_xy: tuple[float, float]
    radius: float
    height: float
    color: tuple[int, int, int] = (40, 60, 200)
    z_base: float = 0.0
    striped: bool = False

    @property
    def center(self) -> np.ndarray:
        return np.array([*self.center_xy, self.z_base + self.height / 2])


Primitive = Union[Box, Cylinder]


@dataclass(frozen=True)
class CameraPose:
    """Camera-to-world pose: ``p_world = rotation @ p_cam + position``."""

    rotation: np.ndarray
    position: np.ndarray

    def world_to_camera(self, points: np.ndarray) -> np.ndarray:
        return (np.asarray(points) - self.position) @ self.rotation


def look_at(eye: Sequence[float], target: Sequence[float] = (0.0, 0.0, 0.0),
            up: Sequence[float] = (0.0, 0.0, 1.0)) -> CameraPose:
    """Pose of an optical-frame camera at ``eye`` looking at ``target`` (world up = ``up``)."""
    eye_v, target_v, up_v = (np.asarray(a, np.float64) for a in (eye, target, up))
    z = target_v - eye_v
    z /= np.linalg.norm(z)
    x = np.cross(z, up_v)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return CameraPose(rotation=np.stack([x, y, z], axis=1), position=eye_v)


def default_intrinsics(width: int = 320, height: int = 240) -> CameraIntrinsics:
    """A Kinect/RealSense-like field of view (about 62 x 48 degrees) at any size."""
    f = 525.0 * width / 640.0
    return CameraIntrinsics(width, height, f, f, (width - 1) / 2, (height - 1) / 2)


@dataclass(frozen=True, eq=False)
class SyntheticScene:
    """A rendered scene and its exact truth.

    Attributes:
        frame: the RGB-D frame (depth exact, 0 where a ray hits nothing).
        instance_labels: ``uint16[H, W]``, ``i + 1`` where object ``i`` is visible.
        semantic_labels: ``uint8[H, W]`` indices into ``LAYOUT_CLASSES``.
        objects: the primitives, index ``i`` = label ``i + 1``.
        centers_cam: ``float64[N, 3]`` true solid centres, camera frame.
        table_plane: the table top plane in the camera frame (normal up).
        camera: camera-to-world pose.
    """

    frame: RGBDFrame
    instance_labels: np.ndarray
    semantic_labels: np.ndarray
    objects: tuple[Primitive, ...]
    centers_cam: np.ndarray
    table_plane: Plane
    camera: CameraPose
    extras: dict = field(default_factory=dict)

    def visible_centroids(self) -> np.ndarray:
        """``float64[N, 3]`` mean of each object's visible surface points (camera frame)."""
        from ..geometry.projection import depth_to_points
        out = np.full((len(self.objects), 3), np.nan)
        for i in range(len(self.objects)):
            pts, _ = depth_to_points(self.frame.depth, self.frame.intrinsics,
                                     self.instance_labels == i + 1)
            if len(pts):
                out[i] = pts.mean(axis=0)
        return out


def _hit_plane(origin, dirs, normal, offset):
    denom = dirs @ normal
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -(origin @ normal + offset) / denom
    t[~np.isfinite(t) | (t <= 0)] = np.inf
    return t


def _hit_box(origin, dirs, box: Box):
    """Ray parameter of the nearest hit on an oriented box (inf if none)."""
    c, s = np.cos(box.yaw), np.sin(box.yaw)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    o = (origin - box.center) @ rot
    d = dirs @ rot
    half = np.asarray(box.size) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (-half - o) / d
        t2 = (half - o) / d
    t_near = np.nanmax(np.minimum(t1, t2), axis=1)
    t_far = np.nanmin(np.maximum(t1, t2), axis=1)
    hit = (t_near <= t_far) & (t_near > 0)
    return np.where(hit, t_near, np.inf)


def _hit_cylinder(origin, dirs, cyl: Cylinder):
    cx, cy = cyl.center_xy
    ox, oy = origin[0] - cx, origin[1] - cy
    dx, dy, dz = dirs[:, 0], dirs[:, 1], dirs[:, 2]
    a = dx * dx + dy * dy
    b = 2 * (ox * dx + oy * dy)
    cc = ox * ox + oy * oy - cyl.radius ** 2
    disc = b * b - 4 * a * cc
    with np.errstate(divide="ignore", invalid="ignore"):
        t_side = (-b - np.sqrt(np.where(disc >= 0, disc, np.nan))) / (2 * a)
    z_side = origin[2] + t_side * dz
    side_ok = (disc >= 0) & (t_side > 0) & (z_side >= cyl.z_base) & (z_side <= cyl.z_base + cyl.height)
    t = np.where(side_ok, t_side, np.inf)
    for z_cap in (cyl.z_base + cyl.height, cyl.z_base):
        with np.errstate(divide="ignore", invalid="ignore"):
            t_cap = (z_cap - origin[2]) / dz
        px, py = ox + t_cap * dx, oy + t_cap * dy
        cap_ok = (t_cap > 0) & (px * px + py * py <= cyl.radius ** 2)
        t = np.where(cap_ok & (t_cap < t), t_cap, t)
    return t


def _stripes(points_world: np.ndarray, period: float = 0.02) -> np.ndarray:
    return (np.floor(points_world[:, 2] / period) % 2).astype(np.float32)


def render_scene(objects: Sequence[Primitive], width: int = 320, height: int = 240,
                 camera: CameraPose | None = None, intrinsics: CameraIntrinsics | None = None,
                 table_size: tuple[float, float] = (1.2, 0.8), table_height: float = 0.75,
                 wall_distance: float = 0.6, light: Sequence[float] = (0.3, -0.4, 1.0),
                 stamp_ns: int = 0) -> SyntheticScene:
    """Ray-cast the scene and return the frame with its exact truth."""
    intrinsics = intrinsics or default_intrinsics(width, height)
    camera = camera or look_at((0.0, -0.55, 0.55))
    # Rays with camera-frame z = 1, so the ray parameter t is the depth. float64 on
    # purpose, not CameraIntrinsics.pixel_rays() (float32): the caster is exact to the
    # float, and float32 rays change depth in its last bits and labels at contact seams.
    u = (np.arange(width) - intrinsics.cx) / intrinsics.fx
    v = (np.arange(height) - intrinsics.cy) / intrinsics.fy
    uu, vv = np.meshgrid(u, v)
    dirs_cam = np.stack([uu, vv, np.ones_like(uu)], axis=-1).reshape(-1, 3)
    dirs = dirs_cam @ camera.rotation.T
    origin = camera.position

    n_pix = dirs.shape[0]
    best_t = np.full(n_pix, np.inf)
    instance = np.zeros(n_pix, np.uint16)
    semantic = np.full(n_pix, _UNKNOWN, np.uint8)
    base_color = np.zeros((n_pix, 3), np.float32)
    striped = np.zeros(n_pix, bool)

    def take(t, inst, sem, color, stripe=False):
        closer = t < best_t
        best_t[closer] = t[closer]
        instance[closer] = inst
        semantic[closer] = sem
        base_color[closer] = color
        striped[closer] = stripe

    tx, ty = table_size[0] / 2, table_size[1] / 2
    t_floor = _hit_plane(origin, dirs, np.array([0, 0, 1.0]), table_height)
    take(t_floor, 0, _FLOOR, (110, 110, 120))
    t_wall = _hit_plane(origin, dirs, np.array([0, -1.0, 0]), ty + wall_distance)
    take(t_wall, 0, _WALL, (225, 222, 215))
    table_top = Box((0.0, 0.0), (2 * tx, 2 * ty, 0.04), z_base=-0.04)
    t_table = _hit_box(origin, dirs, table_top)
    hit_points = origin + np.where(np.isfinite(t_table), t_table, 0)[:, None] * dirs
    on_top = np.isfinite(t_table) & (np.abs(hit_points[:, 2]) < 1e-6)
    take(np.where(on_top, t_table, np.inf), 0, _SUPPORT, (176, 128, 82))
    take(np.where(~on_top, t_table, np.inf), 0, _UNKNOWN, (120, 86, 55))
    for i, obj in enumerate(objects):
        t = _hit_box(origin, dirs, obj) if isinstance(obj, Box) else _hit_cylinder(origin, dirs, obj)
        take(t, i + 1, _OBJECT, obj.color, obj.striped)

    hit = np.isfinite(best_t)
    depth = np.where(hit, best_t, 0.0).astype(np.float32).reshape(height, width)
    points_world = origin + np.where(hit, best_t, 0)[:, None] * dirs
    # Lambertian shading from normals of the exact surface (finite differences).
    xyz = points_world.reshape(height, width, 3)
    gx = np.gradient(xyz, axis=1)
    gy = np.gradient(xyz, axis=0)
    normals = np.cross(gx, gy).reshape(-1, 3)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    normals *= np.sign((normals * -dirs).sum(axis=1, keepdims=True) + 1e-12)
    light_dir = np.asarray(light, np.float64) / np.linalg.norm(light)
    shade = 0.45 + 0.55 * np.clip(normals @ light_dir, 0, 1)
    stripe = np.where(striped, 0.55 + 0.45 * _stripes(points_world), 1.0)
    rgb = np.clip(base_color * (shade * stripe)[:, None], 0, 255).astype(np.uint8)
    rgb[~hit] = 0

    up_cam = camera.rotation.T @ np.array([0, 0, 1.0])
    table_offset = -float(up_cam @ camera.world_to_camera(np.zeros(3)))
    frame = RGBDFrame.create(rgb.reshape(height, width, 3), depth, intrinsics, stamp_ns=stamp_ns)
    centers = np.array([obj.center for obj in objects]).reshape(-1, 3)
    return SyntheticScene(
        frame=frame, instance_labels=instance.reshape(height, width),
        semantic_labels=semantic.reshape(height, width), objects=tuple(objects),
        centers_cam=camera.world_to_camera(centers),
        table_plane=Plane(tuple(float(a) for a in up_cam), table_offset), camera=camera)


def preset_objects(name: str) -> list[Primitive]:
    """Named object layouts used by tests and examples.

    ``separated``: two boxes and a cylinder apart; ``touching``: two boxes in
    contact plus a cylinder touching one; ``stacked``: a box on a box;
    ``flat``: a thin book-like box; ``textured``: a striped box.
    """
    presets: dict[str, list[Primitive]] = {
        "separated": [
            Box((-0.15, 0.05), (0.08, 0.06, 0.10), yaw=0.3, color=(210, 50, 40)),
            Box((0.02, 0.12), (0.10, 0.07, 0.06), yaw=-0.5, color=(40, 170, 60)),
            Cylinder((0.16, 0.02), 0.035, 0.12, color=(40, 70, 210)),
        ],
        "touching": [
            Box((-0.05, 0.05), (0.08, 0.08, 0.10), color=(210, 50, 40)),
            Box((0.03, 0.05), (0.08, 0.08, 0.07), color=(215, 190, 40)),
            Cylinder((0.105, 0.05), 0.035, 0.14, color=(40, 70, 210)),
        ],
        "stacked": [
            Box((0.0, 0.08), (0.14, 0.10, 0.06), color=(210, 50, 40)),
            Box((0.0, 0.08), (0.08, 0.07, 0.05), yaw=0.4, color=(40, 170, 60), z_base=0.06),
        ],
        "flat": [
            Box((-0.08, 0.05), (0.15, 0.11, 0.02), yaw=0.2, color=(30, 90, 160)),
            Cylinder((0.12, 0.08), 0.03, 0.10, color=(200, 120, 30)),
        ],
        "textured": [
            Box((0.0, 0.06), (0.10, 0.08, 0.12), color=(220, 60, 60), striped=True),
        ],
    }
    try:
        return presets[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose from {sorted(presets)}") from None
