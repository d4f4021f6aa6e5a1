"""ROS parameters of the perception node, declared from the same specs as the core config.

Every parameter gets a ``ParameterDescriptor`` (description, range, read-only
hint), so ``ros2 param describe`` explains it, and one on-set callback refuses
invalid values with the reason from :func:`seg_perception.config.validate_value`.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)

from ..config import PIPELINE_PARAMS, ParamSpec, validate_value
from ..errors import ConfigError

__all__ = ["NODE_PARAMS", "PERCEPTION_PARAMS", "declare_specs", "descriptor", "read_specs",
           "validate_changes"]

# Topic defaults match the RealSense ROS 2 driver's aligned streams.
NODE_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("color_topic", "/camera/camera/color/image_raw", "Colour image topic",
              read_only=True),
    ParamSpec("depth_topic", "/camera/camera/aligned_depth_to_color/image_raw",
              "Depth image aligned to colour (16UC1 mm or 32FC1 m)", read_only=True),
    ParamSpec("camera_info_topic", "/camera/camera/color/camera_info",
              "CameraInfo of the colour stream", read_only=True),
    ParamSpec("sync_slop", 0.03, "Largest stamp difference of a colour/depth/info set, seconds",
              min_value=0.0, max_value=1.0, read_only=True),
    ParamSpec("sync_queue_size", 10, "Unmatched messages kept per input topic",
              min_value=1, max_value=100, read_only=True),
    ParamSpec("input_transport", "raw",
              "How colour and depth arrive, as image_transport's transport hint: raw "
              "(sensor_msgs/Image on the topics above) or compressed (<color_topic>/compressed "
              "jpeg/png and <depth_topic>/compressedDepth png/rvl)",
              choices=("raw", "compressed"), read_only=True),
    ParamSpec("max_image_pixels", 4096 * 3072, "Frames larger than this are skipped (pixels)",
              min_value=1, max_value=100_000_000),
    ParamSpec("publish_objects", True, "Publish ~/objects (seg_perception/ObjectInstanceArray)"),
    ParamSpec("publish_instance_labels", True, "Publish ~/instance_labels (16UC1, 0 = none)"),
    ParamSpec("publish_semantic_labels", True, "Publish ~/semantic_labels (mono8 class index)"),
    ParamSpec("publish_overlay", True, "Publish ~/overlay (rgb8 picture for people)"),
    ParamSpec("publish_cloud", True, "Publish ~/objects_cloud (PointCloud2 with label field)"),
    ParamSpec("publish_markers", True, "Publish ~/markers (RViz boxes and names)"),
    ParamSpec("publish_detections", True,
              "Publish ~/detections (vision_msgs/Detection2DArray) when vision_msgs is installed"),
    ParamSpec("publish_detections_3d", True,
              "Publish ~/detections_3d (vision_msgs/Detection3DArray, objects with 3D) when "
              "vision_msgs is installed"),
    ParamSpec("publish_label_info", True,
              "Publish ~/instance_label_info and ~/semantic_label_info (vision_msgs/LabelInfo, "
              "transient local) when vision_msgs is installed"),
    ParamSpec("detection_class_id", "name",
              "What vision_msgs hypotheses carry as class_id: the class name, or its index "
              "as a string (names in ~/instance_label_info)",
              choices=("name", "index"), read_only=True),
    ParamSpec("publish_object_clouds", True,
              "Fill each object's own cloud in ~/objects (off saves bandwidth)"),
    ParamSpec("workers", 0,
              "Processes running the pipeline on frames in parallel, tracks kept in order "
              "(0 = auto: one per CPU core up to 4 on CPU, 1 with CUDA; 1 = in the node "
              "process). Each worker loads its own copy of the models",
              min_value=0, max_value=16, read_only=True),
    ParamSpec("autostart", True,
              "Configure and activate on start-up (false: wait for lifecycle transitions)",
              read_only=True),
    ParamSpec("diagnostics_period", 1.0, "Seconds between /diagnostics messages",
              min_value=0.1, max_value=60.0, read_only=True),
    ParamSpec("diagnostics_window", 10.0,
              "Seconds a skipped frame or a processing error keeps /diagnostics at WARN "
              "(counters stay totals)", min_value=0.1, max_value=3600.0, read_only=True),
)

PERCEPTION_PARAMS: tuple[ParamSpec, ...] = PIPELINE_PARAMS + NODE_PARAMS
_SPECS = {s.name: s for s in PERCEPTION_PARAMS}


def descriptor(spec: ParamSpec, ros_read_only: bool = False) -> ParameterDescriptor:
    """The ROS descriptor of a spec. ``ros_read_only`` makes ROS itself refuse changes to
    ``read_only`` specs (for plain nodes, whose settings are fixed at start-up); lifecycle
    nodes instead refuse them only while configured (:func:`validate_changes`)."""
    text = spec.description
    if spec.choices:
        text += f" (one of: {', '.join(spec.choices)})"
    if spec.read_only:
        text += " [fixed at start-up]" if ros_read_only else " [applied on configure]"
    desc = ParameterDescriptor(description=text, read_only=spec.read_only and ros_read_only)
    if spec.type is float and spec.min_value is not None and spec.max_value is not None:
        desc.floating_point_range = [FloatingPointRange(
            from_value=float(spec.min_value), to_value=float(spec.max_value), step=0.0)]
    elif spec.type is int and spec.min_value is not None and spec.max_value is not None:
        desc.integer_range = [IntegerRange(
            from_value=int(spec.min_value), to_value=int(spec.max_value), step=0)]
    return desc


def declare_specs(node: Any, specs: Iterable[ParamSpec] = PERCEPTION_PARAMS,
                  overrides: Mapping[str, Any] | None = None, ros_read_only: bool = False) -> None:
    """Declare one ROS parameter per spec (value from ``overrides`` or the default)."""
    overrides = overrides or {}
    for spec in specs:
        node.declare_parameter(spec.name, overrides.get(spec.name, spec.default),
                               descriptor(spec, ros_read_only))


def read_specs(node: Any, specs: Iterable[ParamSpec]) -> dict[str, Any]:
    """Current values of the given parameters, validated."""
    return {s.name: validate_value(s, node.get_parameter(s.name).value) for s in specs}


def validate_changes(params: Iterable[Any], configured: bool,
                     specs: Mapping[str, ParamSpec] | None = None) -> SetParametersResult:
    """The on-set callback's answer: refuse out-of-range values and, while a model is
    loaded, changes that need a reconfigure. ``specs``: name -> spec (default: the
    perception node's)."""
    specs = _SPECS if specs is None else specs
    for param in params:
        spec = specs.get(param.name)
        if spec is None:
            continue
        if spec.read_only and configured:
            return SetParametersResult(successful=False, reason=(
                f"'{param.name}' is applied on configure: deactivate and clean up the node, "
                "set it, then configure again"))
        try:
            validate_value(spec, param.value)
        except ConfigError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
    return SetParametersResult(successful=True)
