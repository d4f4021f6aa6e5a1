"""Typed pipeline configuration, one table that feeds Python, YAML and ROS parameters.

Every tunable is a :class:`ParamSpec` (name, default, description, range or
choices, whether it can change while running). :class:`PipelineConfig` is built
from those specs, the ROS layer declares one parameter per spec with the same
description and range, and :func:`validate_value` is the single check used by
both (so ``ros2 param set`` and a YAML file are refused for the same reasons).
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError

__all__ = [
    "PIPELINE_PARAMS",
    "ParamSpec",
    "PipelineConfig",
    "load_yaml_parameters",
    "validate_value",
]


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: ``read_only`` ones need a reconfigure (model reload) to change."""

    name: str
    default: Any
    description: str
    min_value: float | None = None
    max_value: float | None = None
    choices: tuple[str, ...] | None = None
    read_only: bool = False

    @property
    def type(self) -> type:
        return type(self.default)


def validate_value(spec: ParamSpec, value: Any) -> Any:
    """Return ``value`` coerced to the spec's type or raise :class:`ConfigError` saying why."""
    expected = spec.type
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if expected is list and value is not None and not isinstance(value, (str, bytes)):
        try:  # ROS gives numeric arrays as array.array or tuples
            value = [float(v) for v in value]
        except (TypeError, ValueError):
            raise ConfigError(f"parameter '{spec.name}' must be a list of numbers, "
                              f"got {value!r}") from None
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"parameter '{spec.name}' must be {expected.__name__}, "
                          f"got {type(value).__name__} {value!r}")
    if spec.min_value is not None and value < spec.min_value:
        raise ConfigError(f"parameter '{spec.name}'={value} is below its minimum {spec.min_value}")
    if spec.max_value is not None and value > spec.max_value:
        raise ConfigError(f"parameter '{spec.name}'={value} is above its maximum {spec.max_value}")
    if spec.choices is not None and value not in spec.choices:
        raise ConfigError(f"parameter '{spec.name}'={value!r} is not one of {', '.join(spec.choices)}")
    return value


PIPELINE_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("instance_backend", "geometric",
              "Instance segmenter name (see `seg-perception backends`), e.g. geometric, "
              "maskrcnn, maskrcnn_mobilenet, yolo_seg, onnx", read_only=True),
    ParamSpec("instance_weights", "",
              "Weights of a learned instance backend: a file (.safetensors, .pt, .onnx) or "
              "DEFAULT for the shipped one (maskrcnn_mobilenet); empty: none (geometric, "
              "or an untrained model)", read_only=True),
    ParamSpec("semantic_backend", "geometric_layout",
              "Semantic (scene layout) segmenter name, or 'none' to skip the stage",
              read_only=True),
    ParamSpec("semantic_weights", "",
              "Weights of a learned semantic backend: a file, or DEFAULT for the shipped "
              "one (unet); empty: none (geometric_layout, or an untrained model)",
              read_only=True),
    ParamSpec("device", "auto", "Compute device for learned backends",
              choices=("auto", "cpu", "cuda"), read_only=True),
    ParamSpec("strict_device", False,
              "Fail instead of falling back to CPU when the requested device is absent",
              read_only=True),
    ParamSpec("fp16", False, "Half precision inference on CUDA (ignored on CPU)", read_only=True),
    ParamSpec("graspable_classes", "",
              "Comma-separated class names a learned instance backend keeps (empty: all)",
              read_only=True),
    ParamSpec("score_threshold", 0.5, "Drop instances scoring below this [0-1]",
              min_value=0.0, max_value=1.0),
    ParamSpec("workspace", "largest_surface",
              "Support surfaces objects may stand on (every backend): largest_surface = "
              "the table the camera sees most of; all_surfaces = every surface in the support "
              "plane (tables of one height side by side). Anything else (walls, floor, chairs, "
              "other furniture) is never an object",
              choices=("largest_surface", "all_surfaces")),
    ParamSpec("workspace_margin", 0.05,
              "How far an object's footprint may reach beyond the visible extent of its "
              "support surface, metres (objects at the table edge)",
              min_value=0.0, max_value=2.0),
    ParamSpec("min_depth", 0.15, "Ignore points nearer than this, metres",
              min_value=0.0, max_value=20.0),
    ParamSpec("max_depth", 3.0, "Ignore points farther than this, metres",
              min_value=0.05, max_value=50.0),
    ParamSpec("mask_erosion_px", 2,
              "Erode each mask by this many pixels before 3D (drops flying pixels at edges)",
              min_value=0, max_value=20),
    ParamSpec("voxel_size", 0.004, "Voxel size of per-object clouds, metres (0 = no downsampling)",
              min_value=0.0, max_value=0.1),
    ParamSpec("outlier_neighbors", 16, "Neighbours for statistical outlier removal (0 = off)",
              min_value=0, max_value=100),
    ParamSpec("outlier_std_ratio", 2.0, "Std-dev ratio for statistical outlier removal",
              min_value=0.1, max_value=10.0),
    ParamSpec("min_object_points", 30, "Objects with fewer 3D points get no geometry",
              min_value=1, max_value=100000),
    ParamSpec("compute_geometry", True, "Compute per-object 3D (centroid, box, cloud, grasp)"),
    ParamSpec("tracking", True, "Keep object ids stable across frames"),
    ParamSpec("track_max_distance", 0.08,
              "Largest centroid jump between frames still matched to a track, metres",
              min_value=0.0, max_value=2.0),
    ParamSpec("track_max_missed", 5, "Frames a lost object is kept before it is removed",
              min_value=0, max_value=1000),
)
_SPECS = {spec.name: spec for spec in PIPELINE_PARAMS}


