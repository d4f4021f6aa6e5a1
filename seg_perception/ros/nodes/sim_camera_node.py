"""sim_camera_node: a simulated RGB-D camera that publishes like the RealSense driver.

A plain rclpy node around :class:`~seg_perception.sim.scenes.TabletopSim`: it
renders a physically settled tabletop (pybullet, CPU) at ``rate`` Hz and
publishes each frame on the topics of ``realsense2_camera`` with
``align_depth.enable:=true``, all with the same stamp and ``frame_id``:

==============================================  ===========================  ============
topic                                           type / encoding              QoS
==============================================  ===========================  ============
``<ns>/color/image_raw``                        Image rgb8                   sensor data
``<ns>/aligned_depth_to_color/image_raw``       Image 16UC1 mm or 32FC1 m    sensor data
``<ns>/color/camera_info``                      CameraInfo                   sensor data
``<ns>/aligned_depth_to_color/camera_info``     CameraInfo (same K)          sensor data
``~/ground_truth/instance_labels``              Image 16UC1, instance id     reliable
``~/ground_truth/semantic_labels``              Image mono8, LAYOUT_CLASSES  reliable
``~/ground_truth/objects``                      geometry_msgs/PoseArray      reliable
==============================================  ===========================  ============

``<ns>`` is the ``camera_namespace`` parameter (default ``/camera/camera``,
the driver's default since realsense-ros 4.51). Depth in 16UC1 is millimetres
with 0 = no measurement (as the RealSense driver); in 32FC1 it is metres with
NaN = no measurement (REP 118). Images are unrectified pinhole images without
distortion; both camera_info topics carry the same intrinsics.

Ground truth: ``instance_labels`` holds 0 for "not an object" and otherwise
the object's instance id, which stays with the object for the life of the node
(true identities for tracking tests). ``objects`` holds one pose per *visible*
object (``visible_pixels > 0``) in ascending instance id order, so its k-th
pose belongs to the k-th smallest non-zero id in ``instance_labels``: the
position is the centre of the object's bounding box and the orientation that
of the box axes, both in the camera optical frame (metres, quaternion xyzw).

Timing: a timer at ``rate`` renders and publishes on the executor thread, and
the stamp is the node clock at the start of the render (the acquisition time;
``use_sim_time`` is honoured by rclpy). A render slower than the period is not
queued: rclpy's timer skips the periods it missed, so the node publishes at the
rate it can reach and says so in a log line every ``report_period`` seconds.
Measured on 2 shared CPU cores (render + convert + publish): 160x120 about
25 ms, 640x480 about 400 ms with shadows (2.5 Hz), about 200 ms without.

Run it::

    ros2 run seg_perception sim_camera_node --ros-args -p rate:=5.0 -p seed:=3
    ros2 launch seg_perception sim.launch.py sim_rate:=5.0 sim_seed:=3
    seg-perception bringup sim:=true
"""
from __future__ import annotations

import time
from collections import deque
from typing import Any

import numpy as np
from geometry_msgs.msg import Point, Pose, PoseArray, Quaternion
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from ...config import ParamSpec, validate_value
from ...errors import ConfigError
from ...frames import depth_to_millimetres
from ...sim.scenes import CLUTTER_MODES, SceneConfig, SimFrame, TabletopSim
from ..conversions import intrinsics_to_camera_info, make_header, numpy_to_image
from ..params import declare_specs, validate_changes
from ..qos import RELIABLE_OUTPUT_QOS, SENSOR_QOS, own_profile, qos_overriding_options
from ..runtime import ThrottledReporter, run_node

__all__ = ["DEPTH_ENCODINGS", "SIM_CAMERA_PARAMS", "SimCameraNode", "depth_to_image_array",
           "main"]

DEPTH_ENCODINGS: tuple[str, ...] = ("16UC1", "32FC1")
"""Depth encodings the node publishes: uint16 millimetres or float32 metres."""

