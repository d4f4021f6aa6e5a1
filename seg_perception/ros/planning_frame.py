"""Objects messages expressed in a planning frame: a fixed transform or tf2.

A planner (MoveIt) plans in its own frame (``world``, ``base_link``, ...),
while the perception node publishes in the camera optical frame. This module

* builds the camera -> planning-frame transform from parameters
  (:func:`transform_from_params`: translation ``xyz`` metres and a rotation
  given as a quaternion ``(x, y, z, w)`` or as roll, pitch, yaw radians), or
  takes it from tf2 (:class:`FrameResolver` with ``use_tf``, when ``tf2_ros``
  is installed), and
* re-expresses a ``seg_perception/ObjectInstanceArray`` in the target frame
  (:func:`transform_objects_msg`): every 3D field, vectorised over objects and
  over cloud points.

Transforms follow :class:`seg_perception.geometry.transforms.Transform`:
``T`` maps points of the message's frame (child) into the target frame
(parent), ``p_target = R @ p_source + t``, i.e. what tf2's
``lookup_transform(target, source)`` returns.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from std_msgs.msg import Header

from ..errors import ConfigError, SegPerceptionError
from ..geometry.transforms import (Transform, quaternion_to_rotation_matrix,
                                   rotation_matrix_to_quaternion)
from .conversions import cloud_to_points, points_to_cloud, stamp_to_ns

__all__ = [
    "FrameResolver",
    "TransformUnavailableError",
    "tf2_available",
    "transform_from_msg",
    "transform_from_params",
    "transform_objects_msg",
    "transform_to_msg",
]


class TransformUnavailableError(SegPerceptionError, RuntimeError):
    """No transform from the message's frame to the planning frame is known (yet)."""


def tf2_available() -> bool:
    """True when ``tf2_ros`` (the Python tf2 listener) can be imported."""
    try:
        import tf2_ros  # noqa: F401
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------------- transforms

def transform_from_params(translation: Sequence[float],
                          rotation: Sequence[float]) -> Transform:
    """The fixed ``target <- source`` transform of node parameters.

    Args:
        translation: ``(x, y, z)`` metres: the source (camera) frame's origin in
            the target frame.
        rotation: 4 values, a quaternion ``(x, y, z, w)`` (normalised here), or
            3 values, ``(roll, pitch, yaw)`` radians about the fixed X, Y, Z axes
            (URDF / tf2 ``setRPY``): the source frame's orientation in the target.

    Raises:
        ConfigError: wrong lengths, NaN/inf, or a zero quaternion.

    Example:
        >>> T = transform_from_params([0.0, 0.0, 1.0], [0.0, 0.0, 0.0])
        >>> T.apply([0.0, 0.0, 0.0]).tolist()
        [0.0, 0.0, 1.0]
    """
    t = np.asarray(list(translation), np.float64)
    r = np.asarray(list(rotation), np.float64)
    if t.shape != (3,):
        raise ConfigError(f"transform translation must be 3 values (x, y, z metres), got "
                          f"{t.tolist()}")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(r))):
        raise ConfigError(f"transform contains NaN or inf: translation {t.tolist()}, "
                          f"rotation {r.tolist()}")
    if r.shape == (4,):
        if np.linalg.norm(r) < 1e-9:
            raise ConfigError("transform rotation quaternion (0, 0, 0, 0) is not a rotation; "
                              "use (0, 0, 0, 1) for none")
        return Transform.from_xyz_quat(t, r)
    if r.shape == (3,):
        return Transform.from_xyz_rpy(t, r)
    raise ConfigError(f"transform rotation must be a quaternion (x, y, z, w) or "
                      f"(roll, pitch, yaw) radians, got {r.size} values {r.tolist()}")


def transform_from_msg(msg: Any) -> Transform:
    """:class:`Transform` of a ``geometry_msgs/Transform`` or ``TransformStamped``."""
    tf = getattr(msg, "transform", msg)
    t, q = tf.translation, tf.rotation
    return Transform.from_xyz_quat((t.x, t.y, t.z), (q.x, q.y, q.z, q.w))


def transform_to_msg(transform: Transform) -> Any:
    """``geometry_msgs/Transform`` of a :class:`Transform`."""
    from geometry_msgs.msg import Quaternion, Vector3
    from geometry_msgs.msg import Transform as TransformMsg

    (x, y, z), (qx, qy, qz, qw) = transform.to_xyz_quat()
    return TransformMsg(translation=Vector3(x=float(x), y=float(y), z=float(z)),
                        rotation=Quaternion(x=float(qx), y=float(qy), z=float(qz), w=float(qw)))


