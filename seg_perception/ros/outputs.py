"""Scene -> every per-frame output message: the one home of that code.

The objects array (:func:`scene_to_objects_msg`), the instance and semantic label
images, the merged object cloud and the RViz markers are built here, all from the
same :class:`~seg_perception.results.Scene` and with one colour per display id
(:func:`seg_perception.visualize.color_for_id` of
:func:`seg_perception.scene_cloud.display_id`: overlays, markers and clouds agree).
``vision_msgs`` detections are :mod:`seg_perception.ros.vision_outputs` (an optional
dependency). Low-level converters (images, clouds, headers) are
:mod:`seg_perception.ros.conversions`.

Messages are built with only the values they carry (``conversions.bare_message``): a
generated message's constructor first builds a default for every field, nested
messages included, which was most of the cost of a frame's outputs. The objects
array also comes as its serialized bytes (:func:`scene_to_objects_cdr`, written with
:class:`seg_perception.ros.cdr.CdrWriter`), which the node publishes where
:func:`objects_cdr_matches` says the rmw in use would have written the same.
"""
from __future__ import annotations

import array
import sys
from functools import lru_cache
from typing import Any, Mapping, NamedTuple

import numpy as np
from sensor_msgs.msg import RegionOfInterest
from std_msgs.msg import Header

from ..geometry.transforms import rotation_matrix_to_quaternion
from ..results import Scene
from ..scene_cloud import display_id, scene_cloud
from ..visualize import color_for_id
from .cdr import CdrWriter
from .conversions import (CloudPayload, cloud_message, cloud_payload, image_message,
                          numpy_to_image, points_to_cloud)
from .message_maker import bare_message, message_maker, stamped_header

__all__ = ["instance_label_image", "objects_cdr_matches", "scene_to_cloud", "scene_to_markers",
           "scene_to_objects_cdr", "scene_to_objects_msg", "semantic_label_image"]


def instance_label_image(scene: Scene, header: Any) -> Any:
    """16UC1 image: 0 = no object, ``i + 1`` = ObjectInstance with ``id == i``
    (:meth:`InstanceMasks.label_image`, made once per scene: for a label-image
    segmenter the image itself)."""
    return numpy_to_image(scene.instances.label_image(), "16UC1", header)


def semantic_label_image(scene: Scene, header: Any) -> Any | None:
    """mono8 image of class indices (None when no semantic stage ran)."""
    if scene.semantic is None:
        return None
    return numpy_to_image(scene.semantic.labels, "mono8", header)


def scene_to_cloud(scene: Scene, header: Any) -> Any:
    """All objects' points in one PointCloud2 with x, y, z, rgb and ``label`` fields
    (:func:`seg_perception.scene_cloud.scene_cloud`: label = display id + 1; objects
    without 3D add no points)."""
    cloud = scene_cloud(scene)
    return points_to_cloud(cloud.points, header, colors=cloud.colors, labels=cloud.labels)


# --------------------------------------------------------------------------- objects
# ~/objects in two forms from one set of values (_objects_fields): the message
# (scene_to_objects_msg) and its serialized bytes (scene_to_objects_cdr), which the
# node publishes as they are: building ~40 Python messages per object and letting
# rclpy convert them cost about 1 ms a frame on the path to the planner.

_POSE_SLOTS = 25  # centroid 3, box position 3, orientation (x, y, z, w) 4, box size 3,
#                   top normal 3, grasp point 3, approach 3, axis 3: the message's order


class _ObjectFields(NamedTuple):
    """One ``ObjectInstance``'s values, as the message stores them."""

    ids: tuple[int, int, int, int]  # id, track_id, track_age, class_id
    class_name: str
    score: float  # rounded to float32, as the wire carries it
    roi: tuple[int, int, int, int]  # x_offset, y_offset, width, height
    mask: array.array  # mono8 0/255 of the ROI, row-major
    has_3d: bool
    geometry_status: int
    poses: list[float]  # _POSE_SLOTS values
    grasp_width: float
    cloud: CloudPayload


class _ArrayFields(NamedTuple):
    """An ``ObjectInstanceArray``'s values (headers: the array's stamp and frame)."""

    sec: int
    nanosec: int
    frame_id: str
    image_size: tuple[int, int]  # width, height
    support_plane: list[float] | None
    backend: str
    device: str
    objects: list[_ObjectFields]


