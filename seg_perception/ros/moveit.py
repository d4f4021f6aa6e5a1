"""Perceived objects as MoveIt collision objects (``moveit_msgs/CollisionObject``).

Pure functions turn one ``seg_perception/ObjectInstance`` into a collision
object (:func:`object_to_collision_object`) and the support plane into a thin
table box (:func:`support_plane_to_collision_object`);
:class:`CollisionObjectTracker` turns successive ``ObjectInstanceArray``
messages into the stream of ADD / MOVE / REMOVE operations MoveIt's planning
scene monitor expects on ``/collision_object``.

Shapes (``shape`` argument)
    ``"box"``: the object's oriented box (``box_pose``, ``box_size``).
    ``"cylinder"``: a cylinder standing along the box axis nearest to "up"
    (``top_normal``; the support plane's normal when the object has none; the
    box's z otherwise), height = the box size along that axis, radius = half
    the larger of the two horizontal sizes (right for round objects, whose box
    footprint is the circle's bounding square).
    ``"auto"``: a cylinder when the two horizontal sizes ``a, b`` are nearly
    equal, ``|a - b| <= cylinder_tolerance * max(a, b)`` (a square footprint:
    cans, cups, bottles), a box otherwise. A square box also passes this test;
    its cylinder (radius a / 2) misses the box's corners by at most 21% of the
    half side, within the padding a planner should use anyway.

    ``padding`` (metres) grows every side: box sizes + 2 * padding, cylinder
    radius + padding and height + 2 * padding.

Poses
    The collision object's ``pose`` is the shape's pose in ``header.frame_id``
    and its single ``primitive_poses`` entry is the identity (MoveIt >= Noetic
    and MoveIt 2 place primitives relative to ``pose``). A cylinder's pose has
    its z axis (MoveIt's cylinder axis) along the object's up axis. Objects with
    a grasp get a subframe ``grasp`` (plan to ``seg_<track>/grasp``): origin at
    ``grasp_point``, z along ``grasp_approach`` (into the object), x along
    ``grasp_axis`` (the closing direction).

``moveit_msgs`` is imported inside the functions, so this module imports
without MoveIt; the functions raise :class:`MoveItMessagesMissingError` then.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..errors import SegPerceptionError
from ..geometry.transforms import quaternion_to_rotation_matrix, rotation_matrix_to_quaternion

__all__ = [
    "COLLISION_OBJECT_TOPIC",
    "SHAPES",
    "SUPPORT_SURFACE_ID",
    "CollisionObjectTracker",
    "CollisionUpdate",
    "MoveItMessagesMissingError",
    "ShapeFit",
    "collision_object_type",
    "default_object_id",
    "fit_shape",
    "object_to_collision_object",
    "remove_collision_object",
    "support_plane_to_collision_object",
]

COLLISION_OBJECT_TOPIC = "/collision_object"
"""The topic MoveIt's planning scene monitor (move_group) applies collision objects from."""
SUPPORT_SURFACE_ID = "seg_support_surface"
"""Collision object id of the support surface (table) box."""
SHAPES: tuple[str, ...] = ("box", "cylinder", "auto")


class MoveItMessagesMissingError(SegPerceptionError, ImportError):
    """``moveit_msgs`` is not installed."""


def collision_object_type() -> Any:
    """The ``moveit_msgs.msg.CollisionObject`` class.

    Raises:
        MoveItMessagesMissingError: moveit_msgs is not importable (the message says how to get it).
    """
    try:
        from moveit_msgs.msg import CollisionObject
    except ImportError as exc:
        raise MoveItMessagesMissingError(
            f"moveit_msgs is not importable ({exc}): install MoveIt 2's messages "
            "(apt install ros-$ROS_DISTRO-moveit-msgs) or, for tests only, build the copies "
            "with `bash scripts/build_test_interfaces.sh` and `source scripts/env.sh`") from None
    return CollisionObject


# --------------------------------------------------------------------------- shapes