class FrameResolver:
    """Finds the ``target_frame <- source`` transform of each message.

    Without ``use_tf`` (or when ``tf2_ros`` is not installed) the fixed
    ``static`` transform is used for every source frame: the camera is mounted
    rigidly and its pose is a parameter. With ``use_tf`` and ``tf2_ros``, a tf2
    ``Buffer`` and ``TransformListener`` on ``node`` answer at the message's
    stamp, falling back to the latest transform when the stamp is outside the
    buffer (a slow /tf publisher), so a fixed camera mount still works.

    Args:
        target_frame: the planning frame; empty means "keep the message's frame"
            (:meth:`lookup` returns None).
        static: the fixed transform (identity when None).
        node: an rclpy node, needed only with ``use_tf``.
        use_tf: prefer tf2 when it is installed.
    """

    def __init__(self, target_frame: str, static: Transform | None = None, *,
                 node: Any = None, use_tf: bool = False) -> None:
        self.target_frame = target_frame
        self.static = static if static is not None else Transform.identity()
        self._buffer: Any = None
        self._listener: Any = None
        if use_tf and target_frame and tf2_available():
            if node is None:
                raise ValueError("FrameResolver(use_tf=True) needs the node to listen to /tf on")
            import tf2_ros

            self._buffer = tf2_ros.Buffer()
            self._listener = tf2_ros.TransformListener(self._buffer, node)

    @property
    def source(self) -> str:
        """Where transforms come from: ``"none"``, ``"static"`` or ``"tf2"``."""
        if not self.target_frame:
            return "none"
        return "tf2" if self._buffer is not None else "static"

    def lookup(self, source_frame: str, stamp: Any = None) -> Transform | None:
        """The ``target <- source_frame`` transform at ``stamp`` (a ``builtin_interfaces/Time``).

        Returns None when no target frame is configured, or the source already
        is the target frame.

        Raises:
            TransformUnavailableError: tf2 knows no such transform (yet); the
                message names both frames.
        """
        if not self.target_frame or source_frame == self.target_frame:
            return None
        if self._buffer is None:
            return self.static
        import rclpy.time
        from rclpy.duration import Duration

        when = (rclpy.time.Time(nanoseconds=stamp_to_ns(stamp)) if stamp is not None
                else rclpy.time.Time())
        errors = []
        # Never block: a subscription callback waiting on /tf would starve the
        # executor that delivers /tf.
        for t in (when, rclpy.time.Time()):
            try:
                msg = self._buffer.lookup_transform(self.target_frame, source_frame, t,
                                                    timeout=Duration(seconds=0.0))
                return transform_from_msg(msg)
            except Exception as exc:  # tf2's LookupException / ExtrapolationException / ...
                errors.append(f"{type(exc).__name__}: {exc}")
        raise TransformUnavailableError(
            f"no tf2 transform from '{source_frame}' to '{self.target_frame}' ({errors[-1]}); "
            "is the robot's /tf (robot_state_publisher, a static_transform_publisher for the "
            "camera) running?")

    def close(self) -> None:
        """Stop listening to /tf."""
        listener, self._listener, self._buffer = self._listener, None, None
        if listener is not None and hasattr(listener, "unregister"):
            listener.unregister()


# --------------------------------------------------------------------------- messages

def _vectors(items: Sequence[Any]) -> np.ndarray:
    """``float64[N, 3]`` of messages with ``x, y, z``."""
    return np.array([(v.x, v.y, v.z) for v in items], np.float64).reshape(-1, 3)


def _set_xyz(target: Any, xyz: np.ndarray) -> None:
    target.x, target.y, target.z = float(xyz[0]), float(xyz[1]), float(xyz[2])


def _copy_header(header: Header, frame_id: str) -> Header:
    out = Header(frame_id=frame_id)
    out.stamp.sec, out.stamp.nanosec = header.stamp.sec, header.stamp.nanosec
    return out


_NO_POINTS = np.zeros((0, 3), np.float32)
_NO_COLORS = np.zeros((0, 3), np.uint8)


def _transform_cloud(cloud: Any, transform: Transform, header: Header) -> Any:
    """The cloud's points moved through ``transform``, colours/labels kept, new header."""
    points, colors, labels = cloud_to_points(cloud)
    return points_to_cloud(transform.apply(points), header, colors=colors, labels=labels)