def _grasp_fields(grasp: Any) -> tuple[Any, Any, Any, float]:
    """``(point, approach, axis, width)`` of a 4-sequence or an object with those attributes."""
    if all(hasattr(grasp, a) for a in ("point", "approach", "axis", "width")):
        return grasp.point, grasp.approach, grasp.axis, float(grasp.width)
    try:
        point, approach, axis, width = grasp
    except (TypeError, ValueError):
        raise TypeError(
            "a grasp must be (point, approach, axis, width) or have attributes point, "
            f"approach, axis and width; got {type(grasp).__name__}") from None
    return point, approach, axis, float(width)


def _objects_fields(scene: Scene, header: Header, backend: str, device: str,
                    grasps: Mapping[int, Any] | None, with_clouds: bool) -> _ArrayFields:
    """What :func:`scene_to_objects_msg` documents, as plain values (batched over the
    objects: per-call overhead dominates for one object's 3x3 or 3-vector)."""
    frame = scene.frame
    img_h, img_w = (frame.height, frame.width) if frame is not None else scene.instances.shape
    plane = (None if scene.support_plane is None
             else np.asarray(scene.support_plane.coefficients, np.float64).reshape(4).tolist())
    objects = scene.objects
    n = len(objects)
    rois = _rois_of(np.array([o.box_2d for o in objects], np.float64), int(img_w),
                    int(img_h)).tolist()
    poses = np.zeros((n, _POSE_SLOTS))
    poses[:, 9] = 1.0  # identity orientation for objects without 3D
    widths = np.zeros(n)
    with_3d = [i for i, o in enumerate(objects) if o.geometry is not None]
    if with_3d:
        geometry = [objects[i].geometry for i in with_3d]
        poses[with_3d, 0:3] = [g.centroid for g in geometry]
        poses[with_3d, 3:6] = [g.box_center for g in geometry]
        poses[with_3d, 6:10] = rotation_matrix_to_quaternion(
            np.array([g.box_rotation for g in geometry]).reshape(-1, 3, 3))
        poses[with_3d, 10:13] = [g.box_extent for g in geometry]
        poses[with_3d, 13:16] = [g.top_normal for g in geometry]
    for i in with_3d:  # no 3D: no grasp either (has_3d says so)
        grasp = grasps.get(objects[i].index) if grasps is not None else None
        if grasp is None:
            grasp = objects[i].grasp
        if grasp is not None:
            point, approach, axis, widths[i] = _grasp_fields(grasp)
            poses[i, 16:25] = np.concatenate([np.asarray(v, np.float64).reshape(3)
                                              for v in (point, approach, axis)])
    scores = np.array([o.score for o in objects], np.float32).tolist()
    widths = widths.astype(np.float32).tolist()
    codes = _status_codes()
    out = []
    for obj, (x, y, w, h), pose, score, width in zip(objects, rois, poses.tolist(), scores,
                                                     widths):
        mask = array.array("B")
        mask.frombytes(np.ascontiguousarray(obj.mask_window(x, y, x + w, y + h), bool)
                       .view(np.uint8) * np.uint8(255))
        g = obj.geometry
        cloud = (cloud_payload(np.asarray(g.points, np.float32).reshape(-1, 3), colors=g.colors)
                 if g is not None and with_clouds else _empty_cloud())
        out.append(_ObjectFields(
            (int(obj.index), int(obj.track_id), max(int(obj.age), 0), int(obj.class_id)),
            str(obj.class_name), score, (x, y, w, h), mask, g is not None,
            codes.get(obj.geometry_status, codes["unknown"]), pose, width, cloud))
    return _ArrayFields(int(header.stamp.sec), int(header.stamp.nanosec), str(header.frame_id),
                        (int(img_w), int(img_h)), plane, str(backend), str(device), out)