@dataclass(frozen=True, eq=False)
class ShapeFit:
    """One collision primitive in the message's frame.

    Attributes:
        kind: ``"box"`` or ``"cylinder"``.
        dimensions: box ``(x, y, z)`` sizes, or cylinder ``(height, radius)``
            (``shape_msgs/SolidPrimitive`` order), metres, padding included.
        position: ``float64[3]`` centre, metres.
        rotation: ``float64[3, 3]`` shape axes as columns (a cylinder's axis is column 2).
    """

    kind: str
    dimensions: tuple[float, ...]
    position: np.ndarray
    rotation: np.ndarray

    @property
    def quaternion(self) -> np.ndarray:
        """``float64[4]`` ``(x, y, z, w)`` of :attr:`rotation`."""
        return rotation_matrix_to_quaternion(self.rotation)


def _xyz(v: Any) -> np.ndarray:
    return np.array([v.x, v.y, v.z], np.float64)


def _box_rotation(obj: Any) -> np.ndarray:
    q = obj.box_pose.orientation
    quat = np.array([q.x, q.y, q.z, q.w], np.float64)
    return quaternion_to_rotation_matrix(quat) if np.linalg.norm(quat) > 1e-12 else np.eye(3)


def fit_shape(obj: Any, shape: str = "box", padding: float = 0.0,
              cylinder_tolerance: float = 0.15, up: Sequence[float] | None = None) -> ShapeFit:
    """The collision primitive of one ``ObjectInstance`` (see the module docstring).

    Args:
        obj: ``seg_perception/ObjectInstance``; uses ``box_pose``, ``box_size``, ``top_normal``.
        shape: one of :data:`SHAPES`.
        padding: metres added to every side (>= 0).
        cylinder_tolerance: ``"auto"``'s relative tolerance on the horizontal sizes.
        up: the frame's up direction (e.g. the support plane normal), used when
            the object has no ``top_normal``.

    Raises:
        ValueError: unknown ``shape``, negative ``padding``, or an object without
            3D geometry (``has_3d`` false, or ``box_size`` all zero).
    """
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {', '.join(SHAPES)}, got {shape!r}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0 metres, got {padding}")
    if not obj.has_3d:
        from .conversions import geometry_status_name
        raise ValueError(f"object {obj.id} (track {obj.track_id}) has no 3D geometry "
                         f"(has_3d is false, geometry_status {geometry_status_name(obj)}): "
                         "there is nothing to add to the planning scene")
    size = _xyz(obj.box_size)
    if not np.any(size > 0):
        raise ValueError(f"object {obj.id} (track {obj.track_id}) has no 3D geometry "
                         "(box_size is zero): there is nothing to add to the planning scene")
    R = _box_rotation(obj)
    center = _xyz(obj.box_pose.position)
    if shape == "box":
        return ShapeFit("box", tuple(float(s + 2 * padding) for s in size), center, R)
    up_vec = _xyz(obj.top_normal)
    if np.linalg.norm(up_vec) < 1e-9 and up is not None:
        up_vec = np.asarray(up, np.float64).reshape(3)
    k = int(np.argmax(np.abs(up_vec @ R))) if np.linalg.norm(up_vec) > 1e-9 else 2
    a, b = size[(k + 1) % 3], size[(k + 2) % 3]
    if shape == "auto" and abs(a - b) > cylinder_tolerance * max(a, b):
        return ShapeFit("box", tuple(float(s + 2 * padding) for s in size), center, R)
    # A cyclic permutation of the columns keeps det = +1 and puts axis k last.
    Rc = R[:, [(k + 1) % 3, (k + 2) % 3, k]]
    if np.linalg.norm(up_vec) > 1e-9 and Rc[:, 2] @ up_vec < 0:
        Rc = Rc * np.array([1.0, -1.0, -1.0])  # turn the axis up: a rotation by pi about x
    return ShapeFit("cylinder", (float(size[k] + 2 * padding), float(max(a, b) / 2 + padding)),
                    center, Rc)


# --------------------------------------------------------------------------- messages

