"""The simulator: :class:`TabletopSim` owns a pybullet client, builds random scenes
(room, camera, light, objects settled under gravity), moves objects and renders
:class:`~.frame.SimFrame` s with ground truth."""
from __future__ import annotations

import math
import os
import shutil
import tempfile
import weakref
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from ...errors import ConfigError
from ..depth_noise import apply_depth_noise
from .bodies import Body
from .camera import render_buffers, sample_camera_pose, sample_light
from .config import SceneConfig
from .frame import SimFrame
from .ground_truth import label_images, object_poses, table_plane
from .layout import sample_groups
from .placement import fallen, place_groups, settle
from .table import build_room
from .transforms import matrix_to_quat, quat_to_matrix, yaw_quat

if TYPE_CHECKING:  # pragma: no cover
    from pybullet_utils.bullet_client import BulletClient

__all__ = ["TabletopSim"]


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

        # The draw order (room, camera, light, objects, placement) fixes the scene per seed.
        room = build_room(p, rng, cfg, self._load_texture)
        self.table_length, self.table_depth = room.table_length, room.table_depth
        self.table_height = room.table_height
        self.table_top_id, self.leg_ids = room.table_top_id, room.leg_ids
        self.floor_id, self.wall_id = room.floor_id, room.wall_id
        self.furniture_ids = room.furniture_ids
        self.set_camera_pose(sample_camera_pose(rng, cfg))
        self._light = sample_light(rng)
        groups = sample_groups(rng, cfg, self._camera_eye)
        self._bodies: dict[int, Body] = place_groups(
            p, groups, rng, cfg, (self.table_length, self.table_depth), self._camera_eye,
            self._load_texture)
        self._settle(cfg.settle_steps * (2 if cfg.clutter == "dense" else 1))
        gone = set(fallen(p, self._bodies))
        for i in gone:
            p.removeBody(self._bodies[i].body_id)
        kept = [b for i, b in self._bodies.items() if i not in gone]
        self._bodies = {k + 1: b.renumbered(k + 1) for k, b in enumerate(kept)}

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

    def _settle(self, steps: int) -> None:
        settle(self._p, self._bodies, steps)

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
        R = quat_to_matrix(yaw_quat(dyaw)) @ quat_to_matrix(quat)
        p.resetBasePositionAndOrientation(body, [pos[0] + dx, pos[1] + dy, pos[2]],
                                          list(matrix_to_quat(R)))
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
        for i in fallen(self._p, self._bodies):
            self.remove_object(i)
        return moved

    def remove_object(self, instance_id: int) -> None:
        """Take an object out of the scene (its id is not reused until :meth:`reset`)."""
        if instance_id not in self._bodies:
            raise KeyError(f"no object with instance id {instance_id}")
        self._p.removeBody(self._bodies.pop(instance_id).body_id)

    # -- rendering ------------------------------------------------------------------------

    def render(self, stamp_ns: int | None = None) -> SimFrame:
        """Render the current scene from the current camera pose."""
        cfg = self.config
        K = cfg.intrinsics
        T = self._world_to_camera
        rgb, depth_gt, seg = render_buffers(self._p, cfg, T, self._light)
        instance_labels, semantic = label_images(
            seg, depth_gt, K, T, self._bodies, floor_id=self.floor_id, wall_id=self.wall_id,
            table_top_id=self.table_top_id)
        depth = depth_gt
        if cfg.depth_noise:
            depth = apply_depth_noise(depth_gt, self._sensor_rng, model=cfg.noise_model,
                                      image_focal_px=K.fx,
                                      intensity=rgb.mean(axis=2) / np.float32(255.0))
        if cfg.rgb_noise_std > 0:
            noise = self._sensor_rng.normal(0.0, cfg.rgb_noise_std, rgb.shape)
            rgb = np.clip(rgb + noise, 0, 255).astype(np.uint8)

        poses = object_poses(self._p, self._bodies, K, T, instance_labels, depth_gt)
        tags = tuple(sorted({t for pose in poses if pose.visible_pixels > 0 for t in pose.tags}
                            | set(cfg.scene_tags)))
        stamp = self._frame_index * 33_333_333 if stamp_ns is None else int(stamp_ns)
        frame = SimFrame(rgb=rgb, depth=depth, depth_gt=depth_gt, intrinsics=K,
                         instance_labels=instance_labels, semantic=semantic,
                         object_poses=poses, camera_pose=T.copy(), table_plane=table_plane(T),
                         case_tags=tags, stamp_ns=stamp, seed=self.seed,
                         frame_index=self._frame_index)
        self._frame_index += 1
        return frame

    def frames(self, count: int, *, move: bool = False) -> Iterator[SimFrame]:
        """Render ``count`` frames of this scene, optionally moving objects in between."""
        for k in range(count):
            if move and k:
                self.step_objects()
            yield self.render()


