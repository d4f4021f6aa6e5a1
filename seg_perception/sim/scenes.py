"""Physically simulated tabletop RGB-D scenes with exact ground truth (pybullet).

:class:`TabletopSim` builds a random scene (floor, wall, a table with legs,
graspable objects dropped under gravity), renders it with pybullet's CPU
TinyRenderer in DIRECT mode (no display, no GPU) and returns a
:class:`SimFrame`: colour, metric depth, intrinsics, instance and layout labels
and every object's pose. Hard cases for segmentation are built on purpose and
then *verified* from the physics and the render, so a frame's tags say what is
really in the image: ``touching``, ``stacked``, ``occluded``, ``thin_flat``
(plus ``truncated`` at the image border).

Frames (REP 103):
    world: z up, the table top is the plane z = 0, the table is centred on
    the origin, the wall stands behind it at +y, the camera looks from -y.
    camera: optical (x right, y down, z forward), metres. The pose
    ``SimFrame.camera_pose`` maps world points to camera points:
    ``p_cam = T[:3, :3] @ p_world + T[:3, 3]``.

Determinism: everything random is drawn from ``numpy.random.Generator`` seeded
by the scene seed, and Bullet is single-threaded, so the same seed gives
bit-identical images, depth and labels on the same platform and pybullet build.

pybullet is imported only when a :class:`TabletopSim` is created, so importing
this module stays light. Measured cost per frame on 2 shared CPU cores
(:meth:`TabletopSim.render`, shadows off / on): 160x120 15 / 20 ms, 320x240
50 / 110 ms, 640x480 190 / 350 ms; :meth:`TabletopSim.reset` (build and settle
a scene) 80-200 ms; depth noise adds about 100 ms at 640x480.

Example:
    >>> with TabletopSim(SceneConfig(width=160, height=120), seed=3) as sim:
    ...     frame = sim.render()
    >>> frame.rgb.shape, frame.depth.dtype, frame.instance_labels.dtype
    ((120, 160, 3), dtype('float32'), dtype('uint16'))
"""
from __future__ import annotations

import math
import os
import shutil
import tempfile
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from ..errors import ConfigError
from ..frames import CameraIntrinsics, RGBDFrame
from ..results import LAYOUT_CLASSES, InstanceMasks, Plane, SemanticMap
from .depth_noise import DepthNoiseModel, apply_depth_noise
from .room import TABLE_SHAPES, place_furniture

if TYPE_CHECKING:  # pragma: no cover
    from pybullet_utils.bullet_client import BulletClient

__all__ = [
    "CLUTTER_MODES",
    "HARD_CASES",
    "OBJECT_KINDS",
    "ObjectPose",
    "SceneConfig",
    "SimFrame",
    "TabletopSim",
    "look_at_transform",
]

_UNKNOWN, _SUPPORT, _FLOOR, _WALL, _OBJECT = (LAYOUT_CLASSES.index(n) for n in (
    "unknown", "support_surface", "floor", "wall", "object"))

# Procedural shapes (exact geometry known) and meshes shipped in pybullet_data:
# kind -> (URDF path relative to pybullet_data, global scale range).
_PROCEDURAL_KINDS = ("box", "cylinder", "book", "plate")
_MESH_KINDS: dict[str, tuple[str, tuple[float, float]]] = {
    "cube_small": ("cube_small.urdf", (0.8, 1.4)),
    "duck": ("duck_vhacd.urdf", (0.8, 1.2)),
    "lego": ("lego/lego.urdf", (1.2, 2.2)),
    "mug": ("objects/mug.urdf", (0.75, 1.0)),
    "jenga": ("jenga/jenga.urdf", (0.6, 0.9)),
    "teddy": ("teddy_vhacd.urdf", (0.8, 1.2)),
    "blob": ("random_urdfs/{0:03d}/{0:03d}.urdf", (1.0, 1.5)),
}
OBJECT_KINDS: tuple[str, ...] = _PROCEDURAL_KINDS + tuple(_MESH_KINDS)
"""Every object kind a scene can contain (``SceneConfig.kinds`` picks a subset)."""

HARD_CASES: tuple[str, ...] = ("occluded", "stacked", "thin_flat", "touching")
"""Hard cases :class:`TabletopSim` can build on purpose (``SceneConfig.hard_cases``)."""

CLUTTER_MODES: tuple[str, ...] = ("dense", "random", "separated")
"""How the remaining objects are placed: ``separated`` (gaps of 3 cm or more),
``random`` (non-overlapping footprints, may touch), ``dense`` (dropped in a pile
with random orientations)."""

_THIN_M = 0.03  # an object thinner than this lying flat is "thin_flat"
_OCCLUDED_FRACTION = 0.15  # visible-box share hidden by other objects to count as occluded
_CONTACT_M = 1e-3  # bodies closer than this are in contact


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


@dataclass(frozen=True)
class ObjectPose:
    """Ground truth of one object.

    ``position_*`` / ``quaternion_*`` are the pose of the object's body frame
    (for pybullet meshes: its centre of mass); ``box_center_*`` is the centre
    of the object's bounding box (exact for boxes and cylinders, the collision
    shape's box for meshes), whose full size along the body axes is ``extents``.
    Quaternions are ``(x, y, z, w)``; positions metres.

    Attributes:
        instance_id: the object's value in ``SimFrame.instance_labels``.
        kind: one of :data:`OBJECT_KINDS`.
        name: unique name in the scene, e.g. ``"box_2"``.
        visible_pixels: pixels labelled ``instance_id`` (0 = fully hidden or out of view).
        occlusion: share of the object's projected bounding box covered by
            other objects in front of it, in [0, 1] (approximate for non-box shapes).
        tags: verified hard cases this object takes part in.
        color: base colour, RGB 0-255.
    """

    instance_id: int
    kind: str
    name: str
    position_world: tuple[float, float, float]
    quaternion_world: tuple[float, float, float, float]
    position_camera: tuple[float, float, float]
    quaternion_camera: tuple[float, float, float, float]
    box_center_world: tuple[float, float, float]
    box_center_camera: tuple[float, float, float]
    extents: tuple[float, float, float]
    visible_pixels: int
    occlusion: float
    tags: tuple[str, ...]
    color: tuple[int, int, int]

    @property
    def matrix_camera(self) -> np.ndarray:
        """``float64[4, 4]`` object-to-camera transform (body frame)."""
        T = np.eye(4)
        T[:3, :3] = _quat_to_matrix(self.quaternion_camera)
        T[:3, 3] = self.position_camera
        return T


