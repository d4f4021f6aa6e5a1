"""An in-process perception node with a fixture camera and a listener on every output."""
from __future__ import annotations

import time

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image, PointCloud2
from visualization_msgs.msg import MarkerArray

from seg_perception.ros.nodes.perception_node import PerceptionNode, start_node
from seg_perception.ros.qos import RELIABLE_OUTPUT_QOS

from .rgbd_publisher import TOPICS, RGBDPublisher

NODE_NAME = "perception_test"


class Harness:
    """Fixture camera + perception node + a listener on every output, one executor."""

    def __init__(self, context, scene, autostart=True, **params):
        overrides = [Parameter("color_topic", value=TOPICS["color"]),
                     Parameter("depth_topic", value=TOPICS["depth"]),
                     Parameter("camera_info_topic", value=TOPICS["info"]),
                     Parameter("autostart", value=autostart),
                     Parameter("diagnostics_period", value=0.2),
                     # In-process unless a test asks for worker processes (each takes
                     # seconds to start); test_parallel_node covers those.
                     Parameter("workers", value=params.pop("workers", 1))]
        overrides += [Parameter(k, value=v) for k, v in params.items()]
        self.node = PerceptionNode(NODE_NAME, context=context, parameter_overrides=overrides)
        self.camera = RGBDPublisher(scene, context=context)
        self.listener = rclpy.create_node("output_listener", context=context)
        self.got: dict[str, list] = {k: [] for k in (
            "objects", "instance_labels", "semantic_labels", "overlay", "objects_cloud",
            "markers", "diagnostics")}
        from seg_perception.msg import ObjectInstanceArray
        types = {"objects": ObjectInstanceArray, "instance_labels": Image,
                 "semantic_labels": Image, "overlay": Image, "objects_cloud": PointCloud2,
                 "markers": MarkerArray}
        for topic, msg_type in types.items():
            self.listener.create_subscription(msg_type, f"/{NODE_NAME}/{topic}",
                                              self.got[topic].append, RELIABLE_OUTPUT_QOS)
        self.listener.create_subscription(DiagnosticArray, "/diagnostics",
                                          self.got["diagnostics"].append, 10)
        self.executor = MultiThreadedExecutor(num_threads=3, context=context)
        for n in (self.node, self.camera, self.listener):
            self.executor.add_node(n)
        start_node(self.node)

    def spin_until(self, condition, timeout=15.0, publish_every=0.15):
        """Publish frames and spin until ``condition()``; one overall timeout."""
        deadline = time.monotonic() + timeout
        next_pub = 0.0
        while time.monotonic() < deadline:
            if publish_every and time.monotonic() >= next_pub:
                self.camera.publish_frame()
                next_pub = time.monotonic() + publish_every
            self.executor.spin_once(timeout_sec=0.02)
            if condition():
                return True
        return False

    def wait_for_subscribers(self):
        pubs = self.camera.pubs.values()
        self.spin_until(lambda: all(p.get_subscription_count() > 0 for p in pubs), 10, 0)

    def diag_values(self):
        status = self.got["diagnostics"][-1].status[0]
        return status, {kv.key: kv.value for kv in status.values}

    def close(self):
        self.node.shutdown_worker()
        for n in (self.node, self.camera, self.listener):
            self.executor.remove_node(n)
            n.destroy_node()
        self.executor.shutdown()
