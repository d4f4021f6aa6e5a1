"""The camera: its random pose and light, and rendering with pybullet's CPU
TinyRenderer (no display, no GPU) into colour, metric depth and body ids per pixel.

TinyRenderer samples pixel ``(u, v)`` at window coordinates ``(u, H - 1 - v)``;
:func:`projection_matrix` encodes that, so the images follow the pinhole model of
:attr:`SceneConfig.intrinsics <.config.SceneConfig.intrinsics>` exactly.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ...frames import CameraIntrinsics
from .config import SceneConfig
from .transforms import look_at_transform

if TYPE_CHECKING:  # pragma: no cover
    from pybullet_utils.bullet_client import BulletClient

__all__ = ["projection_matrix", "render_buffers", "sample_camera_pose", "sample_light",
           "view_matrix"]


def projection_matrix(K: CameraIntrinsics, near: float, far: float) -> list[float]:
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


def view_matrix(world_to_camera: np.ndarray) -> list[float]:
    """OpenGL view matrix (column-major): optical frame to GL eye (y up, looking down -z)."""
    return (np.diag([1.0, -1.0, -1.0, 1.0]) @ world_to_camera).flatten(order="F").tolist()



def sample_camera_pose(rng: np.random.Generator, cfg: SceneConfig) -> np.ndarray:
    """A random world-to-optical transform looking at the table centre (plus jitter)."""
    dist = rng.uniform(*cfg.camera_distance_m)
    elev = math.radians(rng.uniform(*cfg.camera_elevation_deg))
    azim = math.radians(rng.uniform(*cfg.camera_azimuth_deg))
    target = np.array([*rng.uniform(-1, 1, 2) * cfg.target_jitter_m, 0.0])
    eye = target + dist * np.array([math.cos(elev) * math.sin(azim),
                                    -math.cos(elev) * math.cos(azim), math.sin(elev)])
    return look_at_transform(eye, target)


def sample_light(rng: np.random.Generator) -> dict[str, Any]:
    """Random light of a render: keyword arguments of ``getCameraImage``."""
    az, el = rng.uniform(0, 2 * np.pi), math.radians(rng.uniform(30, 80))
    return dict(
        lightDirection=[math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)],
        lightColor=list(np.clip(1.0 + rng.uniform(-0.08, 0.08, 3), 0, 1)),
        lightDistance=3.0,
        lightAmbientCoeff=float(rng.uniform(0.4, 0.65)),
        lightDiffuseCoeff=float(rng.uniform(0.35, 0.6)),
        lightSpecularCoeff=float(rng.uniform(0.0, 0.25)),
    )


def render_buffers(p: "BulletClient", cfg: SceneConfig, world_to_camera: np.ndarray,
                   light: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render the scene: ``uint8[H, W, 3]`` RGB, ``float32[H, W]`` exact depth in metres
    along the optical axis (0 where nothing was hit) and ``int64[H, W]`` pybullet body
    ids (-1 = none)."""
    import pybullet

    K = cfg.intrinsics
    W, H = K.width, K.height
    _, _, rgba, zbuf, seg = p.getCameraImage(
        W, H, view_matrix(world_to_camera),
        projection_matrix(K, cfg.near_m, cfg.far_m), shadow=int(cfg.shadows),
        renderer=pybullet.ER_TINY_RENDERER, **light)
    rgb = np.ascontiguousarray(np.asarray(rgba, np.uint8).reshape(H, W, 4)[:, :, :3])
    seg = np.asarray(seg, np.int64).reshape(H, W)
    zbuf = np.asarray(zbuf, np.float64).reshape(H, W)
    # OpenGL depth buffer d in [0, 1] to metric z: z = f n / (f - (f - n) d).
    near, far = cfg.near_m, cfg.far_m
    depth = (far * near / (far - (far - near) * zbuf)).astype(np.float32)
    hit = (seg >= 0) & (zbuf < 1.0)
    depth[~hit] = 0.0
    return rgb, depth, seg