def _pose_msg(position: np.ndarray, rotation: np.ndarray | None = None) -> Any:
    from geometry_msgs.msg import Pose

    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = (float(v) for v in position)
    if rotation is not None:
        q = rotation_matrix_to_quaternion(rotation)
        o = pose.orientation
        o.x, o.y, o.z, o.w = (float(v) for v in q)
    return pose


def _header_copy(header: Any) -> Any:
    from std_msgs.msg import Header

    out = Header(frame_id=header.frame_id)
    out.stamp.sec, out.stamp.nanosec = header.stamp.sec, header.stamp.nanosec
    return out


def _grasp_subframe(obj: Any, fit: ShapeFit) -> Any | None:
    """The ``grasp`` subframe pose relative to the shape pose, or None without a grasp."""
    z = _xyz(obj.grasp_approach)
    x = _xyz(obj.grasp_axis)
    if np.linalg.norm(z) < 1e-9 or np.linalg.norm(x) < 1e-9:
        return None
    z = z / np.linalg.norm(z)
    x = x - (x @ z) * z  # exactly perpendicular to the approach
    if np.linalg.norm(x) < 1e-6:
        return None
    x = x / np.linalg.norm(x)
    Rg = np.stack([x, np.cross(z, x), z], axis=1)
    p_rel = fit.rotation.T @ (_xyz(obj.grasp_point) - fit.position)
    return _pose_msg(p_rel, fit.rotation.T @ Rg)


def default_object_id(obj: Any, prefix: str = "seg_") -> str:
    """``<prefix><track_id>``, or ``<prefix>untracked_<id>`` for an untracked object."""
    if int(obj.track_id) >= 0:
        return f"{prefix}{int(obj.track_id)}"
    return f"{prefix}untracked_{int(obj.id)}"


def _fit_to_collision_object(fit: ShapeFit, header: Any, object_id: str, operation: bytes,
                             type_key: str = "") -> Any:
    from shape_msgs.msg import SolidPrimitive

    CollisionObject = collision_object_type()
    msg = CollisionObject(header=_header_copy(header), id=object_id)
    msg.operation = operation
    msg.pose = _pose_msg(fit.position, fit.rotation)
    msg.type.key = type_key
    kind = SolidPrimitive.BOX if fit.kind == "box" else SolidPrimitive.CYLINDER
    msg.primitives = [SolidPrimitive(type=kind, dimensions=list(fit.dimensions))]
    msg.primitive_poses = [_pose_msg(np.zeros(3))]
    return msg


def object_to_collision_object(obj_msg: Any, header: Any, shape: str = "box",
                               padding: float = 0.0, *, object_id: str | None = None,
                               cylinder_tolerance: float = 0.15,
                               up: Sequence[float] | None = None) -> Any:
    """An ADD ``moveit_msgs/CollisionObject`` for one ``seg_perception/ObjectInstance``.

    Args:
        obj_msg: the object; its 3D fields are in ``header.frame_id``.
        header: stamp and frame of the enclosing ``ObjectInstanceArray`` (copied).
        shape, padding, cylinder_tolerance, up: see :func:`fit_shape` and the module docstring.
        object_id: the MoveIt id; default :func:`default_object_id` (``seg_<track_id>``).

    Returns:
        ``operation = ADD``, one primitive (BOX or CYLINDER) with an identity
        primitive pose, ``pose`` = the shape's pose, ``type.key`` = the class
        name, and a ``grasp`` subframe when the object has a grasp.

    Raises:
        MoveItMessagesMissingError: moveit_msgs is not installed.
        ValueError: see :func:`fit_shape`.
    """
    CollisionObject = collision_object_type()
    fit = fit_shape(obj_msg, shape, padding, cylinder_tolerance, up)
    msg = _fit_to_collision_object(fit, header, object_id or default_object_id(obj_msg),
                                   CollisionObject.ADD, obj_msg.class_name)
    grasp = _grasp_subframe(obj_msg, fit)
    if grasp is not None:
        msg.subframe_names = ["grasp"]
        msg.subframe_poses = [grasp]
    return msg