@dataclass(frozen=True, eq=False)
class SimFrame:
    """One rendered frame and its ground truth.

    Attributes:
        rgb: ``uint8[H, W, 3]`` colour.
        depth: ``float32[H, W]`` metres along the optical axis, 0 = no
            measurement; sensor-noisy if ``SceneConfig.depth_noise``.
        depth_gt: ``float32[H, W]`` exact depth (0 where nothing was hit).
        intrinsics: pinhole model of both images.
        instance_labels: ``uint16[H, W]``, 0 = not an object, else the
            ``instance_id`` of an entry of ``object_poses``.
        semantic: ``uint8[H, W]`` indices into
            :data:`~seg_perception.results.LAYOUT_CLASSES` (unknown 0, table
            top 1, floor 2, wall 3, object 4; table sides and legs are unknown).
        object_poses: every object in the scene, by ascending ``instance_id``,
            including hidden ones (``visible_pixels == 0``).
        camera_pose: ``float64[4, 4]`` world-to-camera-optical transform.
        table_plane: the table top in the camera frame, normal pointing up.
        case_tags: sorted verified hard cases present in the frame.
        stamp_ns: simulated acquisition time.
        seed: the scene seed; frame_index: renders since the last reset.
    """

    rgb: np.ndarray
    depth: np.ndarray
    depth_gt: np.ndarray
    intrinsics: CameraIntrinsics
    instance_labels: np.ndarray
    semantic: np.ndarray
    object_poses: tuple[ObjectPose, ...]
    camera_pose: np.ndarray
    table_plane: Plane
    case_tags: tuple[str, ...]
    stamp_ns: int = 0
    seed: int = 0
    frame_index: int = 0
    frame_id: str = "camera_color_optical_frame"

    def to_rgbd_frame(self, *, exact_depth: bool = False) -> RGBDFrame:
        """The frame as pipeline input (``depth``, or ``depth_gt`` if ``exact_depth``)."""
        return RGBDFrame.create(self.rgb, self.depth_gt if exact_depth else self.depth,
                                self.intrinsics, stamp_ns=self.stamp_ns, frame_id=self.frame_id)

    def gt_instances(self) -> InstanceMasks:
        """Masks of the visible objects, by ascending instance id, class ``object``."""
        ids = [p.instance_id for p in self.object_poses if p.visible_pixels > 0]
        masks = self.instance_labels[None, :, :] == np.asarray(ids, np.uint16)[:, None, None]
        return InstanceMasks.from_masks(masks.reshape(len(ids), *self.instance_labels.shape))

    def semantic_map(self) -> SemanticMap:
        """The layout labels as a :class:`~seg_perception.results.SemanticMap`."""
        return SemanticMap(self.semantic, LAYOUT_CLASSES)

    def object_pose(self, instance_id: int) -> ObjectPose:
        """The object with ``instance_id`` (KeyError if there is none)."""
        for pose in self.object_poses:
            if pose.instance_id == instance_id:
                return pose
        raise KeyError(f"no object with instance id {instance_id} in this frame; ids are "
                       f"{[p.instance_id for p in self.object_poses]}")


# --- small math helpers ---------------------------------------------------------------

def look_at_transform(eye: Sequence[float], target: Sequence[float],
                      up: Sequence[float] = (0.0, 0.0, 1.0)) -> np.ndarray:
    """``float64[4, 4]`` world-to-optical transform of a camera at ``eye`` looking at ``target``.

    The image x axis is horizontal (perpendicular to ``up``), y points down.
    """
    eye_v = np.asarray(eye, np.float64)
    z = np.asarray(target, np.float64) - eye_v
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, np.float64))
    if np.linalg.norm(x) < 1e-9:
        raise ConfigError("look_at_transform: the view direction is parallel to 'up'")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])  # rows: camera axes in world = world-to-camera rotation
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = -R @ eye_v
    return T