@dataclass(frozen=True)
class PipelineConfig:
    """Settings of :class:`~seg_perception.pipeline.Pipeline` (see ``PIPELINE_PARAMS``)."""

    instance_backend: str = "geometric"
    instance_weights: str = ""
    semantic_backend: str = "geometric_layout"
    semantic_weights: str = ""
    device: str = "auto"
    strict_device: bool = False
    fp16: bool = False
    graspable_classes: str = ""
    score_threshold: float = 0.5
    workspace: str = "largest_surface"
    workspace_margin: float = 0.05
    min_depth: float = 0.15
    max_depth: float = 3.0
    mask_erosion_px: int = 2
    voxel_size: float = 0.004
    outlier_neighbors: int = 16
    outlier_std_ratio: float = 2.0
    min_object_points: int = 30
    compute_geometry: bool = True
    tracking: bool = True
    track_max_distance: float = 0.08
    track_max_missed: int = 5

    def __post_init__(self) -> None:
        for f in fields(self):
            validate_value(_SPECS[f.name], getattr(self, f.name))
        if self.min_depth >= self.max_depth:
            raise ConfigError(f"min_depth {self.min_depth} must be below max_depth {self.max_depth}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], strict: bool = True) -> "PipelineConfig":
        """Build from a dict; unknown keys raise (or are ignored with ``strict=False``)."""
        known = {k: v for k, v in values.items() if k in _SPECS}
        unknown = sorted(set(values) - set(known))
        if unknown and strict:
            raise ConfigError(f"unknown pipeline parameters: {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(_SPECS))}")
        return cls(**known)

    def updated(self, **changes: Any) -> "PipelineConfig":
        return replace(self, **changes)


def load_yaml_parameters(path: str | Path, node_name: str = "perception_node") -> dict[str, Any]:
    """The ``ros__parameters`` of ``node_name`` (or ``/**``) in a ROS 2 parameter file."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    params: dict[str, Any] = {}
    for key in ("/**", node_name, f"/{node_name}"):
        section = data.get(key, {})
        if isinstance(section, dict):
            params.update(section.get("ros__parameters", {}) or {})
    return params
