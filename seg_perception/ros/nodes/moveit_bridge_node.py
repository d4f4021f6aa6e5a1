"""moveit_bridge_node: perceived objects in, MoveIt collision objects out.

Subscribes to the perception node's ``seg_perception/ObjectInstanceArray``
(``objects_topic``), expresses it in ``planning_frame`` (a fixed camera pose
from parameters, or tf2 with ``use_tf``; see
:mod:`seg_perception.ros.planning_frame`) and publishes
``moveit_msgs/CollisionObject`` on ``/collision_object``, the topic MoveIt's
planning scene monitor (move_group) applies: ADD for a new track, MOVE when a
tracked object moved, REMOVE when it has been gone ``remove_after`` frames,
plus the support surface as the box ``seg_support_surface``
(:class:`seg_perception.ros.moveit.CollisionObjectTracker`). Objects whose
``has_3d`` is false are never added (a throttled warning names their
``geometry_status``; ``objects_without_3d`` in ``/diagnostics`` counts them).

``/collision_object`` is volatile (as MoveIt subscribes to it), so every
``refresh_period`` seconds the current objects are sent again as ADDs, which
brings a move_group started later up to date. On deactivate/shutdown the node
removes what it added (``remove_on_shutdown``).

A lifecycle node like the perception node: parameters are read on
*configure*, the subscription starts on *activate*; with ``autostart``
(default) it configures and activates itself.
"""
from __future__ import annotations

import math
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.lifecycle import State, TransitionCallbackReturn

from ...config import ParamSpec, validate_value
from ...errors import SegPerceptionError
from ..moveit import COLLISION_OBJECT_TOPIC, SHAPES, CollisionObjectTracker, collision_object_type
from ..lifecycle import ManagedNode
from ..params import declare_specs, validate_changes
from ..planning_frame import (FrameResolver, tf2_available, transform_from_params,
                              transform_objects_msg)
from ..qos import RELIABLE_OUTPUT_QOS, own_profile, qos_overriding_options
from ..runtime import ThrottledReporter, autostart, run_node

__all__ = ["BRIDGE_PARAMS", "MoveItBridgeNode", "main", "start_node"]

BRIDGE_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("objects_topic", "/perception_node/objects",
              "seg_perception/ObjectInstanceArray topic to read", read_only=True),
    ParamSpec("collision_object_topic", COLLISION_OBJECT_TOPIC,
              "moveit_msgs/CollisionObject topic (MoveIt's planning scene monitor listens "
              "on /collision_object)", read_only=True),
    ParamSpec("planning_frame", "",
              "Frame to publish collision objects in, e.g. world or base_link "
              "(empty: the objects' own frame)", read_only=True),
    ParamSpec("use_tf", False,
              "Look the planning_frame <- camera transform up in tf2 (when tf2_ros is "
              "installed) instead of the fixed transform below", read_only=True),
    ParamSpec("transform_translation", [0.0, 0.0, 0.0],
              "Fixed transform planning_frame <- camera: the camera frame's origin "
              "in planning_frame, x y z metres (floats)", read_only=True),
    ParamSpec("transform_rotation", [0.0, 0.0, 0.0, 1.0],
              "Fixed transform planning_frame <- camera: the camera frame's orientation, "
              "a quaternion x y z w or roll pitch yaw radians (floats)", read_only=True),
    ParamSpec("shape", "box", "Collision shape of an object (auto: cylinder when the box's "
              "footprint is nearly square)", choices=SHAPES),
    ParamSpec("padding", 0.0, "Metres added to every side of each object's shape",
              min_value=0.0, max_value=0.5),
    ParamSpec("cylinder_tolerance", 0.15,
              "shape=auto: largest relative difference of the two horizontal sizes of a "
              "cylinder", min_value=0.0, max_value=1.0),
    ParamSpec("move_threshold", 0.01, "Send a MOVE when an object moved more than this, metres",
              min_value=0.0, max_value=1.0),
    ParamSpec("move_angle_threshold", 0.1,
              "Send a MOVE when an object turned more than this, radians",
              min_value=0.0, max_value=math.pi),
    ParamSpec("resize_threshold", 0.02,
              "Send a new ADD when a size changed more than this, metres",
              min_value=0.0, max_value=1.0),
    ParamSpec("remove_after", 3, "REMOVE an object missing from this many consecutive frames",
              min_value=1, max_value=1000),
    ParamSpec("publish_support_surface", True,
              "Add the support plane as a box (id seg_support_surface)"),
    ParamSpec("support_size", 1.0, "Side of the square support surface box, metres",
              min_value=0.01, max_value=100.0),
    ParamSpec("support_thickness", 0.02, "Thickness of the support surface box, metres "
              "(below the plane)", min_value=0.001, max_value=1.0),
    ParamSpec("id_prefix", "seg_", "Collision object ids are <id_prefix><track_id>",
              read_only=True),
    ParamSpec("refresh_period", 5.0,
              "Re-send every current object as an ADD this often, seconds (0: never)",
              min_value=0.0, max_value=3600.0),
    ParamSpec("remove_on_shutdown", True, "REMOVE the objects this node added when it stops"),
    ParamSpec("autostart", True,
              "Configure and activate on start-up (false: wait for lifecycle transitions)",
              read_only=True),
    ParamSpec("diagnostics_period", 1.0, "Seconds between /diagnostics messages",
              min_value=0.1, max_value=60.0, read_only=True),
)
_SPECS = {s.name: s for s in BRIDGE_PARAMS}
# Parameters that map one to one onto CollisionObjectTracker fields (changeable live).
_TRACKER_FIELDS = {"shape": "shape", "padding": "padding",
                   "cylinder_tolerance": "cylinder_tolerance", "move_threshold": "move_threshold",
                   "move_angle_threshold": "move_angle_threshold",
                   "resize_threshold": "resize_threshold", "remove_after": "remove_after",
                   "publish_support_surface": "support_surface", "support_size": "support_size",
                   "support_thickness": "support_thickness"}


