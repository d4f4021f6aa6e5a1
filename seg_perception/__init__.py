"""seg_perception: RGB-D instance and semantic segmentation for pick-and-place.

The core (this package minus ``ros/``) takes numpy arrays and returns plain
dataclasses; it never imports rclpy, and imports torch/open3d/onnxruntime
only when a backend that needs them is built.
"""
# The message classes generated from msg/ (seg_perception.msg) are installed by
# colcon into another seg_perception/ directory; merge it into this package.
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

from .errors import (  # noqa: E402
    ConfigError,
    DeviceUnavailableError,
    InvalidFrameError,
    SegPerceptionError,
    UnknownBackendError,
    UnsupportedEncodingError,
    WeightsError,
)
from .frames import CameraIntrinsics, RGBDFrame, depth_to_metres  # noqa: E402
from .results import (  # noqa: E402
    InstanceMasks,
    ObjectGeometry,
    Plane,
    Scene,
    SceneObject,
    SemanticMap,
)
from .segmenters import (  # noqa: E402
    build_instance_segmenter,
    build_semantic_segmenter,
    list_instance_segmenters,
    list_semantic_segmenters,
)

__version__ = "0.1.0"

__all__ = [
    "CameraIntrinsics",
    "ConfigError",
    "DeviceUnavailableError",
    "InstanceMasks",
    "InvalidFrameError",
    "ObjectGeometry",
    "Plane",
    "RGBDFrame",
    "Scene",
    "SceneObject",
    "SegPerceptionError",
    "SemanticMap",
    "UnknownBackendError",
    "UnsupportedEncodingError",
    "WeightsError",
    "build_instance_segmenter",
    "build_semantic_segmenter",
    "depth_to_metres",
    "list_instance_segmenters",
    "list_semantic_segmenters",
]
