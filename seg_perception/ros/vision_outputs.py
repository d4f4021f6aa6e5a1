"""Scene -> the common ROS 2 ``vision_msgs`` types (Detection2DArray, Detection3DArray, LabelInfo).

What the fields hold (vision_msgs 4.x, ROS 2 Humble and later):

``Detection2DArray`` (one ``Detection2D`` per object, in ``Scene.objects`` order, so
``detections[i]`` is ``ObjectInstanceArray.objects[i]`` and label ``i + 1`` of
``~/instance_labels``)
    ``bbox.center.position`` is the centre of the object's ``(x1, y1, x2, y2)`` box
    (x2/y2 exclusive, clipped to the image) and ``size_x``/``size_y`` its width and
    height, in pixels of the colour image; ``theta`` is 0 (axis-aligned). For masks
    found by the segmenters these are whole pixels and equal the objects message's
    ``roi``; a learned detector's sub-pixel box is kept as it is.

``Detection3DArray`` (objects with 3D only: ``has_3d`` false, i.e. ``geometry`` None, are left out)
    ``bbox.center`` is the gravity-aligned box's centre and orientation and
    ``bbox.size`` its full extent (metres) in the camera frame of the header, as
    ``box_pose``/``box_size`` of the objects message. ``results[0].pose.pose`` is
    the same pose (as Isaac ROS FoundationPose fills it); covariance is zero (unknown).

Both
    ``results[0].hypothesis``: ``class_id`` is the class name (``"cup"``, ``"object"``)
    by default, as Isaac ROS DetectNet and many community detector nodes publish it;
    ``class_id_format="index"`` gives the class index as a string (``"41"``), as Isaac
    ROS YOLOv8/RT-DETR publish it, to be looked up in ``~/instance_label_info``.
    ``score`` in [0, 1]. ``id`` is the track id as a string, empty when the object is
    not tracked (vision_msgs: "This field may be empty"). Every header is the
    colour image's (stamp and ``frame_id``), for exact-time synchronisation.

``LabelInfo``
    ``class_map``: one ``VisionClass`` per class, ``class_id`` = the index the label
    image / detections use, ``class_name`` its name; ``threshold`` the score
    threshold the results were filtered with.

Per-object masks (FoundationPose and other mask consumers)
    :func:`object_mask_image` cuts one object out of ``~/instance_labels`` (16UC1,
    ``i + 1`` = ``detections[i]``) as the mono8 0/255 image those nodes take.

``vision_msgs`` is imported inside the functions: it is an optional dependency
(:func:`vision_msgs_available` tells the node whether to publish these).
"""
from __future__ import annotations

from importlib.util import find_spec
from typing import Any, Sequence

import numpy as np

from ..errors import InvalidFrameError
from ..geometry.transforms import rotation_matrix_to_quaternion
from ..results import Scene, SceneObject
from .conversions import image_to_numpy, make_header, numpy_to_image
from .message_maker import copy_header, message_maker

__all__ = [
    "CLASS_ID_FORMATS",
    "label_info",
    "object_mask_image",
    "scene_to_detections_2d",
    "scene_to_detections_3d",
    "vision_msgs_available",
]

CLASS_ID_FORMATS: tuple[str, ...] = ("name", "index")
"""What ``ObjectHypothesis.class_id`` carries: the class name, or its index as a string."""

_MAX_LABEL_CLASSES = 65535  # VisionClass.class_id is uint16; 65535 means UNLABELED


def vision_msgs_available() -> bool:
    """True when the ``vision_msgs`` Python messages can be imported."""
    return find_spec("vision_msgs") is not None


def _messages() -> Any:
    try:
        import vision_msgs.msg as vm
    except ImportError as exc:
        raise ImportError(
            f"vision_msgs is not importable ({exc}): install ros-<distro>-vision-msgs, or in a "
            "pip-only setup run `bash ../shared/ros2_extras/install.sh .venv .build/ros2_extras` "
            "and source .build/ros2_extras/local_setup.bash") from None
    return vm


