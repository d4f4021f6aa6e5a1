"""Ground truth of a render, verified from the physics and the image: instance and
layout labels per pixel, object poses, and the hard-case tags each object really
shows (``touching``, ``stacked``, ``occluded``, ``thin_flat``, ``truncated``)."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Mapping

import numpy as np

from ...frames import CameraIntrinsics
from ...geometry.projection import depth_to_points
from ...results import LAYOUT_CLASSES, Plane
from .bodies import Body
from .frame import ObjectPose
from .transforms import matrix_to_quat, quat_to_matrix, tuple3

if TYPE_CHECKING:  # pragma: no cover
    from pybullet_utils.bullet_client import BulletClient

__all__ = ["contact_tags", "label_images", "object_poses", "table_plane"]

_UNKNOWN, _SUPPORT, _FLOOR, _WALL, _OBJECT = (LAYOUT_CLASSES.index(n) for n in (
    "unknown", "support_surface", "floor", "wall", "object"))

_THIN_M = 0.03  # an object thinner than this lying flat is "thin_flat"
_OCCLUDED_FRACTION = 0.15  # visible-box share hidden by other objects to count as occluded
_CONTACT_M = 1e-3  # bodies closer than this are in contact


def label_images(seg: np.ndarray, depth: np.ndarray, K: CameraIntrinsics,
                 world_to_camera: np.ndarray, bodies: Mapping[int, Body], *, floor_id: int,
                 wall_id: int, table_top_id: int) -> tuple[np.ndarray, np.ndarray]:
    """``uint16[H, W]`` instance ids and ``uint8[H, W]`` layout classes of a render
    from its pybullet body ids per pixel ``seg`` (-1 = none) and its exact ``depth``.

    Table top: the pixels of the table body whose world height is the top face
    (z = 0, within 2 mm); its sides and legs stay ``unknown``.
    """
    # Per-body lookup tables (seg = -1 -> index 0).
    n_lut = int(max(seg.max(), 0)) + 2
    inst_lut = np.zeros(n_lut, np.uint16)
    sem_lut = np.full(n_lut, _UNKNOWN, np.uint8)
    for body_id, cls in ((floor_id, _FLOOR), (wall_id, _WALL)):
        if body_id + 1 < n_lut:
            sem_lut[body_id + 1] = cls
    for b in bodies.values():
        if b.body_id + 1 < n_lut:
            inst_lut[b.body_id + 1] = b.instance_id
            sem_lut[b.body_id + 1] = _OBJECT
    instance_labels = inst_lut[seg + 1]
    semantic = sem_lut[seg + 1]
    on_slab = seg == table_top_id
    if on_slab.any():
        points, pixels = depth_to_points(depth, K, mask=on_slab)
        cam_to_world = np.linalg.inv(world_to_camera)
        z_world = points @ cam_to_world[2, :3] + cam_to_world[2, 3]
        semantic.reshape(-1)[pixels[z_world > -2e-3]] = _SUPPORT
    return instance_labels, semantic


def table_plane(world_to_camera: np.ndarray) -> Plane:
    """The table top (world z = 0) in the camera frame, normal pointing up."""
    T = world_to_camera
    n_cam = T[:3, :3] @ np.array([0.0, 0.0, 1.0])
    return Plane(tuple3(n_cam), float(-n_cam @ T[:3, 3]))


def contact_tags(p: "BulletClient", bodies: Mapping[int, Body]) -> dict[int, set[str]]:
    """Verified contact tags per instance id from the physics engine."""
    items = list(bodies.values())
    tags: dict[int, set[str]] = {b.instance_id: set() for b in items}
    # Closest points, not the contact manifold: resting boxes a hair apart
    # have no manifold entry but are touching for any camera.
    for i, a in enumerate(items):
        for b in items[i + 1:]:
            for c in p.getClosestPoints(a.body_id, b.body_id, _CONTACT_M):
                case = "stacked" if abs(c[7][2]) > 0.7 else "touching"
                tags[a.instance_id].add(case)
                tags[b.instance_id].add(case)
    return tags


def object_poses(p: "BulletClient", bodies: Mapping[int, Body], K: CameraIntrinsics,
                 world_to_camera: np.ndarray, labels: np.ndarray, depth: np.ndarray,
                 ) -> tuple[ObjectPose, ...]:
    """Pose, visibility, occlusion and verified tags of every object, hidden ones too."""
    import cv2

    T = world_to_camera
    R_cw, t_cw = T[:3, :3], T[:3, 3]
    contacts = contact_tags(p, bodies)
    counts = np.bincount(labels.ravel(), minlength=max(bodies, default=0) + 1)
    border = np.zeros(counts.shape, bool)
    edge_labels = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    border[np.unique(edge_labels)] = True
    unit = np.array([[sx, sy, sz] for sx in (-.5, .5) for sy in (-.5, .5) for sz in (-.5, .5)])
    poses = []
    for b in bodies.values():
        pos, quat = p.getBasePositionAndOrientation(b.body_id)
        pos_w = np.asarray(pos)
        R_wo = quat_to_matrix(quat)
        center_w = pos_w + R_wo @ b.center_offset
        tags = set(contacts[b.instance_id])
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
            position_world=tuple3(pos_w),
            quaternion_world=(float(quat[0]), float(quat[1]), float(quat[2]), float(quat[3])),
            position_camera=tuple3(R_cw @ pos_w + t_cw),
            quaternion_camera=matrix_to_quat(R_cw @ R_wo),
            box_center_world=tuple3(center_w), box_center_camera=tuple3(center_c),
            extents=tuple3(b.extents), visible_pixels=visible,
            occlusion=float(occlusion), tags=tuple(sorted(tags)), color=b.color))
    return tuple(poses)
