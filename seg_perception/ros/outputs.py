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
messages included, which was most of the cost of a frame's outputs.
"""
from __future__ import annotations

import array
from functools import lru_cache
from typing import Any, Mapping

import numpy as np
from sensor_msgs.msg import RegionOfInterest
from std_msgs.msg import Header

from ..geometry.transforms import rotation_matrix_to_quaternion
from ..results import Scene
from ..scene_cloud import display_id, scene_cloud
from ..visualize import color_for_id
from .conversions import image_message, numpy_to_image, points_to_cloud
from .message_maker import bare_message, copy_header, message_maker, stamped_header

__all__ = ["instance_label_image", "scene_to_cloud", "scene_to_markers", "scene_to_objects_msg",
           "semantic_label_image"]


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

def _f32(value: Any) -> float:
    """``value`` rounded to float32, as a float32 message field carries it over the wire."""
    return float(np.float32(value))


def _vec(values: Any) -> tuple[float, float, float]:
    v = np.asarray(values, np.float64).reshape(3)
    return float(v[0]), float(v[1]), float(v[2])


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
    from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
    from seg_perception.msg import ObjectInstance, ObjectInstanceArray

    frame = scene.frame
    img_h, img_w = (frame.height, frame.width) if frame is not None else scene.instances.shape
    out = ObjectInstanceArray(header=copy_header(header), image_width=int(img_w),
                              image_height=int(img_h), backend=backend, device=device)
    if scene.support_plane is not None:
        out.has_support_plane = True
        out.support_plane = scene.support_plane.coefficients.astype(np.float64)
    objects = scene.objects
    if not objects:
        out.objects = []
        return out
    # Batched over the objects: ROIs, quaternions (one call: per-call overhead dominates
    # for one 3x3); the per-object messages are built without default fields (bare_message).
    rois = _rois_of(np.array([np.asarray(o.box_2d, np.float64).reshape(4) for o in objects]),
                    int(img_w), int(img_h)).tolist()
    rotations = [obj.geometry.box_rotation for obj in objects if obj.geometry is not None]
    quaternions = iter(rotation_matrix_to_quaternion(
        np.array(rotations).reshape(-1, 3, 3)).tolist())
    sec, nanosec, frame_id = int(header.stamp.sec), int(header.stamp.nanosec), str(header.frame_id)
    no_cloud = np.zeros((0, 3), np.float32), np.zeros((0, 3), np.uint8)
    codes = _status_codes(ObjectInstance)
    zero3 = (0.0, 0.0, 0.0)

    def vec3(cls: type, v: Any) -> Any:
        x, y, z = v
        return bare_message(cls, {"x": x, "y": y, "z": z})

    built = []
    for obj, (x, y, w, h) in zip(objects, rois):
        crop = obj.mask_window(x, y, x + w, y + h)
        data = array.array("B")
        data.frombytes(np.ascontiguousarray(crop, bool).view(np.uint8) * np.uint8(255))
        mask = image_message(data, h, w, "mono8", w, stamped_header(sec, nanosec, frame_id))
        g = obj.geometry
        values: dict[str, Any] = {
            "id": int(obj.index), "track_id": int(obj.track_id),
            "track_age": max(int(obj.age), 0), "class_id": int(obj.class_id),
            "class_name": str(obj.class_name), "score": _f32(obj.score),
            "roi": bare_message(RegionOfInterest, {"x_offset": x, "y_offset": y, "height": h,
                                            "width": w, "do_rectify": False}),
            "mask": mask, "has_3d": g is not None,
            "geometry_status": codes.get(obj.geometry_status, codes["unknown"]),
        }
        grasp = grasps.get(obj.index) if grasps is not None else None
        if grasp is None:
            grasp = obj.grasp
        if g is not None:
            qx, qy, qz, qw = next(quaternions)
            values["centroid"] = vec3(Point, _vec(g.centroid))
            values["box_pose"] = bare_message(Pose, {
                "position": vec3(Point, _vec(g.box_center)),
                "orientation": bare_message(Quaternion, {"x": qx, "y": qy, "z": qz, "w": qw})})
            values["box_size"] = vec3(Vector3, _vec(g.box_extent))
            values["top_normal"] = vec3(Vector3, _vec(g.top_normal))
        else:
            values["centroid"] = vec3(Point, zero3)
            values["box_pose"] = bare_message(Pose, {
                "position": vec3(Point, zero3),
                "orientation": bare_message(Quaternion, {"x": 0.0, "y": 0.0, "z": 0.0, "w": 1.0})})
            values["box_size"] = vec3(Vector3, zero3)
            values["top_normal"] = vec3(Vector3, zero3)
        if g is not None and with_clouds:
            values["cloud"] = points_to_cloud(np.asarray(g.points, np.float32).reshape(-1, 3),
                                              header, colors=g.colors)
        else:
            values["cloud"] = points_to_cloud(no_cloud[0], header, colors=no_cloud[1])
        if grasp is not None and g is not None:  # no 3D: no grasp either (has_3d says so)
            point, approach, axis, width = _grasp_fields(grasp)
            values["grasp_point"] = vec3(Point, _vec(point))
            values["grasp_approach"] = vec3(Vector3, _vec(approach))
            values["grasp_axis"] = vec3(Vector3, _vec(axis))
            values["grasp_width"] = _f32(width)
        else:
            values["grasp_point"] = vec3(Point, zero3)
            values["grasp_approach"] = vec3(Vector3, zero3)
            values["grasp_axis"] = vec3(Vector3, zero3)
            values["grasp_width"] = 0.0
        built.append(bare_message(ObjectInstance, values))
    out.objects = built
    return out


def _rois_of(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """``int64[N, 4]`` ``(x, y, w, h)`` of :func:`_roi_of` for ``float[N, 4]`` boxes."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    x0 = np.clip(np.floor(b[:, 0]), 0, width)
    y0 = np.clip(np.floor(b[:, 1]), 0, height)
    xe = np.clip(np.ceil(b[:, 2]), x0, width)
    ye = np.clip(np.ceil(b[:, 3]), y0, height)
    return np.stack([x0, y0, xe - x0, ye - y0], axis=1).astype(np.int64)


@lru_cache(maxsize=None)
def _status_codes(msg_type: Any) -> dict[str, int]:
    """``SceneObject.geometry_status`` name -> ``ObjectInstance.GEOMETRY_*`` value."""
    return {name[len("GEOMETRY_"):].lower(): int(getattr(msg_type, name))
            for name in dir(msg_type) if name.startswith("GEOMETRY_")}


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
