"""An in-process perception node with a fixture camera and a listener on every output.

The node runs with its default configuration unless a test passes parameters:
``workers`` auto, i.e. one worker process per core (2 on a two-core machine),
the way ``ros2 launch`` / ``ros2 run`` start it on a robot. Pass ``workers=1``
for the in-process pipeline.
"""
from __future__ import annotations

import itertools
import time

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import Log
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image, PointCloud2
from visualization_msgs.msg import MarkerArray

from seg_perception.ros.nodes.perception_node import PerceptionNode, start_node
from seg_perception.ros.qos import RELIABLE_OUTPUT_QOS

from .rgbd_publisher import TOPICS, RGBDPublisher

NODE_NAME = "perception_test"
_NUMBERS = itertools.count(1)


class Harness:
    """Fixture camera + perception node + a listener on every output, one executor.

    ``node_name``: default ``perception_test_<n>``, new for every harness in the process:
    a second harness can run beside one that is still up (outputs, /diagnostics status
    and /rosout lines are told apart by the name), and /rosout, which keeps one
    publisher per node name in a process, is not taken away when a namesake is destroyed.
    ``problem_window_s``: how long a skipped frame or error keeps /diagnostics at
    WARN (the node's default is 10 s); tests of the level going back to OK pass a
    short one so they need not wait that long.
    """

    def __init__(self, context, scene, autostart=True, problem_window_s=None,
                 node_name=None, **params):
        node_name = node_name or f"{NODE_NAME}_{next(_NUMBERS)}"
        overrides = [Parameter("color_topic", value=TOPICS["color"]),
                     Parameter("depth_topic", value=TOPICS["depth"]),
                     Parameter("camera_info_topic", value=TOPICS["info"]),
                     Parameter("autostart", value=autostart),
                     Parameter("diagnostics_period", value=0.2)]
        if problem_window_s is not None:
            overrides.append(Parameter("diagnostics_window", value=float(problem_window_s)))
        overrides += [Parameter(k, value=v) for k, v in params.items()]
        self.name = node_name
        self.node = PerceptionNode(node_name, context=context, parameter_overrides=overrides)
        self.camera = RGBDPublisher(scene, context=context)
        self.listener = rclpy.create_node(f"{node_name}_listener", context=context)
        self.got: dict[str, list] = {k: [] for k in (
            "objects", "instance_labels", "semantic_labels", "overlay", "objects_cloud",
            "markers", "diagnostics", "rosout")}
        from seg_perception.msg import ObjectInstanceArray
        types = {"objects": ObjectInstanceArray, "instance_labels": Image,
                 "semantic_labels": Image, "overlay": Image, "objects_cloud": PointCloud2,
                 "markers": MarkerArray}
        for topic, msg_type in types.items():
            self.listener.create_subscription(msg_type, f"/{node_name}/{topic}",
                                              self.got[topic].append, RELIABLE_OUTPUT_QOS)
        self.listener.create_subscription(DiagnosticArray, "/diagnostics",
                                          self._on_diagnostics, 10)
        # The node's log lines as any ROS tool sees them (rqt_console, ros2 topic echo).
        self.listener.create_subscription(
            Log, "/rosout", lambda m: m.name == node_name and self.got["rosout"].append(m), 100)
        self.executor = MultiThreadedExecutor(num_threads=3, context=context)
        for n in (self.node, self.camera, self.listener):
            self.executor.add_node(n)
        start_node(self.node)

    def _on_diagnostics(self, msg):
        mine = [s for s in msg.status if s.name.startswith(f"{self.name}:")]
        if mine:
            msg.status = mine
            self.got["diagnostics"].append(msg)

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

    def spin_for(self, seconds, publish_every=0.0):
        """Spin (and publish good frames every ``publish_every`` s, if set) for ``seconds``."""
        self.spin_until(lambda: False, timeout=seconds, publish_every=publish_every)

    def wait_for_subscribers(self):
        pubs = self.camera.pubs.values()
        self.spin_until(lambda: all(p.get_subscription_count() > 0 for p in pubs), 10, 0)

    def diag_values(self):
        status = self.got["diagnostics"][-1].status[0]
        return status, {kv.key: kv.value for kv in status.values}

    def wait_diagnostics(self, predicate, timeout=15.0, publish_every=0.15):
        """Spin until a /diagnostics message received from now on satisfies
        ``predicate(status, values)``; returns that (status, values) or None."""
        self.got["diagnostics"].clear()
        found = []

        def check():
            while self.got["diagnostics"]:
                status, values = self.diag_values()
                self.got["diagnostics"].pop()
                if predicate(status, values):
                    found.append((status, values))
                    return True
            return False
        self.spin_until(check, timeout=timeout, publish_every=publish_every)
        return found[0] if found else None

    def log_lines(self, text, level=None):
        """The node's /rosout lines containing ``text`` (at ``level``, e.g. Log.WARN)."""
        return [m for m in self.got["rosout"]
                if text in m.msg and (level is None or m.level == level)]

    @property
    def state(self) -> str:
        return self.node._state_machine.current_state[1]

    def close(self):
        shut_down(self.executor, self.node, self.camera, self.listener)


def shut_down(executor, node, *others):
    """Stop the perception ``node``'s workers, then destroy it, ``others`` and ``executor``."""
    node.shutdown_worker()
    for n in (node, *others):
        executor.remove_node(n)
        n.destroy_node()
    executor.shutdown()