def _header_copy(header: Any) -> Any:
    # A fresh Header per message: rclpy messages are mutable and shared references surprise.
    return copy_header(header)


def _class_id(obj: SceneObject, class_id_format: str) -> str:
    return str(obj.class_name) if class_id_format == "name" else str(int(obj.class_id))


def _check_format(class_id_format: str) -> None:
    if class_id_format not in CLASS_ID_FORMATS:
        raise ValueError(f"class_id_format must be one of {', '.join(CLASS_ID_FORMATS)}, "
                         f"got {class_id_format!r}")


def _track_id(obj: SceneObject) -> str:
    return str(int(obj.track_id)) if obj.track_id >= 0 else ""


def _hypothesis(vm: Any, obj: SceneObject, class_id_format: str) -> Any:
    hyp = message_maker(vm.ObjectHypothesisWithPose)()  # defaults without constructor checks
    hyp.hypothesis.class_id = _class_id(obj, class_id_format)
    hyp.hypothesis.score = float(obj.score)
    return hyp


def _image_size(scene: Scene) -> tuple[int, int]:
    if scene.frame is not None:
        return int(scene.frame.width), int(scene.frame.height)
    h, w = scene.instances.shape
    return int(w), int(h)


def scene_to_detections_2d(scene: Scene, header: Any, *,
                           class_id_format: str = "name") -> Any:
    """``vision_msgs/Detection2DArray``: every object's 2D box, class, score and track id.

    Args:
        scene: the pipeline's result.
        header: the colour image's ``std_msgs/Header`` (copied to the array and
            to every detection).
        class_id_format: ``"name"`` (default) or ``"index"`` (see the module docstring).

    Raises:
        ValueError: unknown ``class_id_format``.
        ImportError: vision_msgs is not installed (the message says how to get it).
    """
    _check_format(class_id_format)
    vm = _messages()
    out = vm.Detection2DArray(header=_header_copy(header))
    if not scene.objects:
        return out
    width, height = _image_size(scene)
    # All boxes clipped at once: x to [0, W], y to [0, H], ends never before starts.
    boxes = np.array([np.asarray(o.box_2d, np.float64).reshape(4) for o in scene.objects])
    boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0.0, width)
    boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0.0, height)
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2])
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2.0
    sizes = boxes[:, 2:] - boxes[:, :2]
    detection = message_maker(vm.Detection2D)  # nested defaults built without constructor checks
    detections = []
    for obj, (cx, cy), (sx, sy) in zip(scene.objects, centres.tolist(), sizes.tolist()):
        det = detection(header=_header_copy(header), id=_track_id(obj))
        det.bbox.center.position.x, det.bbox.center.position.y = cx, cy
        det.bbox.center.theta = 0.0
        det.bbox.size_x, det.bbox.size_y = sx, sy
        det.results = [_hypothesis(vm, obj, class_id_format)]
        detections.append(det)
    out.detections = detections
    return out