def scene_to_objects_msg(scene: Scene, header: Header, backend: str = "", device: str = "",
                         grasps: Mapping[int, Any] | None = None,
                         with_clouds: bool = True) -> Any:
    """A ``seg_perception/ObjectInstanceArray`` describing every object of ``scene``.

    Args:
        scene: the pipeline's result; 3D fields are taken as they are (metres in
            ``header.frame_id``: the frame the geometry was computed in).
        header: stamp and frame of the array, copied to every mask and cloud.
        backend, device: the instance segmenter and compute device, for the record.
        grasps: optional ``{object index: (point, approach, axis, width)}``
            (or objects with those attributes) overriding ``SceneObject.grasp``;
            objects with neither, and objects without 3D, get zero grasp fields.
        with_clouds: False leaves every ``cloud`` empty (fields x, y, z, rgb
            declared, zero points), to save bandwidth when planners need only boxes.

    Per object: ``roi`` covers ``box_2d`` (x2/y2 exclusive, clipped to the image);
    ``mask`` is the object's mask cropped to ``roi``, mono8 255/0; ``box_pose``
    is ``box_center`` with the quaternion of ``box_rotation``; ``cloud`` holds the
    object's points with ``rgb`` when it has colours. ``has_3d`` and
    ``geometry_status`` say whether the 3D part is valid (see the message); objects
    without geometry get ``has_3d`` false, zero 3D and grasp fields, an identity
    orientation and an empty cloud.
    """
    return _objects_message(_objects_fields(scene, header, backend, device, grasps,
                                            with_clouds))


def scene_to_objects_cdr(scene: Scene, header: Header, backend: str = "", device: str = "",
                         grasps: Mapping[int, Any] | None = None,
                         with_clouds: bool = True) -> bytes:
    """:func:`scene_to_objects_msg` serialized (what ``Publisher.publish`` takes as
    bytes), written straight from the scene's arrays. Use it where
    :func:`objects_cdr_matches` is True (the rmw in use writes the same bytes)."""
    return _objects_cdr(_objects_fields(scene, header, backend, device, grasps, with_clouds))


def _objects_message(fields: _ArrayFields) -> Any:
    from geometry_msgs.msg import Point, Pose, Quaternion, Vector3

    from seg_perception.msg import ObjectInstance, ObjectInstanceArray

    point, vector = message_maker(Point), message_maker(Vector3)
    sec, nanosec, frame_id = fields.sec, fields.nanosec, fields.frame_id
    out = ObjectInstanceArray(header=stamped_header(sec, nanosec, frame_id),
                              image_width=fields.image_size[0],
                              image_height=fields.image_size[1],
                              backend=fields.backend, device=fields.device)
    if fields.support_plane is not None:
        out.has_support_plane = True
        out.support_plane = np.array(fields.support_plane, np.float64)
    built = []
    for f in fields.objects:
        x, y, w, h = f.roi
        p = f.poses
        built.append(bare_message(ObjectInstance, {
            "id": f.ids[0], "track_id": f.ids[1], "track_age": f.ids[2], "class_id": f.ids[3],
            "class_name": f.class_name, "score": f.score,
            "roi": bare_message(RegionOfInterest, {"x_offset": x, "y_offset": y, "height": h,
                                                   "width": w, "do_rectify": False}),
            "mask": image_message(f.mask, h, w, "mono8", w,
                                  stamped_header(sec, nanosec, frame_id)),
            "has_3d": f.has_3d, "geometry_status": f.geometry_status,
            "centroid": point(x=p[0], y=p[1], z=p[2]),
            "box_pose": bare_message(Pose, {
                "position": point(x=p[3], y=p[4], z=p[5]),
                "orientation": bare_message(Quaternion, {"x": p[6], "y": p[7], "z": p[8],
                                                         "w": p[9]})}),
            "box_size": vector(x=p[10], y=p[11], z=p[12]),
            "top_normal": vector(x=p[13], y=p[14], z=p[15]),
            "grasp_point": point(x=p[16], y=p[17], z=p[18]),
            "grasp_approach": vector(x=p[19], y=p[20], z=p[21]),
            "grasp_axis": vector(x=p[22], y=p[23], z=p[24]),
            "grasp_width": f.grasp_width,
            "cloud": cloud_message(f.cloud, stamped_header(sec, nanosec, frame_id))}))
    out.objects = built
    return out