def _quat_to_matrix(q: Sequence[float]) -> np.ndarray:
    x, y, z, w = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def _matrix_to_quat(R: np.ndarray) -> tuple[float, float, float, float]:
    """Rotation matrix to a unit ``(x, y, z, w)`` quaternion with w >= 0."""
    m = R
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    if tr > 0:
        s = math.sqrt(tr + 1.0) * 2
        q = ((m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s)
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2
        q = (0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s)
    elif m[1, 1] > m[2, 2]:
        s = math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2
        q = ((m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s)
    else:
        s = math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2
        q = ((m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s, (m[1, 0] - m[0, 1]) / s)
    qa = np.asarray(q)
    qa /= np.linalg.norm(qa)
    if qa[3] < 0:
        qa = -qa
    return (float(qa[0]), float(qa[1]), float(qa[2]), float(qa[3]))


def _yaw_quat(yaw: float) -> tuple[float, float, float, float]:
    return (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2))


def _tuple3(a: np.ndarray) -> tuple[float, float, float]:
    return (float(a[0]), float(a[1]), float(a[2]))


def _projection_matrix(K: CameraIntrinsics, near: float, far: float) -> list[float]:
    """OpenGL projection (column-major, 16 floats) that reproduces ``K`` in TinyRenderer.

    TinyRenderer samples pixel ``(u, v)`` at window coordinates ``(u, H - 1 - v)``
    (pixel centres on integers, rows from the top), which the ``cx`` / ``cy + 1``
    terms encode; checked to < 0.05 px against analytic projections.
    """
    W, H = K.width, K.height
    P = np.zeros((4, 4))
    P[0, 0] = 2.0 * K.fx / W
    P[0, 2] = 1.0 - 2.0 * K.cx / W
    P[1, 1] = 2.0 * K.fy / H
    P[1, 2] = 2.0 * (K.cy + 1.0) / H - 1.0
    P[2, 2] = -(far + near) / (far - near)
    P[2, 3] = -2.0 * far * near / (far - near)
    P[3, 2] = -1.0
    return P.flatten(order="F").tolist()


def _view_matrix(world_to_camera: np.ndarray) -> list[float]:
    """OpenGL view matrix (column-major): optical frame to GL eye (y up, looking down -z)."""
    return (np.diag([1.0, -1.0, -1.0, 1.0]) @ world_to_camera).flatten(order="F").tolist()


# --- appearance -------------------------------------------------------------------------

def _random_color(rng: np.random.Generator) -> np.ndarray:
    """RGB in [0, 1]: mostly saturated colours, some greys, whites and blacks."""
    import colorsys

    if rng.random() < 0.15:
        return np.full(3, rng.uniform(0.08, 0.95))
    h, s, v = rng.random(), rng.uniform(0.35, 1.0), rng.uniform(0.3, 1.0)
    return np.asarray(colorsys.hsv_to_rgb(h, s, v))


def _make_texture(rng: np.random.Generator, base: np.ndarray, style: str | None = None,
                  size: int = 64) -> np.ndarray:
    """``uint8[size, size, 3]`` RGB procedural texture around colour ``base`` (0-1)."""
    second = _random_color(rng)
    style = style or str(rng.choice(["stripes", "checker", "dots", "noise", "label"]))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    if style == "stripes":
        angle = rng.uniform(0, np.pi)
        period = rng.uniform(4, 20)
        t = (xx * np.cos(angle) + yy * np.sin(angle)) / period
        w = (np.floor(t) % 2)[..., None]
    elif style == "checker":
        period = int(rng.integers(4, 17))
        w = ((xx // period + yy // period) % 2)[..., None]
    elif style == "dots":
        period = rng.uniform(8, 16)
        r = rng.uniform(0.2, 0.4) * period
        dx, dy = (xx % period) - period / 2, (yy % period) - period / 2
        w = (dx * dx + dy * dy < r * r)[..., None]
    elif style == "wood":
        freq = rng.uniform(0.15, 0.4)
        wobble = rng.uniform(2, 6) * np.sin(xx / rng.uniform(6, 14))
        w = (0.5 + 0.5 * np.sin((yy + wobble) * freq))[..., None] * 0.6
        second = base * 0.6
    elif style == "noise":
        low = rng.random((8, 8))
        up = np.kron(low, np.ones((size // 8, size // 8)))
        w = (0.7 * up + 0.3 * rng.random((size, size)))[..., None]
    else:  # "label": a product-like box print, a band and a block of another colour
        w = np.zeros((size, size, 1))
        y0 = int(rng.integers(0, size // 2))
        w[y0:y0 + int(rng.integers(6, size // 2))] = 1.0
        x0, y1 = int(rng.integers(0, size - 16)), int(rng.integers(0, size - 16))
        w[y1:y1 + 12, x0:x0 + 16] = 0.5
    img = (1.0 - w) * base[None, None, :] + w * second[None, None, :]
    return np.clip(img * 255.0, 0, 255).astype(np.uint8)


def _cylinder_mesh(radius: float, height: float, segments: int = 48,
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


# --- scene building ---------------------------------------------------------------------

@dataclass
class _Spec:
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


@dataclass
class _Placement:
    spec: _Spec
    xy: np.ndarray
    z_base: float = 0.0  # height of the object's bottom above the table top
    yaw: float = 0.0


@dataclass
class _Group:
    """Objects placed together (a hard case); offsets relative to the group anchor."""

    members: list[_Placement]
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


@dataclass
class _Body:
    body_id: int
    instance_id: int
    kind: str
    name: str
    extents: np.ndarray
    center_offset: np.ndarray  # bounding box centre in the body frame
    color: tuple[int, int, int]


def _texture_for(rng: np.random.Generator, probability: float, color: np.ndarray,
                 style: str | None = None) -> np.ndarray | None:
    # Draw both numbers always so the stream does not depend on the outcome.
    u = rng.random()
    tex = _make_texture(rng, color, style)
    return tex if u < probability else None


def _procedural_spec(kind: str, rng: np.random.Generator, tex_p: float) -> _Spec:
    color = _random_color(rng)
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
    return _Spec(kind, shape, tuple(float(s) for s in size), color,
                 _texture_for(rng, tex_p, color, "label" if kind == "book" else None))


def _mesh_spec(kind: str, rng: np.random.Generator, tex_p: float) -> _Spec:
    path, (lo, hi) = _MESH_KINDS[kind]
    index = int(rng.integers(0, 1000))
    color = _random_color(rng)
    texture = _texture_for(rng, tex_p * 0.5, color)
    return _Spec(kind, "mesh", (float(rng.uniform(lo, hi)),), color, texture,
                 urdf=path.format(index), upright=kind != "blob")


def _spec_for(kind: str, rng: np.random.Generator, tex_p: float) -> _Spec:
    if kind in _PROCEDURAL_KINDS:
        return _procedural_spec(kind, rng, tex_p)
    return _mesh_spec(kind, rng, tex_p)


def _rotate(xy: np.ndarray, yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([c * xy[0] - s * xy[1], s * xy[0] + c * xy[1]])


def _touching_group(rng: np.random.Generator, tex_p: float) -> _Group:
    """Two or three objects in contact: a box with a box or cylinder against its sides."""
    gap = 5e-4  # a hair apart, so the solver does not start from interpenetration
    a = _procedural_spec("box", rng, tex_p)
    a.size = (rng.uniform(0.03, 0.06), rng.uniform(0.025, 0.05), rng.uniform(0.03, 0.07))
    members = [_Placement(a, np.zeros(2))]
    b = _procedural_spec(str(rng.choice(["box", "cylinder"])), rng, tex_p)
    if b.shape == "box":
        b.size = (rng.uniform(0.025, 0.05), rng.uniform(0.025, 0.05), rng.uniform(0.03, 0.08))
        x = a.size[0] + b.size[0] + gap
        y = rng.uniform(-0.5, 0.5) * min(a.size[1], b.size[1])
    else:
        x = a.size[0] + b.size[0] + gap
        y = rng.uniform(-0.5, 0.5) * a.size[1]
    members.append(_Placement(b, np.array([x, y])))
    if rng.random() < 0.4:
        c = _procedural_spec("box", rng, tex_p)
        c.size = (rng.uniform(0.02, 0.04), rng.uniform(0.02, 0.04), rng.uniform(0.03, 0.07))
        members.append(_Placement(c, np.array([rng.uniform(-0.3, 0.3) * a.size[0],
                                               -(a.size[1] + c.size[1] + gap)])))
    yaw = rng.uniform(-np.pi, np.pi)
    for m in members:
        m.xy = _rotate(m.xy, yaw)
        m.yaw = yaw
    return _Group(members, "touching")


def _stacked_group(rng: np.random.Generator, tex_p: float) -> _Group:
    """A small box or cylinder resting on a wider, low box."""
    base = _procedural_spec("box", rng, tex_p)
    base.size = (rng.uniform(0.045, 0.07), rng.uniform(0.04, 0.065), rng.uniform(0.02, 0.045))
    top = _procedural_spec(str(rng.choice(["box", "cylinder"])), rng, tex_p)
    room = min(base.size[0], base.size[1])
    if top.shape == "box":
        top.size = (rng.uniform(0.45, 0.75) * room, rng.uniform(0.45, 0.75) * room,
                    rng.uniform(0.02, 0.05))
    else:
        top.size = (rng.uniform(0.5, 0.8) * room, rng.uniform(0.04, 0.10))
    yaw = rng.uniform(-np.pi, np.pi)
    offset = _rotate(rng.uniform(-0.2, 0.2, 2) * room, yaw)
    return _Group([_Placement(base, np.zeros(2), yaw=yaw),
                   _Placement(top, offset, z_base=2.0 * base.size[2] + 1e-3,
                              yaw=yaw + rng.uniform(-0.6, 0.6))], "stacked")


def _occluded_group(rng: np.random.Generator, tex_p: float, toward_camera: np.ndarray,
                    camera_height: float, camera_range: float) -> _Group:
    """A target with a taller object between it and the camera, a little to one side."""
    target = _procedural_spec(str(rng.choice(["box", "cylinder"])), rng, tex_p)
    if target.shape == "box":
        target.size = (rng.uniform(0.03, 0.05), rng.uniform(0.03, 0.05), rng.uniform(0.025, 0.05))
    else:
        target.size = (rng.uniform(0.03, 0.045), rng.uniform(0.05, 0.10))
    occluder = _procedural_spec(str(rng.choice(["box", "cylinder"])), rng, tex_p)
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
    group = _Group([_Placement(target, np.zeros(2), yaw=yaw),
                    _Placement(occluder, np.zeros(2), yaw=yaw)], "occluded", aim=(s, lateral))
    group.aim_at(np.zeros(2), toward_camera)
    return group


def _thin_flat_group(rng: np.random.Generator, tex_p: float) -> _Group:
    spec = _procedural_spec(str(rng.choice(["book", "plate"])), rng, tex_p)
    return _Group([_Placement(spec, np.zeros(2), yaw=rng.uniform(-np.pi, np.pi))], "thin_flat")


class TabletopSim:
    """A random tabletop scene in pybullet that renders RGB-D frames with ground truth.

    Args:
        config: scene parameters (default :class:`SceneConfig`).
        seed: scene seed (default ``config.seed``); :meth:`reset` draws a new scene.

    Instance ids are assigned 1..N when a scene is built and stay with their
    objects until the next :meth:`reset`, so tracking tests can use them as
    true identities across :meth:`move_object` / :meth:`step_objects`.

    Example:
        >>> with TabletopSim(SceneConfig(width=160, height=120, num_objects=(2, 2),
        ...                              hard_cases=()), seed=1) as sim:
        ...     before = sim.render()
        ...     sim.move_object(1, dx=0.02)
        ...     after = sim.render()
        >>> dx = after.object_pose(1).position_world[0] - before.object_pose(1).position_world[0]
        >>> round(dx, 6)
        0.02
    """

    _MAX_TEXTURES_PER_CLIENT = 1500  # TinyRenderer never frees textures: reconnect past this

    def __init__(self, config: SceneConfig | None = None, seed: int | None = None) -> None:
        try:
            import pybullet  # noqa: F401  (lazy: only simulation users need it)
            import pybullet_data
        except ModuleNotFoundError:
            raise ModuleNotFoundError(
                "seg_perception.sim.scenes needs pybullet: pip install pybullet "
                "(or pip install 'seg_perception[sim]')") from None
        self.config = config or SceneConfig()
        self._data_path = pybullet_data.getDataPath()
        self._tmpdir = tempfile.mkdtemp(prefix="seg_perception_sim_")
        self._client: BulletClient | None = None
        self.seed = int(self.config.seed if seed is None else seed)
        self._textures_loaded = 0
        self._texture_files = 0
        self._finalizer = weakref.finalize(self, TabletopSim._cleanup, [None], self._tmpdir)
        self._connect()
        self.reset(self.seed)

    # -- lifecycle ----------------------------------------------------------------------

    @staticmethod
    def _cleanup(client_box: list[Any], tmpdir: str) -> None:
        client = client_box[0]
        if client is not None:
            try:
                client.disconnect()
            except Exception:  # already gone (interpreter shutdown)
                pass
            client_box[0] = None
        shutil.rmtree(tmpdir, ignore_errors=True)

    def _connect(self) -> None:
        import pybullet
        from pybullet_utils.bullet_client import BulletClient

        if self._client is not None:
            self._client.disconnect()
        self._client = BulletClient(connection_mode=pybullet.DIRECT)
        self._finalizer.detach()
        self._finalizer = weakref.finalize(self, TabletopSim._cleanup, [self._client], self._tmpdir)
        self._textures_loaded = 0

    def close(self) -> None:
        """Disconnect from pybullet and delete temporary texture files (idempotent)."""
        self._finalizer()
        self._client = None

    def __enter__(self) -> "TabletopSim":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def _p(self) -> "BulletClient":
        if self._client is None:
            raise RuntimeError("TabletopSim is closed; create a new one")
        return self._client

    # -- building -------------------------------------------------------------------------

    def reset(self, seed: int | None = None) -> None:
        """Build a new random scene from ``seed`` (default: the current seed + 1)."""
        self.seed = int(seed) if seed is not None else self.seed + 1
        scene_ss, motion_ss, sensor_ss = np.random.SeedSequence(self.seed).spawn(3)
        rng = np.random.default_rng(scene_ss)
        self._motion_rng = np.random.default_rng(motion_ss)
        self._sensor_rng = np.random.default_rng(sensor_ss)
        self._frame_index = 0
        if self._textures_loaded > self._MAX_TEXTURES_PER_CLIENT:
            self._connect()
        p = self._p
        p.resetSimulation()
        p.setAdditionalSearchPath(self._data_path)
        p.setGravity(0.0, 0.0, -9.81)
        p.setTimeStep(1.0 / 240.0)
        p.setPhysicsEngineParameter(deterministicOverlappingPairs=1)
        cfg = self.config

        self._build_room(rng)
        self._sample_camera(rng)
        self._sample_light(rng)
        groups = self._sample_groups(rng)
        self._bodies: dict[int, _Body] = {}
        self._place_and_create(groups, rng)
        self._settle(cfg.settle_steps * (2 if cfg.clutter == "dense" else 1))
        self._remove_fallen()

    def _load_texture(self, image: np.ndarray) -> int:
        import cv2

        # A fresh name per load: the renderer caches textures by file name.
        path = os.path.join(self._tmpdir, f"tex_{self._texture_files}.png")
        self._texture_files += 1
        cv2.imwrite(path, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        tex = self._p.loadTexture(path)
        os.remove(path)
        self._textures_loaded += 1
        return int(tex)

    def _static_box(self, half: Sequence[float], pos: Sequence[float], color: np.ndarray,
                    texture: np.ndarray | None) -> int:
        p = self._p
        col = p.createCollisionShape(p.GEOM_BOX, halfExtents=list(half))
        vis = p.createVisualShape(p.GEOM_BOX, halfExtents=list(half),
                                  rgbaColor=[*(color if texture is None else np.ones(3)), 1.0])
        body = p.createMultiBody(0.0, col, vis, list(pos))
        if texture is not None:
            p.changeVisualShape(body, -1, textureUniqueId=self._load_texture(texture))
        p.changeDynamics(body, -1, lateralFriction=0.8)
        return int(body)

    def _build_room(self, rng: np.random.Generator) -> None:
        cfg = self.config
        self.table_length = float(rng.uniform(*cfg.table_length_m))
        self.table_depth = float(rng.uniform(*cfg.table_depth_m))
        self.table_height = float(rng.uniform(*cfg.table_height_m))
        wall_gap = float(rng.uniform(*cfg.wall_distance_m))
        thickness = float(rng.uniform(0.025, 0.045))
        table_color = np.asarray([0.55, 0.38, 0.22]) * rng.uniform(0.6, 1.3) if rng.random() < 0.6 \
            else _random_color(rng)
        table_color = np.clip(table_color, 0, 1)
        floor_color = _random_color(rng) * 0.8
        wall_color = np.clip(rng.uniform(0.7, 0.95) + rng.uniform(-0.06, 0.06, 3), 0, 1)
        table_tex = _texture_for(rng, cfg.texture_probability, table_color, "wood")
        floor_tex = _texture_for(rng, cfg.texture_probability, floor_color, "noise")
        if cfg.table_brightness is not None:  # a plain table of chosen brightness (dark)
            level = float(rng.uniform(*cfg.table_brightness))
            table_color, table_tex = np.clip(np.array([1.0, 0.85, 0.7]) * level, 0, 1), None
        half_l, half_d = self.table_length / 2, self.table_depth / 2
        leg = 0.025
        leg_h = self.table_height - thickness
        if cfg.table_shape == "round":
            radius = min(half_l, half_d)
            half_l = half_d = radius
            self.table_depth = self.table_length = 2 * radius
            self.table_top_id = self._static_disc(radius, thickness, table_color, table_tex)
            self.leg_ids = [self._static_box((0.04, 0.04, leg_h / 2),
                                             (0.0, 0.0, -thickness - leg_h / 2),
                                             table_color * 0.8, None)]
        else:
            self.table_top_id = self._static_box((half_l, half_d, thickness / 2),
                                                 (0.0, 0.0, -thickness / 2), table_color,
                                                 table_tex)
            self.leg_ids = [self._static_box((leg, leg, leg_h / 2),
                                             (sx * (half_l - 0.06), sy * (half_d - 0.06),
                                              -thickness - leg_h / 2), table_color * 0.8, None)
                            for sx in (-1, 1) for sy in (-1, 1)]
        self.floor_id = self._static_box((4.0, 4.0, 0.025), (0.0, 0.0, -self.table_height - 0.025),
                                         floor_color, floor_tex)
        self.wall_id = self._static_box((3.0, 0.025, 1.6),
                                        (0.0, half_d + wall_gap + 0.025,
                                         -self.table_height + 1.6), wall_color, None)
        self.furniture_ids: list[int] = []
        if cfg.chairs[1] > 0 or cfg.other_table_probability > 0:  # draws only when asked
            chairs = int(rng.integers(cfg.chairs[0], cfg.chairs[1] + 1))
            other = bool(rng.random() < cfg.other_table_probability)
            self.furniture_ids = place_furniture(
                rng, table_half=(half_l, half_d), table_height=self.table_height,
                wall_y=half_d + wall_gap, chairs=chairs, other_table=other,
                add_box=lambda half, pos, color: self._static_box(half, pos, color, None))

    def _static_disc(self, radius: float, thickness: float, color: np.ndarray,
                     texture: np.ndarray | None) -> int:
        """A round table top: a static cylinder whose top face is z = 0."""
        p = self._p
        col = p.createCollisionShape(p.GEOM_CYLINDER, radius=radius, height=thickness)
        verts, faces, normals, uvs = _cylinder_mesh(radius, thickness)
        vis = p.createVisualShape(p.GEOM_MESH, vertices=verts, indices=faces, normals=normals,
                                  uvs=uvs, rgbaColor=[*(color if texture is None else np.ones(3)),
                                                      1.0])
        body = p.createMultiBody(0.0, col, vis, [0.0, 0.0, -thickness / 2])
        if texture is not None:
            p.changeVisualShape(body, -1, textureUniqueId=self._load_texture(texture))
        p.changeDynamics(body, -1, lateralFriction=0.8)
        return int(body)

    def _sample_camera(self, rng: np.random.Generator) -> None:
        cfg = self.config
        dist = rng.uniform(*cfg.camera_distance_m)
        elev = math.radians(rng.uniform(*cfg.camera_elevation_deg))
        azim = math.radians(rng.uniform(*cfg.camera_azimuth_deg))
        target = np.array([*rng.uniform(-1, 1, 2) * cfg.target_jitter_m, 0.0])
        eye = target + dist * np.array([math.cos(elev) * math.sin(azim),
                                        -math.cos(elev) * math.cos(azim), math.sin(elev)])
        self._camera_eye = eye
        self.set_camera_pose(look_at_transform(eye, target))

    def _sample_light(self, rng: np.random.Generator) -> None:
        az, el = rng.uniform(0, 2 * np.pi), math.radians(rng.uniform(30, 80))
        self._light = dict(
            lightDirection=[math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)],
            lightColor=list(np.clip(1.0 + rng.uniform(-0.08, 0.08, 3), 0, 1)),
            lightDistance=3.0,
            lightAmbientCoeff=float(rng.uniform(0.4, 0.65)),
            lightDiffuseCoeff=float(rng.uniform(0.35, 0.6)),
            lightSpecularCoeff=float(rng.uniform(0.0, 0.25)),
        )

    def _sample_groups(self, rng: np.random.Generator) -> list[_Group]:
        cfg = self.config
        n = int(rng.integers(cfg.num_objects[0], cfg.num_objects[1] + 1))
        tex_p = cfg.texture_probability
        eye_xy = self._camera_eye[:2]
        toward = eye_xy / max(float(np.linalg.norm(eye_xy)), 1e-6)  # table centre -> camera
        groups: list[_Group] = []
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
                group = _occluded_group(rng, tex_p, toward, float(self._camera_eye[2]),
                                        float(np.linalg.norm(eye_xy)))
            else:
                group = _thin_flat_group(rng, tex_p)
            if len(group.members) <= budget:
                groups.append(group)
                budget -= len(group.members)
        kinds = list(cfg.kinds)
        for _ in range(budget):
            kind = kinds[int(rng.integers(0, len(kinds)))]
            groups.append(_Group([_Placement(_spec_for(kind, rng, tex_p), np.zeros(2))]))
        return groups

    def _create(self, spec: _Spec, instance_id: int) -> _Body:
        p = self._p
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
            verts, faces, normals, uvs = _cylinder_mesh(r, h)
            vis = p.createVisualShape(p.GEOM_MESH, vertices=verts, indices=faces, normals=normals,
                                      uvs=uvs, rgbaColor=rgba)
            mass = 0.5 * math.pi * r * r * h * 1000 + 0.02
            body = p.createMultiBody(mass, col, vis, [0, 0, -5.0 - instance_id])
        else:
            body = p.loadURDF(spec.urdf, [0, 0, -5.0 - instance_id], globalScaling=spec.size[0])
            p.changeVisualShape(body, -1, rgbaColor=rgba)
        if spec.texture is not None:
            p.changeVisualShape(body, -1, textureUniqueId=self._load_texture(spec.texture))
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
        return _Body(int(body), instance_id, spec.kind, f"{spec.kind}_{instance_id}",
                     extents, offset, color)  # type: ignore[arg-type]

    def _place_and_create(self, groups: list[_Group], rng: np.random.Generator) -> None:
        """Create the bodies, then put each group where its footprint is free."""
        cfg = self.config
        p = self._p
        half_region = np.minimum(np.asarray(cfg.object_region_m) / 2,
                                 np.array([self.table_length, self.table_depth]) / 2 - 0.06)
        gap = {"separated": 0.03, "random": 0.005, "dense": 0.0}[cfg.clutter]
        placed: list[tuple[np.ndarray, float]] = []  # (centre xy, radius)
        next_id = 1
        drop_height = 0.0
        for group in groups:
            bodies = []
            for m in group.members:
                body = self._create(m.spec, next_id)
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
            group.aim_at(anchor, self._camera_eye[:2])
            placed.append((anchor, radius))
            for m, b in zip(group.members, bodies):
                if tumble or not m.spec.upright:
                    quat = tuple(p.getQuaternionFromEuler(list(rng.uniform(-np.pi, np.pi, 3))))
                else:
                    quat = _yaw_quat(m.yaw if group.case else rng.uniform(-np.pi, np.pi))
                R = _quat_to_matrix(quat)
                corners = (np.array([[sx, sy, sz] for sx in (-.5, .5) for sy in (-.5, .5)
                                     for sz in (-.5, .5)]) * b.extents + b.center_offset) @ R.T
                z = m.z_base - corners[:, 2].min() + 1e-3
                if tumble:
                    z += drop_height
                    drop_height += float(corners[:, 2].max() - corners[:, 2].min()) + 0.01
                xy = anchor + m.xy
                p.resetBasePositionAndOrientation(b.body_id, [float(xy[0]), float(xy[1]), z],
                                                  list(quat))
                self._bodies[b.instance_id] = b
        # Renumber 1..N in creation order (groups may have been dropped).
        self._bodies = {i + 1: _Body(b.body_id, i + 1, b.kind, f"{b.kind}_{i + 1}", b.extents,
                                     b.center_offset, b.color)
                        for i, b in enumerate(self._bodies.values())}

    def _settle(self, steps: int) -> None:
        p = self._p
        for _ in range(steps):
            p.stepSimulation()
        for _ in range(3):  # a few more rounds while anything still moves
            speeds = [np.linalg.norm(p.getBaseVelocity(b.body_id)[0])
                      for b in self._bodies.values()]
            if not speeds or max(speeds) < 0.01:
                break
            for _ in range(120):
                p.stepSimulation()
        for b in self._bodies.values():  # freeze: a render must not see drifting objects
            p.resetBaseVelocity(b.body_id, [0, 0, 0], [0, 0, 0])

    def _remove_fallen(self) -> None:
        p = self._p
        keep = {}
        for b in self._bodies.values():
            pos, quat = p.getBasePositionAndOrientation(b.body_id)
            center = np.asarray(pos) + _quat_to_matrix(quat) @ b.center_offset
            if center[2] < -0.01:
                p.removeBody(b.body_id)
            else:
                keep[len(keep) + 1] = b
        self._bodies = {i: _Body(b.body_id, i, b.kind, f"{b.kind}_{i}", b.extents,
                                 b.center_offset, b.color) for i, b in keep.items()}

    # -- interaction ----------------------------------------------------------------------

    @property
    def instance_ids(self) -> tuple[int, ...]:
        """Instance ids of the objects currently in the scene."""
        return tuple(self._bodies)

    @property
    def camera_pose(self) -> np.ndarray:
        """``float64[4, 4]`` world-to-camera-optical transform (a copy)."""
        return self._world_to_camera.copy()

    def set_camera_pose(self, world_to_camera: np.ndarray) -> None:
        """Move the camera; ``world_to_camera`` maps world points to optical-frame points."""
        T = np.asarray(world_to_camera, np.float64)
        if T.shape != (4, 4) or not np.allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3), atol=1e-6):
            raise ConfigError("camera pose must be a 4x4 rigid transform (orthonormal rotation)")
        self._world_to_camera = T.copy()
        self._camera_eye = -T[:3, :3].T @ T[:3, 3]

    def move_object(self, instance_id: int, dx: float = 0.0, dy: float = 0.0,
                    dyaw: float = 0.0, *, settle_steps: int = 0) -> None:
        """Shift an object by ``(dx, dy)`` metres (world) and turn it ``dyaw`` rad about world z.

        With ``settle_steps=0`` the move is exact (a teleport); with more,
        physics runs afterwards, e.g. to resolve a push into a neighbour.
        """
        if instance_id not in self._bodies:
            raise KeyError(f"no object with instance id {instance_id}; ids are "
                           f"{list(self._bodies)}")
        p = self._p
        body = self._bodies[instance_id].body_id
        pos, quat = p.getBasePositionAndOrientation(body)
        R = _quat_to_matrix(_yaw_quat(dyaw)) @ _quat_to_matrix(quat)
        p.resetBasePositionAndOrientation(body, [pos[0] + dx, pos[1] + dy, pos[2]],
                                          list(_matrix_to_quat(R)))
        p.resetBaseVelocity(body, [0, 0, 0], [0, 0, 0])
        if settle_steps:
            self._settle(settle_steps)

    def step_objects(self, *, fraction: float = 0.5, max_translation_m: float = 0.03,
                     max_rotation_deg: float = 20.0, settle_steps: int = 60,
                     rng: np.random.Generator | None = None) -> tuple[int, ...]:
        """Move a random ``fraction`` of the objects a little (tracking tests).

        Each chosen object is shifted by up to ``max_translation_m`` and turned
        by up to ``max_rotation_deg`` about the vertical; physics then runs
        ``settle_steps`` steps. Uses the scene's motion generator unless
        ``rng`` is given. Returns the ids of the moved objects.
        """
        rng = rng or self._motion_rng
        ids = list(self._bodies)
        u = rng.random(len(ids))
        moves = rng.uniform(-1, 1, (len(ids), 3))
        moved = tuple(i for i, ui in zip(ids, u) if ui < fraction)
        for i, (mx, my, mr) in zip(ids, moves):
            if i in moved:
                self.move_object(i, mx * max_translation_m, my * max_translation_m,
                                 math.radians(mr * max_rotation_deg))
        if settle_steps:
            self._settle(settle_steps)
        self._remove_fallen_keep_ids()
        return moved

    def remove_object(self, instance_id: int) -> None:
        """Take an object out of the scene (its id is not reused until :meth:`reset`)."""
        if instance_id not in self._bodies:
            raise KeyError(f"no object with instance id {instance_id}")
        self._p.removeBody(self._bodies.pop(instance_id).body_id)

    def _remove_fallen_keep_ids(self) -> None:
        p = self._p
        for i, b in list(self._bodies.items()):
            pos, quat = p.getBasePositionAndOrientation(b.body_id)
            if (np.asarray(pos) + _quat_to_matrix(quat) @ b.center_offset)[2] < -0.01:
                self.remove_object(i)

    # -- rendering ------------------------------------------------------------------------

    def render(self, stamp_ns: int | None = None) -> SimFrame:
        """Render the current scene from the current camera pose."""
        import pybullet

        cfg = self.config
        p = self._p
        K = cfg.intrinsics
        W, H = K.width, K.height
        _, _, rgba, zbuf, seg = p.getCameraImage(
            W, H, _view_matrix(self._world_to_camera),
            _projection_matrix(K, cfg.near_m, cfg.far_m), shadow=int(cfg.shadows),
            renderer=pybullet.ER_TINY_RENDERER, **self._light)
        rgb = np.ascontiguousarray(np.asarray(rgba, np.uint8).reshape(H, W, 4)[:, :, :3])
        seg = np.asarray(seg, np.int64).reshape(H, W)
        zbuf = np.asarray(zbuf, np.float64).reshape(H, W)
        # OpenGL depth buffer d in [0, 1] to metric z: z = f n / (f - (f - n) d).
        near, far = cfg.near_m, cfg.far_m
        depth_gt = (far * near / (far - (far - near) * zbuf)).astype(np.float32)
        hit = (seg >= 0) & (zbuf < 1.0)
        depth_gt[~hit] = 0.0

        # Per-body lookup tables (seg = -1 -> index 0).
        n_lut = int(max(seg.max(), 0)) + 2
        inst_lut = np.zeros(n_lut, np.uint16)
        sem_lut = np.full(n_lut, _UNKNOWN, np.uint8)
        for body_id, cls in ((self.floor_id, _FLOOR), (self.wall_id, _WALL)):
            if body_id + 1 < n_lut:
                sem_lut[body_id + 1] = cls
        for b in self._bodies.values():
            if b.body_id + 1 < n_lut:
                inst_lut[b.body_id + 1] = b.instance_id
                sem_lut[b.body_id + 1] = _OBJECT
        instance_labels = inst_lut[seg + 1]
        semantic = sem_lut[seg + 1]
        # The table top is the slab's upward face: world z = 0 (its sides are "unknown").
        T = self._world_to_camera
        cam_to_world = np.linalg.inv(T)
        on_slab = seg == self.table_top_id
        if on_slab.any():
            v, u = np.nonzero(on_slab)
            z = depth_gt[v, u].astype(np.float64)
            pts = np.stack([(u - K.cx) / K.fx * z, (v - K.cy) / K.fy * z, z], axis=1)
            z_world = pts @ cam_to_world[2, :3] + cam_to_world[2, 3]
            top = z_world > -2e-3
            semantic[v[top], u[top]] = _SUPPORT

        depth = depth_gt
        if cfg.depth_noise:
            depth = apply_depth_noise(depth_gt, self._sensor_rng, model=cfg.noise_model,
                                      image_focal_px=K.fx,
                                      intensity=rgb.mean(axis=2) / np.float32(255.0))
        if cfg.rgb_noise_std > 0:
            noise = self._sensor_rng.normal(0.0, cfg.rgb_noise_std, rgb.shape)
            rgb = np.clip(rgb + noise, 0, 255).astype(np.uint8)

        poses = self._object_poses(instance_labels, depth_gt)
        n_cam = T[:3, :3] @ np.array([0.0, 0.0, 1.0])
        plane = Plane(_tuple3(n_cam), float(-n_cam @ T[:3, 3]))
        tags = tuple(sorted({t for pose in poses if pose.visible_pixels > 0 for t in pose.tags}
                            | set(cfg.scene_tags)))
        stamp = self._frame_index * 33_333_333 if stamp_ns is None else int(stamp_ns)
        frame = SimFrame(rgb=rgb, depth=depth, depth_gt=depth_gt, intrinsics=K,
                         instance_labels=instance_labels, semantic=semantic,
                         object_poses=poses, camera_pose=T.copy(), table_plane=plane,
                         case_tags=tags, stamp_ns=stamp, seed=self.seed,
                         frame_index=self._frame_index)
        self._frame_index += 1
        return frame

    def _contacts(self) -> dict[int, set[str]]:
        """Verified contact tags per instance id from the physics engine."""
        p = self._p
        bodies = list(self._bodies.values())
        tags: dict[int, set[str]] = {b.instance_id: set() for b in bodies}
        # Closest points, not the contact manifold: resting boxes a hair apart
        # have no manifold entry but are touching for any camera.
        for i, a in enumerate(bodies):
            for b in bodies[i + 1:]:
                for c in p.getClosestPoints(a.body_id, b.body_id, _CONTACT_M):
                    case = "stacked" if abs(c[7][2]) > 0.7 else "touching"
                    tags[a.instance_id].add(case)
                    tags[b.instance_id].add(case)
        return tags

    def _object_poses(self, labels: np.ndarray, depth: np.ndarray) -> tuple[ObjectPose, ...]:
        import cv2

        p = self._p
        K = self.config.intrinsics
        T = self._world_to_camera
        R_cw, t_cw = T[:3, :3], T[:3, 3]
        contact_tags = self._contacts()
        counts = np.bincount(labels.ravel(), minlength=max(self._bodies, default=0) + 1)
        border = np.zeros(counts.shape, bool)
        edge_labels = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
        border[np.unique(edge_labels)] = True
        unit = np.array([[sx, sy, sz] for sx in (-.5, .5) for sy in (-.5, .5) for sz in (-.5, .5)])
        poses = []
        for b in self._bodies.values():
            pos, quat = p.getBasePositionAndOrientation(b.body_id)
            pos_w = np.asarray(pos)
            R_wo = _quat_to_matrix(quat)
            center_w = pos_w + R_wo @ b.center_offset
            tags = set(contact_tags[b.instance_id])
            visible = int(counts[b.instance_id])
            # Occlusion: pixels of the projected box covered by other objects that
            # lie in front of this object's centre.
            corners_c = ((unit * b.extents + b.center_offset) @ R_wo.T + pos_w) @ R_cw.T + t_cw
            center_c = R_cw @ center_w + t_cw
            occlusion = 0.0
            if corners_c[:, 2].min() > 1e-3:
                uv = corners_c[:, :2] / corners_c[:, 2:] * [K.fx, K.fy] + [K.cx, K.cy]
                hull = cv2.convexHull(np.round(np.clip(uv, -4 * K.width, 4 * K.width))
                                      .astype(np.int32))
                box_mask = np.zeros(labels.shape, np.uint8)
                cv2.fillConvexPoly(box_mask, hull, 1)
                inside = box_mask.astype(bool)
                other = inside & (labels != 0) & (labels != b.instance_id) & (depth < center_c[2])
                n_other = int(other.sum())
                occlusion = n_other / max(n_other + visible, 1)
            if occlusion >= _OCCLUDED_FRACTION and visible > 0:
                tags.add("occluded")
            thin_axis = int(np.argmin(b.extents))
            lying_flat = abs(R_wo[2, thin_axis]) > math.cos(math.radians(30))
            if b.extents[thin_axis] < _THIN_M and lying_flat:
                tags.add("thin_flat")
            if visible and border[b.instance_id]:
                tags.add("truncated")
            poses.append(ObjectPose(
                instance_id=b.instance_id, kind=b.kind, name=b.name,
                position_world=_tuple3(pos_w),
                quaternion_world=(float(quat[0]), float(quat[1]), float(quat[2]), float(quat[3])),
                position_camera=_tuple3(R_cw @ pos_w + t_cw),
                quaternion_camera=_matrix_to_quat(R_cw @ R_wo),
                box_center_world=_tuple3(center_w), box_center_camera=_tuple3(center_c),
                extents=_tuple3(b.extents), visible_pixels=visible,
                occlusion=float(occlusion), tags=tuple(sorted(tags)), color=b.color))
        return tuple(poses)

    def frames(self, count: int, *, move: bool = False) -> Iterator[SimFrame]:
        """Render ``count`` frames of this scene, optionally moving objects in between."""
        for k in range(count):
            if move and k:
                self.step_objects()
            yield self.render()