def scene_to_detections_3d(scene: Scene, header: Any, *,
                           class_id_format: str = "name") -> Any:
    """``vision_msgs/Detection3DArray``: the gravity-aligned 3D box of every object with 3D.

    Args:
        scene: the pipeline's result; boxes are taken as they are (metres in
            ``header.frame_id``, the frame the geometry was computed in).
        header: the colour image's ``std_msgs/Header``.
        class_id_format: ``"name"`` (default) or ``"index"``.

    Objects whose 3D part is missing (``has_3d`` false: no depth, out of range, too
    few points; ``geometry_status`` says which) are left out, as from the markers;
    the others keep ``Scene.objects`` order.

    Raises:
        ValueError: unknown ``class_id_format``, or a box rotation that is not a rotation.
        ImportError: vision_msgs is not installed.
    """
    _check_format(class_id_format)
    vm = _messages()
    out = vm.Detection3DArray(header=_header_copy(header))
    with_3d = [obj for obj in scene.objects if obj.has_3d]
    if not with_3d:
        return out
    # One batched conversion for all boxes: per-call overhead dominates for one 3x3.
    quaternions = rotation_matrix_to_quaternion(np.stack([o.geometry.box_rotation
                                                          for o in with_3d]))
    detection = message_maker(vm.Detection3D)  # nested defaults built without constructor checks
    detections = []
    for obj, (qx, qy, qz, qw) in zip(with_3d, quaternions.tolist()):
        g = obj.geometry
        det = detection(header=_header_copy(header), id=_track_id(obj))
        centre = det.bbox.center
        centre.position.x, centre.position.y, centre.position.z = (
            float(v) for v in np.asarray(g.box_center, np.float64).reshape(3))
        centre.orientation.x, centre.orientation.y = qx, qy
        centre.orientation.z, centre.orientation.w = qz, qw
        det.bbox.size.x, det.bbox.size.y, det.bbox.size.z = (
            float(v) for v in np.asarray(g.box_extent, np.float64).reshape(3))
        hyp = _hypothesis(vm, obj, class_id_format)
        pose = hyp.pose.pose
        pose.position.x, pose.position.y, pose.position.z = (
            centre.position.x, centre.position.y, centre.position.z)
        pose.orientation.x, pose.orientation.y = qx, qy
        pose.orientation.z, pose.orientation.w = qz, qw
        det.results = [hyp]
        detections.append(det)
    out.detections = detections
    return out


def label_info(class_names: Sequence[str], header: Any | None = None,
               threshold: float = 0.0) -> Any:
    """``vision_msgs/LabelInfo`` mapping class index ``i`` to ``class_names[i]``.

    Args:
        class_names: the segmenter's classes, index = the value in its label image
            or ``ObjectInstance.class_id`` (e.g. ``SemanticMap.class_names``,
            ``InstanceSegmenter.class_names``).
        header: stamp and frame for the record (an empty header when None).
        threshold: the score threshold results are filtered with (0 for label images).

    Raises:
        ValueError: more than 65535 classes (uint16 ids; 65535 is reserved for
            UNLABELED), a name that is not a string, or a threshold outside [0, 1].
        ImportError: vision_msgs is not installed.
    """
    names = list(class_names)
    if len(names) > _MAX_LABEL_CLASSES:
        raise ValueError(f"{len(names)} classes do not fit LabelInfo's uint16 class ids "
                         f"(at most {_MAX_LABEL_CLASSES}; 65535 means UNLABELED)")
    bad = [n for n in names if not isinstance(n, str)]
    if bad:
        raise ValueError(f"class names must be strings, got {bad[:3]!r}")
    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    vm = _messages()
    info = vm.LabelInfo(header=_header_copy(header) if header is not None else make_header(),
                        threshold=float(threshold))
    info.class_map = [vm.VisionClass(class_id=i, class_name=name) for i, name in enumerate(names)]
    return info


def object_mask_image(instance_labels: Any, index: int) -> Any:
    """mono8 ``sensor_msgs/Image`` (255 = the object, 0 = not) of object ``index``.

    Args:
        instance_labels: a ``~/instance_labels`` image (16UC1, ``0`` = none,
            ``i + 1`` = ``objects[i]`` / ``detections[i]`` of the same stamp).
        index: the object's position in that frame's arrays.

    Returns:
        Same size and header as ``instance_labels``; all 0 when no pixel has the label.

    Raises:
        InvalidFrameError: not a 16UC1 image, or ``index`` outside 0..65534.
    """
    if instance_labels.encoding != "16UC1":
        raise InvalidFrameError(
            f"instance labels must be 16UC1 (as ~/instance_labels), got "
            f"{instance_labels.encoding}: pass the node's instance label image")
    if not 0 <= int(index) < 65535:
        raise InvalidFrameError(f"object index {index} is outside 0..65534 (uint16 labels)")
    labels = image_to_numpy(instance_labels)
    mask = (labels == np.uint16(int(index) + 1)).view(np.uint8) * np.uint8(255)
    return numpy_to_image(mask, "mono8", instance_labels.header)