def _objects_cdr(fields: _ArrayFields) -> bytes:
    """``_objects_message(fields)`` in CDR, field by field in the ``.msg`` files' order."""
    sec, nanosec, frame_id = fields.sec, fields.nanosec, fields.frame_id
    big_endian = sys.byteorder == "big"
    out = CdrWriter()
    out.header(sec, nanosec, frame_id)
    out.pack("IIB", *fields.image_size, fields.support_plane is not None)
    out.pack("4d", *(fields.support_plane or (0.0, 0.0, 0.0, 0.0)))
    out.string(fields.backend)
    out.string(fields.device)
    out.pack("I", len(fields.objects))
    for f in fields.objects:
        x, y, w, h = f.roi
        out.pack("IiIi", *f.ids)
        out.string(f.class_name)
        out.pack("fIIII?", f.score, x, y, h, w, False)  # score; roi: x, y, height, width, rectify
        out.header(sec, nanosec, frame_id)  # mask: sensor_msgs/Image
        out.pack("II", h, w)
        out.string("mono8")
        out.pack("BI", big_endian, w)  # is_bigendian, step
        out.byte_sequence(f.mask)
        out.pack(f"?B{_POSE_SLOTS}df", f.has_3d, f.geometry_status, *f.poses, f.grasp_width)
        cloud = f.cloud  # sensor_msgs/PointCloud2
        out.header(sec, nanosec, frame_id)
        out.pack("II", 1, cloud.width)
        out.pack(*_point_fields_cdr(cloud.fields))
        out.pack("?II", big_endian, cloud.point_step, cloud.point_step * cloud.width)
        out.byte_sequence(cloud.data)
        out.pack("?", cloud.is_dense)
    return out.getvalue()


@lru_cache(maxsize=None)
def _point_fields_cdr(fields: tuple[tuple[str, int, int], ...]) -> tuple[Any, ...]:
    """``CdrWriter.pack`` arguments of a ``PointField[]`` (the same for every cloud of a layout)."""
    fmt, values = "I", [len(fields)]
    for name, offset, datatype in fields:
        raw = name.encode()
        fmt += f"I{len(raw) + 1}sIBI"  # name, offset, datatype, count
        values += [len(raw) + 1, raw, offset, datatype, 1]
    return (fmt, *values)


@lru_cache(maxsize=None)
def objects_cdr_matches() -> bool:
    """True when :func:`scene_to_objects_cdr`'s bytes are what this process's rmw makes
    of the message (checked once on two hand-made objects: with 3D, a coloured cloud
    and a grasp; without 3D and with a non-ASCII class name). Compared by decoding,
    and by length, as the rmw's own padding bytes are not deterministic."""
    from rclpy.serialization import deserialize_message, serialize_message

    from seg_perception.msg import ObjectInstanceArray

    mask = array.array("B", [0, 255, 255, 0, 255, 0])
    cloud = cloud_payload(np.array([[0.1, -0.2, 0.9], [0.3, 0.0, 1.1]], np.float32),
                          colors=np.array([[255, 0, 7], [1, 2, 3]], np.uint8))
    empty = _empty_cloud()
    poses = [float(v) / 7 for v in range(_POSE_SLOTS)]
    sample = _ArrayFields(17, 999_999_999, "camera_color_optical_frame", (640, 480),
                          [0.0, 0.0, 1.0, -0.7], "geometric", "cpu", [
                              _ObjectFields((0, 3, 12, 1), "object", float(np.float32(0.9)),
                                            (10, 20, 3, 2), mask, True, 1, poses,
                                            float(np.float32(0.05)), cloud),
                              _ObjectFields((1, -1, 0, 7), "tasse_à_café", 0.5,
                                            (0, 0, 0, 0), array.array("B"), False, 4,
                                            [0.0] * 9 + [1.0] + [0.0] * 15, 0.0, empty)])
    message = _objects_message(sample)
    written = _objects_cdr(sample)
    try:
        decoded = deserialize_message(written, ObjectInstanceArray)
    except Exception:  # noqa: BLE001 - any failure to decode means "not the same format"
        return False
    return decoded == message and len(written) == len(serialize_message(message))


def _empty_cloud() -> CloudPayload:
    """No points, fields x, y, z, rgb declared (a fresh buffer: messages do not share one)."""
    return cloud_payload(np.zeros((0, 3), np.float32), colors=np.zeros((0, 3), np.uint8))