# read_only = fixed once the node has started (the scene is built in __init__).
SIM_CAMERA_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("camera_namespace", "/camera/camera",
              "Prefix of the camera topics: <ns>/color/image_raw, "
              "<ns>/aligned_depth_to_color/image_raw, <ns>/color/camera_info "
              "(relative names resolve in the node's namespace)", read_only=True),
    ParamSpec("frame_id", "camera_color_optical_frame",
              "frame_id of every image, camera_info and ground-truth message "
              "(optical frame: x right, y down, z forward)", read_only=True),
    ParamSpec("rate", 5.0, "Frames per second (the node publishes slower, and logs it, when "
              "a render takes longer than 1/rate)", min_value=0.01, max_value=200.0),
    ParamSpec("width", 640, "Image width, pixels", min_value=8, max_value=4096, read_only=True),
    ParamSpec("height", 480, "Image height, pixels", min_value=8, max_value=4096,
              read_only=True),
    ParamSpec("seed", 0, "Scene seed: the same seed gives the same scene and images",
              min_value=0, max_value=2**31 - 1, read_only=True),
    ParamSpec("num_objects_min", 3, "Fewest objects in the scene", min_value=0, max_value=40,
              read_only=True),
    ParamSpec("num_objects_max", 8, "Most objects in the scene", min_value=0, max_value=40,
              read_only=True),
    ParamSpec("clutter", "random", "Object placement", choices=CLUTTER_MODES, read_only=True),
    ParamSpec("hard_case_probability", 0.5,
              "Chance that each hard case (touching, stacked, occluded, thin_flat) is built",
              min_value=0.0, max_value=1.0, read_only=True),
    ParamSpec("shadows", True, "Render cast shadows (about 2x slower)", read_only=True),
    ParamSpec("depth_noise", True, "Sensor-like depth: noise, quantisation, holes at edges and "
              "in projector shadows (false: exact rendered depth)", read_only=True),
    ParamSpec("depth_encoding", "16UC1",
              "16UC1: uint16 millimetres, 0 = none (RealSense); 32FC1: float32 metres, NaN = none",
              choices=DEPTH_ENCODINGS),
    ParamSpec("move_objects", False, "Move some objects a little between frames (tracking)"),
    ParamSpec("move_every", 10, "Frames between two moves", min_value=1, max_value=100_000),
    ParamSpec("move_fraction", 0.5, "Share of the objects moved each time",
              min_value=0.0, max_value=1.0),
    ParamSpec("move_translation_m", 0.03, "Largest shift of a moved object, metres",
              min_value=0.0, max_value=0.3),
    ParamSpec("move_rotation_deg", 20.0, "Largest turn of a moved object about the vertical, deg",
              min_value=0.0, max_value=180.0),
    ParamSpec("publish_ground_truth", True,
              "Publish ~/ground_truth/instance_labels, semantic_labels and objects"),
    ParamSpec("max_frames", 0, "Stop publishing after this many frames (0 = never)",
              min_value=0, max_value=2**31 - 1),
    ParamSpec("report_period", 5.0, "Seconds between the log lines giving the achieved rate",
              min_value=0.5, max_value=3600.0),
)
_SPECS = {s.name: s for s in SIM_CAMERA_PARAMS}

_RATE_WINDOW_S = 5.0  # achieved rate = frames published in the last few seconds


def depth_to_image_array(depth_m: np.ndarray, encoding: str) -> np.ndarray:
    """Depth as the array of a ``sensor_msgs/Image`` in ``encoding``.

    Args:
        depth_m: ``float32[H, W]`` metres, 0 = no measurement.
        encoding: ``"16UC1"`` -> ``uint16[H, W]`` millimetres
            (:func:`~seg_perception.frames.depth_to_millimetres`: 0 where there is
            no measurement or the depth exceeds 65.535 m);
            ``"32FC1"`` -> ``float32[H, W]`` metres, NaN where there is none.

    Raises:
        ConfigError: another encoding.
    """
    if encoding == "16UC1":
        return depth_to_millimetres(depth_m)
    if encoding == "32FC1":
        depth = np.asarray(depth_m, np.float32)
        valid = np.isfinite(depth) & (depth > 0)
        return np.where(valid, depth, np.float32(np.nan)).astype(np.float32)
    raise ConfigError(f"depth_encoding '{encoding}' is not supported; choose one of "
                      f"{', '.join(DEPTH_ENCODINGS)}")


def _poses_msg(frame: SimFrame, header: Any) -> PoseArray:
    """Box centre + box orientation of each visible object, ascending instance id."""
    msg = PoseArray(header=header)
    for obj in frame.object_poses:  # already sorted by instance id
        if obj.visible_pixels <= 0:
            continue
        x, y, z = obj.box_center_camera
        qx, qy, qz, qw = obj.quaternion_camera
        msg.poses.append(Pose(position=Point(x=float(x), y=float(y), z=float(z)),
                              orientation=Quaternion(x=float(qx), y=float(qy), z=float(qz),
                                                     w=float(qw))))
    return msg