class MoveItBridgeNode(ManagedNode):
    """See the module docstring; parameters: :data:`BRIDGE_PARAMS`."""

    def __init__(self, node_name: str = "moveit_bridge_node", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        declare_specs(self, BRIDGE_PARAMS)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._cfg: dict[str, Any] = {}
        self._tracker: CollisionObjectTracker | None = None
        self._resolver: FrameResolver | None = None
        self._pub: Any = None
        self._sub: Any = None
        self._refresh_timer: Any = None
        self._last_header: Any = None
        self._counts = {"frames": 0, "skipped_frames": 0, "added": 0, "moved": 0, "removed": 0,
                        "objects_without_3d": 0}
        self._last_problem = ""
        self._state_note = "unconfigured"
        self._warn = ThrottledReporter(self.get_logger().warning)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10,
                                               qos_overriding_options=qos_overriding_options())
        self._diag_timer = self.create_timer(float(self.get_parameter("diagnostics_period").value),
                                             self.publish_diagnostics)

    # -- lifecycle -----------------------------------------------------------
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        try:
            cfg = {s.name: validate_value(s, self.get_parameter(s.name).value) for s in BRIDGE_PARAMS}
            collision_object = collision_object_type()
            static = transform_from_params(cfg["transform_translation"],
                                           cfg["transform_rotation"])
            self._tracker = CollisionObjectTracker(
                id_prefix=cfg["id_prefix"], **{f: cfg[p] for p, f in _TRACKER_FIELDS.items()})
        except (SegPerceptionError, ValueError) as exc:
            self._state_note = f"configure failed: {exc}"
            self.get_logger().error(self._state_note)
            self._last_problem = self._state_note
            return TransitionCallbackReturn.FAILURE
        self._cfg = cfg
        if cfg["use_tf"] and not tf2_available():
            self.get_logger().warning("use_tf is set but tf2_ros is not installed: using the "
                                      "fixed transform_translation / transform_rotation")
        self._resolver = FrameResolver(cfg["planning_frame"], static, node=self,
                                       use_tf=cfg["use_tf"])
        self._pub = self.create_publisher(collision_object, cfg["collision_object_topic"],
                                          own_profile(RELIABLE_OUTPUT_QOS),
                                          qos_overriding_options=qos_overriding_options())
        self._state_note = (f"configured: {cfg['objects_topic']} -> {cfg['collision_object_topic']}"
                            f" in '{cfg['planning_frame'] or 'the objects frame'}' "
                            f"(transform: {self._resolver.source})")
        self.get_logger().info(self._state_note)
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        from ...msg import ObjectInstanceArray  # generated from msg/ at build time

        self._sub = self.create_subscription(ObjectInstanceArray, self._cfg["objects_topic"],
                                             self._on_objects, own_profile(RELIABLE_OUTPUT_QOS),
                                             qos_overriding_options=qos_overriding_options())
        if self._cfg["refresh_period"] > 0:
            self._refresh_timer = self.create_timer(self._cfg["refresh_period"], self.refresh)
        self._state_note = "active"
        self.get_logger().info(f"active: listening on {self._cfg['objects_topic']}")
        return super().on_activate(state)

    def shutdown_bridge(self) -> None:
        """Stop listening and remove what was added (also used on process exit)."""
        self._stop_inputs()

    def _stop_inputs(self) -> None:
        if self._sub is not None:
            self.destroy_subscription(self._sub)
            self._sub = None
        if self._refresh_timer is not None:
            self.destroy_timer(self._refresh_timer)
            self._refresh_timer = None
        tracker = self._tracker
        if tracker is not None and self._cfg.get("remove_on_shutdown") and self._pub is not None:
            if tracker.known_ids and self._last_header is not None:
                try:
                    self._publish(tracker.clear(self._last_header).messages)
                except Exception as exc:  # the context may already be shut down (Ctrl-C)
                    self.get_logger().warning(f"could not remove the collision objects: {exc}")
        if tracker is not None:
            tracker.reset()

    def _release(self) -> None:
        if self._pub is not None:
            self.destroy_publisher(self._pub)
            self._pub = None
        if self._resolver is not None:
            self._resolver.close()
            self._resolver = None
        self._tracker = None

    # -- parameters ----------------------------------------------------------
    def _on_set_parameters(self, params: list[Any]) -> SetParametersResult:
        configured = self._tracker is not None
        result = validate_changes(params, configured, specs=_SPECS)
        if not result.successful:
            return result
        for param in params:
            if param.name in _SPECS:
                value = validate_value(_SPECS[param.name], param.value)
                if configured:
                    self._cfg[param.name] = value
                if configured and param.name in _TRACKER_FIELDS:
                    setattr(self._tracker, _TRACKER_FIELDS[param.name], value)
        return SetParametersResult(successful=True)

    # -- data path -----------------------------------------------------------
    def _skip(self, category: str, message: str) -> None:
        self._counts["skipped_frames"] += 1
        self._last_problem = message
        self._warn(category, f"skipping objects message: {message}")

    def _on_objects(self, msg: Any) -> None:
        tracker, resolver = self._tracker, self._resolver
        if tracker is None or resolver is None:
            return
        self._counts["frames"] += 1
        try:
            transform = resolver.lookup(msg.header.frame_id, msg.header.stamp)
        except SegPerceptionError as exc:
            self._skip("no_transform", str(exc))
            return
        try:
            if transform is not None:
                msg = transform_objects_msg(msg, transform, resolver.target_frame,
                                            with_clouds=False)
            update = tracker.update(msg)
        except Exception as exc:  # one malformed message must not stop the bridge
            self._skip("malformed_message", f"{type(exc).__name__}: {exc}")
            return
        self._last_header = msg.header
        # The tracker left these out (has_3d false: no box to add); counted for diagnostics.
        self._counts["objects_without_3d"] += sum(not o.has_3d for o in msg.objects)
        for note in update.notes:
            self._warn("object_skipped", note)
        self._publish(update.messages)
        self._counts["added"] += len(update.added)
        self._counts["moved"] += len(update.moved)
        self._counts["removed"] += len(update.removed)

    def _publish(self, messages: Any) -> None:
        for m in messages:
            self._pub.publish(m)

    def refresh(self) -> None:
        """Send every current object again as an ADD (for late-joining planning scenes)."""
        if self._tracker is not None and self._pub is not None:
            self._publish(self._tracker.snapshot())

    # -- diagnostics ---------------------------------------------------------
    def diagnostics_status(self) -> DiagnosticStatus:
        status = DiagnosticStatus(name=f"{self.get_name()}: moveit bridge", hardware_id="none")
        if self._tracker is None and self._state_note.startswith("configure failed"):
            status.level, status.message = DiagnosticStatus.ERROR, self._state_note
        elif self._last_problem and self._counts["skipped_frames"]:
            status.level, status.message = DiagnosticStatus.WARN, self._last_problem
        else:
            status.level, status.message = DiagnosticStatus.OK, self._state_note
        values = {"state": self._state_note,
                  "planning_frame": self._cfg.get("planning_frame", ""),
                  "transform": self._resolver.source if self._resolver else "",
                  "objects_in_scene": str(len(self._tracker.known_ids) if self._tracker else 0),
                  **{k: str(v) for k, v in self._counts.items()}}
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        return status

    def publish_diagnostics(self) -> None:
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [self.diagnostics_status()]
        self._diag_pub.publish(msg)

    @property
    def tracker(self) -> CollisionObjectTracker | None:
        return self._tracker

    @property
    def configured(self) -> bool:
        return self._tracker is not None

    @property
    def counts(self) -> dict[str, int]:
        """Frames received/skipped, ADD/MOVE/REMOVE operations sent and objects left out for
        having no 3D (``has_3d`` false), so far."""
        return dict(self._counts)


start_node = autostart  # configure + activate when ``autostart`` is set


def main(args: list[str] | None = None) -> int:
    return run_node(MoveItBridgeNode, args, lifecycle=True,
                    on_exit=MoveItBridgeNode.shutdown_bridge, logger_name="moveit_bridge_node")


if __name__ == "__main__":
    raise SystemExit(main())
