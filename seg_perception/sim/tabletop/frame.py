"""What a render returns: :class:`SimFrame` (images, labels, camera) and the
:class:`ObjectPose` ground truth of each object."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...frames import CameraIntrinsics, RGBDFrame
from ...results import InstanceMasks, Plane
from .transforms import quat_to_matrix

__all__ = ["ObjectPose", "SimFrame"]


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
        kind: one of :data:`~.objects.OBJECT_KINDS`.
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
        T[:3, :3] = quat_to_matrix(self.quaternion_camera)
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

    def object_pose(self, instance_id: int) -> ObjectPose:
        """The object with ``instance_id`` (KeyError if there is none)."""
        for pose in self.object_poses:
            if pose.instance_id == instance_id:
                return pose
        raise KeyError(f"no object with instance id {instance_id} in this frame; ids are "
                       f"{[p.instance_id for p in self.object_poses]}")