class SimCameraNode(Node):
    """See the module docstring; parameters: :data:`SIM_CAMERA_PARAMS`.

    Raises:
        ConfigError: parameter values that make no scene (e.g.
            ``num_objects_min > num_objects_max``).
        ModuleNotFoundError: pybullet is not installed.

    Example:
        >>> from rclpy.parameter import Parameter
        >>> rclpy.init()
        >>> node = SimCameraNode(parameter_overrides=[Parameter("width", value=160),
        ...                                           Parameter("height", value=120)])
        >>> frame = node.publish_frame()  # the timer does this at `rate`
        >>> frame.rgb.shape
        (120, 160, 3)
    """

    def __init__(self, node_name: str = "sim_camera_node", **kwargs: Any) -> None:
        self._sim: TabletopSim | None = None
        super().__init__(node_name, **kwargs)
        declare_specs(self, SIM_CAMERA_PARAMS, ros_read_only=True)
        try:
            self._cfg = {s.name: validate_value(s, self.get_parameter(s.name).value)
                         for s in SIM_CAMERA_PARAMS}
            cfg = self._cfg
            if cfg["num_objects_min"] > cfg["num_objects_max"]:
                raise ConfigError(f"num_objects_min={cfg['num_objects_min']} is above "
                                  f"num_objects_max={cfg['num_objects_max']}: lower the first "
                                  "or raise the second")
            self._scene_config = SceneConfig(
                width=cfg["width"], height=cfg["height"],
                num_objects=(cfg["num_objects_min"], cfg["num_objects_max"]),
                clutter=cfg["clutter"], hard_case_probability=cfg["hard_case_probability"],
                shadows=cfg["shadows"], depth_noise=cfg["depth_noise"], seed=cfg["seed"])
            self._sim = TabletopSim(self._scene_config, seed=cfg["seed"])
        except BaseException:
            self.destroy_node()  # no half-built node left in the graph
            raise

        # "/camera/camera" -> "/camera/camera/color/image_raw"; "" or "/" -> "color/image_raw",
        # relative, so it lands in the node's namespace.
        prefix = cfg["camera_namespace"].rstrip("/")
        camera = {"color": ("color/image_raw", Image),
                  "depth": ("aligned_depth_to_color/image_raw", Image),
                  "color_info": ("color/camera_info", CameraInfo),
                  "depth_info": ("aligned_depth_to_color/camera_info", CameraInfo)}
        self._pubs: dict[str, Any] = {
            key: self.create_publisher(msg_type, f"{prefix}/{name}" if prefix else name,
                                       own_profile(SENSOR_QOS),
                                       qos_overriding_options=qos_overriding_options())
            for key, (name, msg_type) in camera.items()}
        truth = {"gt_instance_labels": ("~/ground_truth/instance_labels", Image),
                 "gt_semantic_labels": ("~/ground_truth/semantic_labels", Image),
                 "gt_objects": ("~/ground_truth/objects", PoseArray)}
        for key, (topic, msg_type) in truth.items():
            self._pubs[key] = self.create_publisher(
                msg_type, topic, own_profile(RELIABLE_OUTPUT_QOS),
                qos_overriding_options=qos_overriding_options())

        self._frames_published = 0
        self._last_frame: SimFrame | None = None
        self._publish_times: deque[float] = deque()
        self._render_ms: deque[float] = deque(maxlen=10)
        self._report_start = time.monotonic()
        self._report_frames = 0
        self._warn = ThrottledReporter(self.get_logger().warning)
        self._timer = self.create_timer(1.0 / cfg["rate"], self._on_timer)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.get_logger().info(
            f"simulated RGB-D camera {cfg['width']}x{cfg['height']} at {cfg['rate']:g} Hz on "
            f"{self._pubs['color'].topic_name}, {self._pubs['depth'].topic_name} "
            f"({cfg['depth_encoding']}); scene seed {cfg['seed']} with "
            f"{len(self._sim.instance_ids)} objects")

    # -- properties ------------------------------------------------------------
    @property
    def scene_config(self) -> SceneConfig:
        """The :class:`SceneConfig` built from the parameters."""
        return self._scene_config

    @property
    def sim(self) -> TabletopSim:
        """The simulator (e.g. to move or remove objects from a test)."""
        if self._sim is None:
            raise RuntimeError("the node has been destroyed")
        return self._sim

    @property
    def topics(self) -> dict[str, str]:
        """Fully qualified topic names by role: color, depth, color_info, depth_info,
        gt_instance_labels, gt_semantic_labels, gt_objects."""
        return {k: p.topic_name for k, p in self._pubs.items()}

    @property
    def frames_published(self) -> int:
        """Frames published since start."""
        return self._frames_published

    @property
    def last_frame(self) -> SimFrame | None:
        """The most recently published frame (its ``stamp_ns`` is the messages' stamp)."""
        return self._last_frame

    @property
    def achieved_rate_hz(self) -> float:
        """Frames per second over the last few seconds of publishing (0 before 2 frames)."""
        t = self._publish_times
        if len(t) < 2 or t[-1] <= t[0]:
            return 0.0
        return (len(t) - 1) / (t[-1] - t[0])

    @property
    def render_ms(self) -> float:
        """Mean time of the last renders (move + render + convert + publish), milliseconds."""
        return float(np.mean(self._render_ms)) if self._render_ms else 0.0

    @property
    def finished(self) -> bool:
        """True once ``max_frames`` frames have been published."""
        limit = self._cfg["max_frames"]
        return limit > 0 and self._frames_published >= limit

    # -- parameters ------------------------------------------------------------
    def _on_set_parameters(self, params: list[Any]) -> SetParametersResult:
        result = validate_changes(params, configured=False, specs=_SPECS)
        if not result.successful:
            return result
        changes = {p.name: validate_value(_SPECS[p.name], p.value) for p in params
                   if p.name in _SPECS}
        old_rate = self._cfg["rate"]
        self._cfg.update(changes)
        if "rate" in changes and changes["rate"] != old_rate:
            self._restart_timer()
        if "max_frames" in changes and not self.finished and self._timer.is_canceled():
            self._restart_timer()
        return SetParametersResult(successful=True)

    def _restart_timer(self) -> None:
        self.destroy_timer(self._timer)
        self._timer = self.create_timer(1.0 / self._cfg["rate"], self._on_timer)
        self._publish_times.clear()
        self._report_start, self._report_frames = time.monotonic(), 0

    # -- frames ----------------------------------------------------------------
    def _on_timer(self) -> None:
        if self.finished:
            self._timer.cancel()
            return
        try:
            self.publish_frame()
        except Exception as exc:  # a failed render must not kill the camera
            self._warn("render_error", f"render failed: {type(exc).__name__}: {exc}")
            return
        if self.finished:
            self._timer.cancel()
            self.get_logger().info(f"published max_frames={self._cfg['max_frames']} frames; "
                                   "stopped publishing")
        self._report_rate()

    def publish_frame(self) -> SimFrame:
        """Move objects if due, render one frame stamped now, publish it; returns the frame."""
        cfg = self._cfg
        sim = self.sim
        start = time.monotonic()
        if (cfg["move_objects"] and self._frames_published > 0
                and self._frames_published % cfg["move_every"] == 0):
            sim.step_objects(fraction=cfg["move_fraction"],
                             max_translation_m=cfg["move_translation_m"],
                             max_rotation_deg=cfg["move_rotation_deg"])
        stamp_ns = self.get_clock().now().nanoseconds  # acquisition time: before the render
        frame = sim.render(stamp_ns=stamp_ns)
        header = make_header(stamp_ns, cfg["frame_id"])
        info = intrinsics_to_camera_info(frame.intrinsics, header)
        depth = depth_to_image_array(frame.depth, cfg["depth_encoding"])
        pubs = self._pubs
        # Depth and info first, colour last: a synchroniser completes on the colour image.
        pubs["depth"].publish(numpy_to_image(depth, cfg["depth_encoding"], header))
        pubs["depth_info"].publish(info)
        pubs["color_info"].publish(info)
        pubs["color"].publish(numpy_to_image(frame.rgb, "rgb8", header))
        if cfg["publish_ground_truth"]:
            pubs["gt_instance_labels"].publish(
                numpy_to_image(frame.instance_labels, "16UC1", header))
            pubs["gt_semantic_labels"].publish(numpy_to_image(frame.semantic, "mono8", header))
            pubs["gt_objects"].publish(_poses_msg(frame, header))
        now = time.monotonic()
        self._render_ms.append((now - start) * 1000.0)
        self._publish_times.append(now)
        while self._publish_times and self._publish_times[0] < now - _RATE_WINDOW_S:
            self._publish_times.popleft()
        self._frames_published += 1
        self._report_frames += 1
        self._last_frame = frame
        return frame

    def _report_rate(self) -> None:
        now = time.monotonic()
        elapsed = now - self._report_start
        if elapsed < self._cfg["report_period"]:
            return
        achieved = self._report_frames / elapsed
        target = self._cfg["rate"]
        text = (f"publishing at {achieved:.2f} Hz (target {target:g} Hz), "
                f"{self.render_ms:.0f} ms per frame, {self._frames_published} frames")
        if achieved < 0.9 * target and self.render_ms > 1000.0 / target * 0.9:
            self.get_logger().warning(
                f"{text}: rendering is slower than the rate; lower width/height, set "
                "shadows:=false or lower rate")
        else:
            self.get_logger().info(text)
        self._report_start, self._report_frames = now, 0

    def destroy_node(self) -> None:
        """Stop the timer, disconnect the simulator, destroy the node."""
        if self._sim is not None:
            self._sim.close()
            self._sim = None
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(SimCameraNode, args, logger_name="sim_camera_node")


if __name__ == "__main__":
    raise SystemExit(main())