def _support_fit(plane: np.ndarray, size_xy: float | Sequence[float], thickness: float,
                 anchor: np.ndarray) -> ShapeFit:
    n = plane[:3] / np.linalg.norm(plane[:3])
    d = plane[3] / np.linalg.norm(plane[:3])
    on_plane = anchor - (n @ anchor + d) * n
    # x: the frame's x (else y) projected on the plane, so the box's yaw is repeatable.
    ref = np.array([1.0, 0.0, 0.0]) if abs(n[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = ref - (ref @ n) * n
    x /= np.linalg.norm(x)
    sx, sy = (float(size_xy), float(size_xy)) if np.ndim(size_xy) == 0 else (
        float(size_xy[0]), float(size_xy[1]))
    return ShapeFit("box", (sx, sy, float(thickness)), on_plane - n * (thickness / 2.0),
                    np.stack([x, np.cross(n, x), n], axis=1))


def _support_anchor(array_msg: Any) -> np.ndarray:
    centers = [_xyz(o.box_pose.position) for o in array_msg.objects
               if o.has_3d and np.any(_xyz(o.box_size) > 0)]
    return np.mean(centers, axis=0) if centers else np.zeros(3)


def support_plane_to_collision_object(array_msg: Any, size_xy: float | Sequence[float] = 1.0,
                                      thickness: float = 0.02, *,
                                      object_id: str = SUPPORT_SURFACE_ID) -> Any | None:
    """An ADD collision object for the support surface (table) of an ``ObjectInstanceArray``.

    A box ``size_xy`` (one value: square; or ``(x, y)``) by ``thickness``
    metres whose top face lies on the support plane and whose z axis is the
    plane's normal (pointing up). Its centre, in the plane, is below the mean of
    the objects' box centres (the part of the table the objects stand on),
    or below the frame's origin when there are no objects. The box's x axis is
    the frame's x axis projected on the plane (its y axis when x is nearly normal).

    Returns:
        The message, or None when the array has no support plane.

    Raises:
        ValueError: non-positive sizes, or a plane with a zero normal.
    """
    if not array_msg.has_support_plane:
        return None
    plane = np.asarray(array_msg.support_plane, np.float64).reshape(4)
    if np.linalg.norm(plane[:3]) < 1e-9:
        raise ValueError(f"support plane {plane.tolist()} has a zero normal")
    if thickness <= 0 or np.any(np.asarray(size_xy, np.float64) <= 0):
        raise ValueError(f"support surface size {size_xy} and thickness {thickness} must be > 0")
    fit = _support_fit(plane, size_xy, thickness, _support_anchor(array_msg))
    return _fit_to_collision_object(fit, array_msg.header, object_id,
                                    collision_object_type().ADD, "support_surface")


def remove_collision_object(object_id: str, header: Any) -> Any:
    """A REMOVE ``moveit_msgs/CollisionObject`` for ``object_id`` (no geometry)."""
    CollisionObject = collision_object_type()
    msg = CollisionObject(header=_header_copy(header), id=object_id)
    msg.operation = CollisionObject.REMOVE
    return msg


def _move_msg(fit: ShapeFit, header: Any, object_id: str) -> Any:
    """A MOVE: only ``pose`` set, every geometry array empty (MoveIt then moves the object)."""
    CollisionObject = collision_object_type()
    msg = CollisionObject(header=_header_copy(header), id=object_id)
    msg.operation = CollisionObject.MOVE
    msg.pose = _pose_msg(fit.position, fit.rotation)
    return msg


# --------------------------------------------------------------------------- tracker

# 180-degree turns about a box's own axes leave the box where it was.
_BOX_SYMMETRIES = np.array([np.eye(3), np.diag([1.0, -1.0, -1.0]),
                            np.diag([-1.0, 1.0, -1.0]), np.diag([-1.0, -1.0, 1.0])])


def _rotation_change(old: ShapeFit, new: ShapeFit) -> float:
    """Angle (rad) between two poses of the same shape, modulo the shape's symmetries."""
    if new.kind == "cylinder":  # symmetric about its axis and end for end
        c = abs(float(old.rotation[:, 2] @ new.rotation[:, 2]))
        return float(np.arccos(np.clip(c, -1.0, 1.0)))
    rel = old.rotation.T @ new.rotation
    traces = np.einsum("kii->k", rel[None] @ _BOX_SYMMETRIES)
    return float(np.arccos(np.clip((traces.max() - 1.0) / 2.0, -1.0, 1.0)))


@dataclass
class _Known:
    fit: ShapeFit          # as last sent
    frame_id: str
    last_seen: int         # frame counter
    add_msg: Any           # the ADD last sent, its pose kept current by MOVEs


@dataclass(frozen=True)
class CollisionUpdate:
    """What one :meth:`CollisionObjectTracker.update` produced.

    Attributes:
        messages: ``moveit_msgs/CollisionObject`` to publish, in order
            (REMOVEs, then ADDs, then MOVEs).
        added, moved, removed: the ids of each operation.
        notes: objects that were skipped, and why (e.g. untracked objects).
    """

    messages: tuple[Any, ...] = ()
    added: tuple[str, ...] = ()
    moved: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass
class CollisionObjectTracker:
    """Turns successive ``ObjectInstanceArray`` messages into ADD / MOVE / REMOVE operations.

    * **ADD** an object whose track id is new, or whose shape changed (its kind,
      or any dimension by more than ``resize_threshold`` metres): ADD replaces.
    * **MOVE** a known object whose pose moved more than ``move_threshold``
      metres or turned more than ``move_angle_threshold`` radians since the
      pose last sent (modulo the shape's symmetries, so a box fit flipping its
      axes by 180 degrees is no motion). A MOVE carries only the new ``pose``.
    * **REMOVE** an object not seen in ``remove_after`` consecutive frames.

    Ids are ``<id_prefix><track_id>``. Objects with ``track_id < 0`` (tracking
    off) cannot be followed from frame to frame and are skipped, with a note;
    so are objects without 3D geometry (``has_3d`` false: the note names
    ``geometry_status``); a known object that stays without 3D is removed like
    one not seen. With ``support_surface`` the support
    plane becomes the box :data:`SUPPORT_SURFACE_ID`
    (:func:`support_plane_to_collision_object`), under the same rules; once
    added, its centre stays put along the plane (it moves only when the plane
    does), so objects moving on the table do not drag the table along.

    Not thread safe: call :meth:`update` from one thread.
    """

    shape: str = "box"
    padding: float = 0.0
    cylinder_tolerance: float = 0.15
    move_threshold: float = 0.01
    move_angle_threshold: float = 0.1
    resize_threshold: float = 0.02
    remove_after: int = 3
    id_prefix: str = "seg_"
    support_surface: bool = True
    support_size: float | tuple[float, float] = 1.0
    support_thickness: float = 0.02
    _known: dict[str, _Known] = field(default_factory=dict, init=False, repr=False)
    _frame: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"shape must be one of {', '.join(SHAPES)}, got {self.shape!r}")
        if self.remove_after < 1:
            raise ValueError(f"remove_after must be >= 1 frame, got {self.remove_after}")

    @property
    def known_ids(self) -> tuple[str, ...]:
        """Ids currently in the planning scene (as far as this tracker sent), sorted."""
        return tuple(sorted(self._known))

    def _changed(self, old: _Known, fit: ShapeFit, frame_id: str) -> tuple[bool, bool]:
        """``(needs ADD, needs MOVE)`` for a known object's new fit."""
        if old.fit.kind != fit.kind or np.max(np.abs(
                np.subtract(old.fit.dimensions, fit.dimensions))) > self.resize_threshold:
            return True, False
        if old.frame_id != frame_id:
            return False, True  # a pose in another frame: always send it
        moved = (np.linalg.norm(fit.position - old.fit.position) > self.move_threshold
                 or _rotation_change(old.fit, fit) > self.move_angle_threshold)
        return False, moved

    def update(self, array_msg: Any) -> CollisionUpdate:
        """The operations that bring the planning scene to ``array_msg``'s objects.

        Args:
            array_msg: ``seg_perception/ObjectInstanceArray``; poses are sent in
                its ``header.frame_id`` (transform it to the planning frame first,
                see :mod:`seg_perception.ros.planning_frame`).
        """
        CollisionObject = collision_object_type()
        self._frame += 1
        header = array_msg.header
        frame_id = header.frame_id
        plane = (np.asarray(array_msg.support_plane, np.float64)[:3]
                 if array_msg.has_support_plane else None)
        adds: list[Any] = []
        moves: list[Any] = []
        added: list[str] = []
        moved: list[str] = []
        notes: list[str] = []
        seen: set[str] = set()

        def consider(object_id: str, fit: ShapeFit, make_add: Any) -> None:
            seen.add(object_id)
            old = self._known.get(object_id)
            add, move = (True, False) if old is None else self._changed(old, fit, frame_id)
            if add:
                msg = make_add()
                adds.append(msg)
                added.append(object_id)
                self._known[object_id] = _Known(fit, frame_id, self._frame, msg)
            elif move:
                msg = _move_msg(fit, header, object_id)
                moves.append(msg)
                moved.append(object_id)
                old.add_msg.header, old.add_msg.pose = _header_copy(header), msg.pose
                old.fit, old.frame_id, old.last_seen = fit, frame_id, self._frame
            else:
                old.last_seen = self._frame

        for obj in array_msg.objects:
            if int(obj.track_id) < 0:
                notes.append(f"object {obj.id} ({obj.class_name}) has no track id: enable "
                             "tracking in the perception node to get collision objects")
                continue
            object_id = f"{self.id_prefix}{int(obj.track_id)}"
            if object_id in seen:
                notes.append(f"track {obj.track_id} appears twice in one frame: kept the first")
                continue
            try:
                fit = fit_shape(obj, self.shape, self.padding, self.cylinder_tolerance, plane)
            except ValueError as exc:
                notes.append(str(exc))
                continue
            consider(object_id, fit, lambda obj=obj, object_id=object_id: (
                object_to_collision_object(obj, header, self.shape, self.padding,
                                           object_id=object_id,
                                           cylinder_tolerance=self.cylinder_tolerance, up=plane)))

        if self.support_surface and array_msg.has_support_plane:
            plane4 = np.asarray(array_msg.support_plane, np.float64).reshape(4)
            if np.linalg.norm(plane4[:3]) > 1e-9:
                # Once placed, the table stays where it is along the plane (objects
                # moving must not drag it); it only follows the plane itself.
                known = self._known.get(SUPPORT_SURFACE_ID)
                anchor = known.fit.position if known is not None else _support_anchor(array_msg)
                fit = _support_fit(plane4, self.support_size, self.support_thickness, anchor)
                consider(SUPPORT_SURFACE_ID, fit, lambda fit=fit: _fit_to_collision_object(
                    fit, header, SUPPORT_SURFACE_ID, CollisionObject.ADD, "support_surface"))

        removes, removed = [], []
        for object_id, known in list(self._known.items()):
            if object_id not in seen and self._frame - known.last_seen >= self.remove_after:
                removes.append(remove_collision_object(object_id, header))
                removed.append(object_id)
                del self._known[object_id]
        return CollisionUpdate(tuple(removes + adds + moves), tuple(added), tuple(moved),
                               tuple(removed), tuple(notes))

    def snapshot(self) -> tuple[Any, ...]:
        """An ADD message per known object, at the pose last sent (sorted by id).

        Re-sending them brings a planning scene that missed messages (a
        move_group started later: /collision_object is volatile) up to date;
        ADD replaces, so objects it already has are unchanged.
        """
        return tuple(self._known[i].add_msg for i in self.known_ids)

    def clear(self, header: Any) -> CollisionUpdate:
        """REMOVE every object this tracker added (e.g. on shutdown) and forget them."""
        ids = self.known_ids
        self._known.clear()
        return CollisionUpdate(tuple(remove_collision_object(i, header) for i in ids),
                               removed=ids)

    def reset(self) -> None:
        """Forget every object without sending anything (the planning scene was reset)."""
        self._known.clear()
        self._frame = 0