def transform_objects_msg(msg: Any, transform: Transform, target_frame: str, *,
                          with_clouds: bool = True) -> Any:
    """A new ``ObjectInstanceArray`` equal to ``msg`` expressed in ``target_frame``.

    Args:
        msg: ``seg_perception/ObjectInstanceArray`` in ``msg.header.frame_id``.
        transform: ``target_frame <- msg.header.frame_id`` (see the module docstring).
        target_frame: written to the new header (and each object's cloud header).

    Moved (rotation + translation): ``centroid``, ``box_pose.position``,
    ``grasp_point``, every cloud point. Rotated only: ``box_pose.orientation``
    (``R_target = R_T @ R_box``), ``top_normal``, ``grasp_approach``,
    ``grasp_axis``. The support plane ``n . p + d = 0`` becomes ``n' = R n``,
    ``d' = d - n' . t``. Unchanged and shared with ``msg`` (not copied): the 2D
    fields ``roi`` and ``mask`` (they stay in the camera's pixel grid) and the
    scalars. Clouds are rewritten with fields ``x, y, z`` and, when present,
    ``rgb`` / ``label`` (other fields are dropped); ``with_clouds=False`` leaves
    every cloud empty instead (for consumers that need only boxes: faster).

    ``has_3d`` and ``geometry_status`` are copied. Objects without 3D
    (``has_3d`` false) keep zero 3D fields, and objects without a grasp
    (``grasp_approach`` zero) keep zero grasp fields, so "unknown" stays
    recognisable instead of becoming the frame's origin.
    """
    from seg_perception.msg import ObjectInstance, ObjectInstanceArray

    header = _copy_header(msg.header, target_frame)
    out = ObjectInstanceArray(header=header, image_width=msg.image_width,
                              image_height=msg.image_height, backend=msg.backend,
                              device=msg.device, has_support_plane=msg.has_support_plane)
    plane = np.asarray(msg.support_plane, np.float64).reshape(4)
    if msg.has_support_plane:
        n = transform.apply_vectors(plane[:3])
        plane = np.concatenate([n, [plane[3] - float(n @ transform.translation)]])
    out.support_plane = plane

    objs = list(msg.objects)
    if not objs:
        return out
    R, t = transform.rotation, transform.translation
    has_geom = np.array([bool(o.has_3d) for o in objs])
    has_grasp = np.any(_vectors([o.grasp_approach for o in objs]) != 0, axis=1)
    keep0 = np.where(has_geom[:, None], 1.0, 0.0)
    grasp0 = np.where(has_grasp[:, None], 1.0, 0.0)
    # All objects at once: per-call overhead dominates for one 3-vector.
    centroids = (_vectors([o.centroid for o in objs]) @ R.T + t) * keep0
    centers = (_vectors([o.box_pose.position for o in objs]) @ R.T + t) * keep0
    normals = _vectors([o.top_normal for o in objs]) @ R.T
    grasp_points = (_vectors([o.grasp_point for o in objs]) @ R.T + t) * grasp0
    approaches = _vectors([o.grasp_approach for o in objs]) @ R.T
    axes = _vectors([o.grasp_axis for o in objs]) @ R.T
    quats = np.array([(o.box_pose.orientation.x, o.box_pose.orientation.y,
                       o.box_pose.orientation.z, o.box_pose.orientation.w) for o in objs],
                     np.float64)
    zero_q = np.linalg.norm(quats, axis=1) < 1e-12  # an unset orientation: identity
    quats[zero_q] = (0.0, 0.0, 0.0, 1.0)
    new_quats = rotation_matrix_to_quaternion(R @ quaternion_to_rotation_matrix(quats))
    new_quats[~has_geom] = (0.0, 0.0, 0.0, 1.0)

    objects = []
    for i, src in enumerate(objs):
        inst = ObjectInstance(
            id=src.id, track_id=src.track_id, track_age=src.track_age, class_id=src.class_id,
            class_name=src.class_name, score=src.score, roi=src.roi, mask=src.mask,
            grasp_width=src.grasp_width, has_3d=src.has_3d,
            geometry_status=src.geometry_status)
        inst.box_size.x, inst.box_size.y, inst.box_size.z = (
            src.box_size.x, src.box_size.y, src.box_size.z)
        _set_xyz(inst.centroid, centroids[i])
        _set_xyz(inst.box_pose.position, centers[i])
        q = inst.box_pose.orientation
        q.x, q.y, q.z, q.w = (float(v) for v in new_quats[i])
        _set_xyz(inst.top_normal, normals[i])
        _set_xyz(inst.grasp_point, grasp_points[i])
        _set_xyz(inst.grasp_approach, approaches[i])
        _set_xyz(inst.grasp_axis, axes[i])
        inst.cloud = (_transform_cloud(src.cloud, transform, header) if with_clouds
                      else points_to_cloud(_NO_POINTS, header, colors=_NO_COLORS))
        objects.append(inst)
    out.objects = objects
    return out
