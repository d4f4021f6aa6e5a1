"""A fixture camera for node tests: publishes synthetic RGB-D frames like a driver does."""
from __future__ import annotations

import itertools

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from seg_perception.ros.conversions import (intrinsics_to_camera_info, make_header,
                                            numpy_to_image)
from seg_perception.ros.qos import SENSOR_QOS

CAMERA_FRAME = "camera_color_optical_frame"
TOPICS = {"color": "/test_cam/color/image_raw",
          "depth": "/test_cam/aligned_depth_to_color/image_raw",
          "info": "/test_cam/color/camera_info"}


class RGBDPublisher(Node):
    """Publishes a fixed scene with jittered depth/info stamps (as real drivers do)."""

    def __init__(self, scene, context=None, topics=TOPICS, jitter_ms: float = 4.0, seed: int = 0):
        super().__init__("rgbd_fixture_publisher", context=context)
        self.scene = scene
        self.pubs = {
            "color": self.create_publisher(Image, topics["color"], SENSOR_QOS),
            "depth": self.create_publisher(Image, topics["depth"], SENSOR_QOS),
            "info": self.create_publisher(CameraInfo, topics["info"], SENSOR_QOS),
        }
        self._rng = np.random.default_rng(seed)
        self._jitter_ns = int(jitter_ms * 1e6)
        self._count = itertools.count(1)
        self.published = 0

    def publish_frame(self, color=None, depth=None, info=None, stamp_ns=None):
        """Publish one set; any of the three messages can be replaced (bad-input tests)."""
        frame = self.scene.frame
        k = next(self._count)
        stamp_ns = stamp_ns if stamp_ns is not None else 1_000_000_000 + k * 100_000_000
        jitter = lambda: int(self._rng.integers(-self._jitter_ns, self._jitter_ns + 1))  # noqa: E731
        color = color or numpy_to_image(frame.rgb, "rgb8", make_header(stamp_ns, CAMERA_FRAME))
        if depth is None:
            depth_mm = np.round(frame.depth * 1000).astype(np.uint16)
            depth = numpy_to_image(depth_mm, "16UC1", make_header(stamp_ns + jitter(), CAMERA_FRAME))
        info = info or intrinsics_to_camera_info(frame.intrinsics,
                                                 make_header(stamp_ns + jitter(), CAMERA_FRAME))
        self.pubs["depth"].publish(depth)
        self.pubs["info"].publish(info)
        self.pubs["color"].publish(color)
        self.published += 1
        return stamp_ns