def _rois_of(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """``int64[N, 4]`` ``(x, y, w, h)``: the whole pixels ``float[N, 4]`` ``(x1, y1, x2, y2)``
    boxes cover (x2/y2 exclusive), clipped to the image."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    x0 = np.clip(np.floor(b[:, 0]), 0, width)
    y0 = np.clip(np.floor(b[:, 1]), 0, height)
    xe = np.clip(np.ceil(b[:, 2]), x0, width)
    ye = np.clip(np.ceil(b[:, 3]), y0, height)
    return np.stack([x0, y0, xe - x0, ye - y0], axis=1).astype(np.int64)


@lru_cache(maxsize=None)
def _status_codes() -> dict[str, int]:
    """``SceneObject.geometry_status`` name -> ``ObjectInstance.GEOMETRY_*`` value."""
    from seg_perception.msg import ObjectInstance

    return {name[len("GEOMETRY_"):].lower(): int(getattr(ObjectInstance, name))
            for name in dir(ObjectInstance) if name.startswith("GEOMETRY_")}


# --------------------------------------------------------------------------- markers

def scene_to_markers(scene: Scene, header: Any, namespace: str = "seg_perception",
                     lifetime_s: float = 0.0) -> Any:
    """``visualization_msgs/MarkerArray``: box (CUBE), text (id, class, score) and
    top-down grasp arrow for each object with 3D, coloured by display id.

    Starts with a DELETEALL marker so objects that vanished disappear in RViz.
    Objects without 3D (``has_3d`` false: depth missing, out of range, too few
    points) get no marker at all: they have no place in 3D, and a box or arrow at
    the frame's origin would show an obstacle that is not there.
    """
    from builtin_interfaces.msg import Duration
    from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
    from std_msgs.msg import ColorRGBA
    from visualization_msgs.msg import Marker, MarkerArray

    marker, point, vector = message_maker(Marker), message_maker(Point), message_maker(Vector3)
    pose, quaternion, colour, duration = (message_maker(Pose), message_maker(Quaternion), message_maker(ColorRGBA),
                                          message_maker(Duration))
    out = MarkerArray()
    markers = [marker(header=header, ns=namespace, action=Marker.DELETEALL)]
    with_3d = [obj for obj in scene.objects if obj.has_3d]
    if not with_3d:
        out.markers = markers
        return out
    # One batched conversion: per-object calls cost more than the markers themselves.
    quaternions = rotation_matrix_to_quaternion(np.stack([o.geometry.box_rotation
                                                          for o in with_3d]))
    identity = (0.0, 0.0, 0.0, 1.0)

    def at(position: Any, orientation: tuple[float, float, float, float] = identity) -> Any:
        x, y, z = (float(v) for v in position)
        qx, qy, qz, qw = orientation
        return pose(position=point(x=x, y=y, z=z),
                    orientation=quaternion(x=qx, y=qy, z=qz, w=qw))

    for obj, q in zip(with_3d, quaternions.tolist()):
        g = obj.geometry
        ident = display_id(obj)
        r, gr, b = (c / 255.0 for c in color_for_id(ident))
        sx, sy, sz = (max(float(v), 1e-3) for v in g.box_extent)
        markers.append(marker(
            header=header, ns=f"{namespace}/boxes", id=ident, type=Marker.CUBE,
            action=Marker.ADD, pose=at(g.box_center, tuple(float(v) for v in q)),
            scale=vector(x=sx, y=sy, z=sz), color=colour(r=r, g=gr, b=b, a=0.45),
            lifetime=duration(sec=int(lifetime_s), nanosec=0)))
        top = np.asarray(g.box_center) + np.asarray(g.top_normal) * (
            float(np.max(g.box_extent)) / 2 + 0.03)
        markers.append(marker(
            header=header, ns=f"{namespace}/labels", id=ident, type=Marker.TEXT_VIEW_FACING,
            action=Marker.ADD, pose=at(top), scale=vector(x=0.0, y=0.0, z=0.03),
            color=colour(r=1.0, g=1.0, b=1.0, a=1.0),
            text=f"{ident}: {obj.class_name} {obj.score:.2f}"))
        if obj.grasp is not None:
            tip = np.asarray(obj.grasp.point, float)
            tail = tip - np.asarray(obj.grasp.approach, float) * 0.08
            markers.append(marker(
                header=header, ns=f"{namespace}/grasps", id=ident, type=Marker.ARROW,
                action=Marker.ADD, pose=at((0.0, 0.0, 0.0)),
                points=[point(x=float(tail[0]), y=float(tail[1]), z=float(tail[2])),
                        point(x=float(tip[0]), y=float(tip[1]), z=float(tip[2]))],
                scale=vector(x=0.008, y=0.016, z=0.02), color=colour(r=r, g=gr, b=b, a=1.0)))
    out.markers = markers
    return out
