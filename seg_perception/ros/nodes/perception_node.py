"""perception_node: RGB-D camera topics in, objects / masks / clouds / markers out.

A lifecycle node: parameters are read and models loaded on *configure*,
subscriptions start on *activate*. With ``autostart`` (default) it configures
and activates itself. Frames are processed on a worker thread; the
subscription callbacks only hand the newest synchronised set to it, so a slow
model drops stale frames instead of queueing them. With ``workers`` > 1 (the
default on a multi-core CPU) that thread hands each frame to the first idle
worker process of a :class:`~seg_perception.parallel.ParallelPipeline` and a
second thread publishes the results in frame order; a raw (uncompressed) set
that completes while a worker is idle and no older set is on its way goes to
that worker straight from the subscription callback (no thread hand-off on
the way in).
"""
from __future__ import annotations

import queue
import threading
import time
from typing import Any, Callable

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.lifecycle import State, TransitionCallbackReturn
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from ...config import PIPELINE_PARAMS, PipelineConfig
from ...errors import SegPerceptionError
from ...frames import RGBDFrame
from ...parallel import ParallelPipeline, WorkerError, auto_workers
from ...pipeline import Pipeline
from ...visualize import overlay_scene
from ..compressed import COLOR_TRANSPORT, DEPTH_TRANSPORT, image_from_compressed
from ..conversions import numpy_to_image
from ..frame_input import depth_range_hint, frame_advisories, frame_from_messages
from ..lifecycle import ManagedNode
from ..outputs import (instance_label_image, objects_cdr_matches, scene_to_cloud, scene_to_markers,
                       scene_to_objects_cdr, scene_to_objects_msg, semantic_label_image)
from ..params import NODE_PARAMS, PERCEPTION_PARAMS, declare_specs, read_specs, validate_changes
from ..qos import (LATCHED_QOS, RELIABLE_OUTPUT_QOS, SENSOR_QOS, own_profile,
                   qos_overriding_options)
from ..runtime import LatestSlot, NodeStats, ThrottledReporter, autostart, run_node
from ..sync import make_synchronizer
from ..vision_outputs import (label_info, scene_to_detections_2d, scene_to_detections_3d,
                              vision_msgs_available)

__all__ = ["PerceptionNode", "main"]

# Frames whose stamp jumps back by more than this restart tracking (bag loop,
# simulator reset) instead of being skipped.
_TIME_RESET_NS = 2_000_000_000


class PerceptionNode(ManagedNode):
    """See the module docstring; parameters: :data:`seg_perception.ros.params.PERCEPTION_PARAMS`."""

    def __init__(self, node_name: str = "perception_node", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        declare_specs(self, PERCEPTION_PARAMS)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._pipeline: Pipeline | ParallelPipeline | None = None
        self._pubs: dict[str, Any] = {}
        self._subs: list[Any] = []
        self._input_topics: list[str] = []  # colour, depth, camera_info as subscribed
        self._sync_impl = ""
        self._direct_dispatch = False  # raw input: idle workers take sets from the callback
        self._slot: LatestSlot[tuple[Any, Any, Any]] = LatestSlot()
        self._threads: list[threading.Thread] = []
        # Frames handed to worker processes, oldest first: (handle, header, stamp).
        self._in_flight: queue.Queue[tuple[Any, Any, int]] = queue.Queue()
        self._running = threading.Event()
        self._stats = NodeStats(
            problem_window_s=float(self.get_parameter("diagnostics_window").value))
        self._warn = ThrottledReporter(self.get_logger().warning)
        # Advice about inputs that still work (empty frame_id, ignored distortion):
        # logged once a minute per cause, listed in diagnostics while it holds.
        self._advise = ThrottledReporter(self.get_logger().warning, period_s=60.0)
        self._advice: dict[str, str] = {}
        self._depth_hint = ""
        self._worker_note = ""  # why worker processes could not be used, if so
        self._state_note = "unconfigured"
        self._last_stamp_ns: int | None = None
        self._node_cfg: dict[str, Any] = {}
        self._objects_form: Callable[..., Any] = scene_to_objects_msg  # or its CDR bytes
        self._input_seen = [0.0, 0.0, 0.0]
        self._last_synced = 0.0
        self._activated_at = 0.0
        # Per-frame timing observers (add_frame_observer) and the frames in progress.
        self._frame_observers: list[Callable[[dict[str, Any]], None]] = []
        self._taken: dict[int, tuple[int, float]] = {}  # stamp -> (taken ns, convert ms)
        self._taken_lock = threading.Lock()
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10,
                                               qos_overriding_options=qos_overriding_options())
        period = float(self.get_parameter("diagnostics_period").value)
        self._diag_timer = self.create_timer(period, self.publish_diagnostics)

    # -- lifecycle -----------------------------------------------------------
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        try:
            pipeline_values = read_specs(self, PIPELINE_PARAMS)
            self._node_cfg = read_specs(self, NODE_PARAMS)
            self._pipeline = self._build_pipeline(PipelineConfig.from_mapping(pipeline_values))
        except Exception as exc:  # any load failure must leave the node up and saying why
            self._state_note = f"configure failed: {exc}"
            self.get_logger().error(self._state_note)
            self._stats.error(self._state_note)
            self._pipeline = None
            return TransitionCallbackReturn.FAILURE
        self._create_publishers()
        workers = getattr(self._pipeline, "workers", 1)
        self._state_note = (f"configured: {self._pipeline.config.instance_backend} on "
                            f"{self._pipeline.device}"
                            + (f", {workers} worker processes" if workers > 1 else ""))
        self.get_logger().info(self._state_note)
        return TransitionCallbackReturn.SUCCESS

    def _build_pipeline(self, config: PipelineConfig) -> Pipeline | ParallelPipeline:
        workers = int(self._node_cfg["workers"])
        if workers == 0:
            from ...devices import resolve_device
            workers = auto_workers(resolve_device(config.device, strict=config.strict_device))
        self._worker_note = ""
        if workers == 1:
            return Pipeline(config)
        try:
            return ParallelPipeline(config, workers=workers)
        except WorkerError as exc:  # the processes failed, not the config: run here instead
            self._worker_note = (f"worker processes could not start ({exc}); running the "
                                 "pipeline in the node process (slower): set workers: 1 to "
                                 "silence this, or fix the cause")
            self.get_logger().error(self._worker_note)
            self._stats.error(self._worker_note)
            return Pipeline(config)

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        cfg = self._node_cfg
        if cfg["input_transport"] == "compressed":  # as image_transport names them
            image_type = CompressedImage
            topics = [f"{cfg['color_topic']}/{COLOR_TRANSPORT}",
                      f"{cfg['depth_topic']}/{DEPTH_TRANSPORT}"]
        else:
            image_type, topics = Image, [cfg["color_topic"], cfg["depth_topic"]]
        self._input_topics = [*topics, cfg["camera_info_topic"]]
        # Compressed sets are decoded by the dispatcher thread: not on the executor's.
        self._direct_dispatch = image_type is Image
        self._subs, self._sync_impl = make_synchronizer(
            self, [image_type, image_type, CameraInfo], self._input_topics,
            SENSOR_QOS, self._on_synced, cfg["sync_slop"], cfg["sync_queue_size"],
            on_message=self._on_input, on_bad_message=self._on_bad_message,
            qos_overriding_options=qos_overriding_options())
        self._input_seen = [0.0, 0.0, 0.0]
        self._activated_at = time.monotonic()
        self._slot.reopen()
        self._running.set()
        if isinstance(self._pipeline, ParallelPipeline):
            targets = {"dispatch": self._dispatch, "publish": self._collect}
        else:
            targets = {"worker": self._work}
        self._threads = [threading.Thread(target=fn, name=f"seg_perception_{name}", daemon=True)
                         for name, fn in targets.items()]
        for thread in self._threads:
            thread.start()
        self._state_note = "active"
        self.get_logger().info(
            f"active: {', '.join(self._input_topics)} (sync: {self._sync_impl})")
        return super().on_activate(state)

    def shutdown_worker(self) -> None:
        """Stop subscriptions and threads and free the pipeline (its worker processes and
        their shared memory); used on process exit, whatever stopped the node."""
        self._stop_inputs()
        self._release()

    def _stop_inputs(self) -> None:
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        self._running.clear()
        self._slot.close()
        self._slot.wait_released(timeout=10.0)  # a set on its way from a callback
        for thread in self._threads:  # the dispatcher first: nothing is sent after it
            thread.join(timeout=10.0)
        self._threads = []

    def _release(self) -> None:
        for pub in self._pubs.values():
            self.destroy_publisher(pub)
        self._pubs = {}
        device = self._pipeline.device if self._pipeline is not None else "cpu"
        if isinstance(self._pipeline, ParallelPipeline):
            self._pipeline.close()
        self._pipeline = None
        if device.startswith("cuda"):
            import torch
            torch.cuda.empty_cache()

    def _create_publishers(self) -> None:
        from ...msg import ObjectInstanceArray  # generated from msg/ at build time

        outputs = {
            "publish_objects": ("objects", ObjectInstanceArray),
            "publish_instance_labels": ("instance_labels", Image),
            "publish_semantic_labels": ("semantic_labels", Image),
            "publish_overlay": ("overlay", Image),
            "publish_cloud": ("objects_cloud", PointCloud2),
            "publish_markers": ("markers", MarkerArray),
        }
        if vision_msgs_available():
            from vision_msgs.msg import Detection2DArray, Detection3DArray, LabelInfo
            outputs.update(publish_detections=("detections", Detection2DArray),
                           publish_detections_3d=("detections_3d", Detection3DArray))
        elif any(self._node_cfg[k] for k in ("publish_detections", "publish_detections_3d",
                                              "publish_label_info")):
            self.get_logger().warning(
                "vision_msgs is not installed: ~/detections, ~/detections_3d and the label "
                "infos are not published (apt install ros-$ROS_DISTRO-vision-msgs)")
        for param, (topic, msg_type) in outputs.items():
            if self._node_cfg[param]:
                self._pubs[topic] = self.create_publisher(
                    msg_type, f"~/{topic}", own_profile(RELIABLE_OUTPUT_QOS),
                    qos_overriding_options=qos_overriding_options())
        if vision_msgs_available() and self._node_cfg["publish_label_info"]:
            self._publish_label_infos(LabelInfo)
        # ~/objects as bytes written from the scene where this rmw serializes the same way.
        self._objects_form = scene_to_objects_msg
        if "objects" in self._pubs:
            if objects_cdr_matches():
                self._objects_form = scene_to_objects_cdr
            else:
                self.get_logger().info("~/objects goes through rclpy's serializer: this rmw's "
                                       "bytes differ from the package's own CDR writer")

    def _publish_label_infos(self, msg_type: Any) -> None:
        """Class id -> name of both label images, latched: sent once per configure (and
        when the score threshold changes), a late subscriber still gets them."""
        assert self._pipeline is not None
        instance, semantic = self._pipeline.class_names
        header = Header(stamp=self.get_clock().now().to_msg())
        for topic, names, threshold in (
                ("instance_label_info", instance, self._pipeline.config.score_threshold),
                ("semantic_label_info", semantic, 0.0)):
            if not names:
                continue
            if topic not in self._pubs:
                self._pubs[topic] = self.create_publisher(
                    msg_type, f"~/{topic}", own_profile(LATCHED_QOS),
                    qos_overriding_options=qos_overriding_options())
            self._pubs[topic].publish(label_info(names, header, threshold))

    # -- parameters ----------------------------------------------------------
    def _on_set_parameters(self, params: list[Any]) -> Any:
        result = validate_changes(params, configured=self._pipeline is not None)
        if not result.successful or self._pipeline is None:
            return result
        pipeline_names = {s.name for s in PIPELINE_PARAMS}
        changes = {p.name: p.value for p in params if p.name in pipeline_names}
        try:
            if changes:
                self._pipeline.update_config(**changes)
        except SegPerceptionError as exc:
            result.successful, result.reason = False, str(exc)
            return result
        for p in params:
            if p.name in self._node_cfg:
                self._node_cfg[p.name] = p.value
        if "score_threshold" in changes and "instance_label_info" in self._pubs:
            from vision_msgs.msg import LabelInfo
            self._publish_label_infos(LabelInfo)  # its threshold field changed
        return result

    # -- data path -----------------------------------------------------------
    def _on_input(self, index: int) -> None:
        self._input_seen[index] = time.monotonic()

    def input_problem(self, silence_s: float = 3.0) -> str:
        """Names an input topic that is silent while the node is active ('' if all is well)."""
        if not self._subs:
            return ""
        now = time.monotonic()
        if now - self._activated_at < silence_s:
            return ""
        silent = [i for i in range(3) if now - self._input_seen[i] > silence_s]
        if not silent:
            if now - max(self._last_synced, self._activated_at) > silence_s:
                return (f"messages arrive on every input but none pair up within "
                        f"sync_slop={self._node_cfg['sync_slop']} s for {silence_s:.0f} s: "
                        "are the stamps of colour, depth and camera_info from one clock?")
            return ""
        topics = ", ".join(f"'{self._input_topics[i]}'" for i in silent)
        if len(silent) == 3:
            return f"no messages on {topics}: is the camera driver running, are the topics right?"
        if silent == [2]:
            return (f"no camera_info yet on {topics}: frames cannot be used without "
                    "intrinsics; does the driver publish camera_info?")
        return f"no messages on {topics} while other inputs arrive: check the topic names"

    def _on_bad_message(self, category: str, message: str) -> None:
        """A message the synchroniser could not take (bad stamp, ...): dropped, reported."""
        self._stats.skip(category, message)
        self._warn(category, message)

    def _on_synced(self, color: Image, depth: Image, info: CameraInfo) -> None:
        self._last_synced = time.monotonic()
        self._stats.input()
        pipeline = self._pipeline
        if (self._direct_dispatch and self._running.is_set()
                and isinstance(pipeline, ParallelPipeline) and pipeline.wait_idle(timeout=0)
                and self._slot.claim()):
            # A worker is idle and no older set is waiting or on its way: send this one
            # now rather than wake the dispatcher (saves a thread hand-off per frame).
            try:
                self._send(pipeline, (color, depth, info))
            finally:
                self._slot.release()
            return
        if self._slot.put((color, depth, info)):
            self._stats.drop()

    def _work(self) -> None:
        """One thread, in-process pipeline: newest frame, process, publish."""
        while self._running.is_set():
            item = self._slot.take(timeout=0.2)
            pipeline = self._pipeline
            if item is None or not self._running.is_set() or pipeline is None:
                continue
            frame = self._frame_from(*item)
            if frame is not None:
                self._deliver(lambda: pipeline.process(frame), item[0].header, frame.stamp_ns)

    def _dispatch(self) -> None:
        """Worker processes: when one is idle, send it the newest frame (older ones are
        dropped, not queued); ``_collect`` publishes the results in order."""
        pipeline = self._pipeline
        assert isinstance(pipeline, ParallelPipeline)
        while self._running.is_set():
            try:
                self._dispatch_one(pipeline)
            except Exception as exc:  # noqa: BLE001 - without this thread no frame goes out
                self._failed(exc)  # e.g. a replacement worker that cannot be started
                time.sleep(0.2)

    def _dispatch_one(self, pipeline: ParallelPipeline) -> None:
        if not pipeline.wait_idle(timeout=0.2):
            return
        item = self._slot.take(timeout=0.2, claim=True)
        if item is None:
            return
        try:
            # A set sent straight from the callback may have taken the idle worker
            # since: wait for the next, then send the newest set by then.
            while self._running.is_set() and not pipeline.wait_idle(timeout=0.2):
                pass
            newer = self._slot.take(timeout=0)
            if newer is not None:
                self._stats.drop()
                item = newer
            if self._running.is_set():
                self._send(pipeline, item)
        finally:
            self._slot.release()

    def _send(self, pipeline: ParallelPipeline, item: tuple[Any, Any, Any]) -> None:
        """Convert a synchronised set and submit it to an idle worker (with the slot's
        claim held: one set at a time, in order)."""
        frame = self._frame_from(*item)
        if frame is None:
            return
        try:
            handle = pipeline.submit(frame)
        except Exception as exc:  # noqa: BLE001 - the dispatcher must outlive any frame
            self._failed(exc)  # counted and in /diagnostics; the next frame goes on
            return
        self._in_flight.put((handle, item[0].header, frame.stamp_ns))

    def _collect(self) -> None:
        # Runs until the dispatcher has stopped and every frame it sent is back.
        while self._running.is_set() or any(t.is_alive() for t in self._threads[:1]) \
                or self._slot.claimed or not self._in_flight.empty():
            try:
                handle, header, stamp_ns = self._in_flight.get(timeout=0.2)
            except queue.Empty:
                continue
            if self._running.is_set():
                self._deliver(handle.result, header, stamp_ns)
            else:  # deactivating: finish the frame, publish nothing
                try:
                    handle.result()
                except Exception:  # noqa: BLE001 - nobody will read it
                    pass

    def _skip(self, category: str, message: str) -> None:
        self._stats.skip(category, message)
        self._warn(category, f"skipping frame: {message}")

    def _frame_from(self, color: Image, depth: Image, info: CameraInfo) -> RGBDFrame | None:
        """The frame of a synchronised set, or None (skipped, and counted) when unusable."""
        max_pixels = self._node_cfg["max_image_pixels"]
        taken_ns, t0 = time.time_ns(), time.perf_counter()
        try:
            if isinstance(color, CompressedImage):  # decoded here: only frames used pay
                color = image_from_compressed(color, max_pixels)
                depth = image_from_compressed(depth, max_pixels)
            frame = frame_from_messages(color, depth, info, max_pixels)
        except SegPerceptionError as exc:
            self._skip(type(exc).__name__, str(exc))
            return None
        except Exception as exc:  # malformed message content: name it, keep going
            self._skip("malformed_message", f"malformed image message: {exc}")
            return None
        if self._last_stamp_ns is not None and frame.stamp_ns <= self._last_stamp_ns:
            if self._last_stamp_ns - frame.stamp_ns > _TIME_RESET_NS:
                self.get_logger().warning("time jumped backwards: restarting tracking")
                pipeline = self._pipeline
                if pipeline is not None:
                    pipeline.update_config(tracking=pipeline.config.tracking)
            else:
                self._skip("stamp_backwards",
                           f"stamp {frame.stamp_ns} ns is not newer than the last frame's "
                           f"{self._last_stamp_ns} ns (camera clock going backwards?)")
                return None
        self._last_stamp_ns = frame.stamp_ns
        advice = frame_advisories(color, info)
        for category, message in advice.items():
            self._advise(category, message)
        self._advice = advice
        if self._frame_observers:
            with self._taken_lock:
                while len(self._taken) >= 64:  # frames that never came back
                    self._taken.pop(next(iter(self._taken)))
                self._taken[frame.stamp_ns] = (taken_ns, (time.perf_counter() - t0) * 1e3)
        return frame

    def _deliver(self, scene_of: Any, header: Any, stamp_ns: int) -> None:
        """Publish ``scene_of()`` (the processed frame); a failure is counted, not raised."""
        try:
            scene = scene_of()
            ready = time.time_ns()  # the frame's scene is ready to publish
            if not self.context.ok():  # shutting down (SIGINT/SIGTERM): nothing to publish
                return
            objects_ns = self._publish(scene, header)
        except Exception as exc:  # a model failing on one frame must not stop the robot
            self._failed(exc)
            return
        self._delivered(scene, stamp_ns, ready, objects_ns)

    def _failed(self, exc: Exception) -> None:
        if not self.context.ok():
            return
        message = f"processing failed: {type(exc).__name__}: {exc}"
        self._stats.error(message)
        self._warn("processing_error", message)

    def _delivered(self, scene: Any, stamp_ns: int, ready: int, objects_ns: int) -> None:
        """Bookkeeping once every output of a frame is out."""
        latency_ms = (self.get_clock().now().nanoseconds - stamp_ns) / 1e6
        self._stats.output(latency_ms)
        pipeline = self._pipeline
        # Only frames without objects pay for this look at the depth.
        self._depth_hint = "" if scene.objects or pipeline is None else depth_range_hint(
            scene.frame.depth, pipeline.config.min_depth, pipeline.config.max_depth)
        if self._depth_hint:
            self._warn("depth_range", self._depth_hint)
        if self._frame_observers:
            self._notify_observers(stamp_ns, scene.timings_ms, ready, objects_ns)

    # -- per-frame timings -----------------------------------------------------
    def add_frame_observer(self, callback: Callable[[dict[str, Any]], None]) -> None:
        """Call ``callback(record)`` (on a worker thread) after each frame is published.

        ``record``: ``stamp_ns`` (the image stamp), ``input`` (ms from the stamp to
        the node taking the frame up: DDS, synchronisation, waiting), ``convert``
        (ms, messages to frame and its checks), the pipeline's ``Scene.timings_ms``,
        ``objects`` (ms, ``~/objects`` built and sent, after the pipeline's
        ``total``), ``publish`` (ms, every output built and sent), ``objects_ns``
        (host clock when ``~/objects`` was sent) and ``done_ns`` (host clock when
        the node's work on the frame ended). For benchmarks (``seg-perception
        bench``); without observers the node does none of this bookkeeping.
        """
        self._frame_observers.append(callback)

    def remove_frame_observer(self, callback: Callable[[dict[str, Any]], None]) -> None:
        """Stop calling ``callback`` (see :meth:`add_frame_observer`)."""
        if callback in self._frame_observers:
            self._frame_observers.remove(callback)

    def _notify_observers(self, stamp_ns: int, timings_ms: dict[str, float],
                          ready_ns: int, objects_ns: int) -> None:
        with self._taken_lock:
            taken = self._taken.pop(stamp_ns, None)
        if taken is None:  # taken up before the first observer came
            return
        record: dict[str, Any] = {"stamp_ns": stamp_ns, "input": (taken[0] - stamp_ns) / 1e6,
                                  "convert": taken[1], **timings_ms,
                                  "objects": (objects_ns - ready_ns) / 1e6,
                                  "publish": (time.time_ns() - ready_ns) / 1e6,
                                  "objects_ns": objects_ns, "done_ns": time.time_ns()}
        for callback in list(self._frame_observers):
            callback(dict(record))

    def _publish(self, scene: Any, header: Any) -> int:
        """Build and send the frame's outputs, ``~/objects`` first; returns the host clock
        (ns) when ``~/objects`` was sent."""
        pubs, pipeline = self._pubs, self._pipeline
        if "objects" in pubs:
            pubs["objects"].publish(self._objects_form(
                scene, header, backend=pipeline.config.instance_backend, device=pipeline.device,
                with_clouds=self._node_cfg["publish_object_clouds"]))
        sent = time.time_ns()
        if "instance_labels" in pubs:
            pubs["instance_labels"].publish(instance_label_image(scene, header))
        if "semantic_labels" in pubs:
            msg = semantic_label_image(scene, header)
            if msg is not None:
                pubs["semantic_labels"].publish(msg)
        # The overlay and cloud cost real time: only build them for a listener.
        if "overlay" in pubs and pubs["overlay"].get_subscription_count() > 0:
            pubs["overlay"].publish(numpy_to_image(overlay_scene(scene), "rgb8", header))
        if "objects_cloud" in pubs and pubs["objects_cloud"].get_subscription_count() > 0:
            pubs["objects_cloud"].publish(scene_to_cloud(scene, header))
        if "markers" in pubs:
            pubs["markers"].publish(scene_to_markers(scene, header))
        class_id = self._node_cfg["detection_class_id"]
        if "detections" in pubs:
            pubs["detections"].publish(scene_to_detections_2d(scene, header,
                                                              class_id_format=class_id))
        if "detections_3d" in pubs:
            pubs["detections_3d"].publish(scene_to_detections_3d(scene, header,
                                                                 class_id_format=class_id))
        return sent

    # -- diagnostics ---------------------------------------------------------
    def diagnostics_status(self) -> DiagnosticStatus:
        snap = self._stats.snapshot()
        pipeline = self._pipeline
        silent = self.input_problem()
        status = DiagnosticStatus(name=f"{self.get_name()}: segmentation",
                                  hardware_id=pipeline.device if pipeline else "none")
        if pipeline is None and self._state_note.startswith("configure failed"):
            status.level, status.message = DiagnosticStatus.ERROR, self._state_note
        elif silent:
            status.level, status.message = DiagnosticStatus.WARN, silent
        elif snap["recent_problems"]:  # only the last few seconds: OK again once they stop
            status.level, status.message = DiagnosticStatus.WARN, snap["last_problem"]
        elif self._worker_note and pipeline is not None:
            status.level, status.message = DiagnosticStatus.WARN, self._worker_note
        elif self._depth_hint:
            status.level, status.message = DiagnosticStatus.WARN, self._depth_hint
        else:
            status.level, status.message = DiagnosticStatus.OK, self._state_note
        values = {
            "state": self._state_note,
            "backend": pipeline.config.instance_backend if pipeline else "",
            "semantic_backend": pipeline.config.semantic_backend if pipeline else "",
            "device": pipeline.device if pipeline else "",
            "sync": self._sync_impl,
            "workers": str(getattr(pipeline, "workers", 1) if pipeline else 0),
            "advice": " | ".join(self._advice.values()),
            "hint": self._depth_hint,
            **{k: (f"{v:.2f}" if isinstance(v, float) else str(v)) for k, v in snap.items()},
        }
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        return status

    def publish_diagnostics(self) -> None:
        problem = self.input_problem()
        if problem:
            self._warn("silent_input", problem)
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [self.diagnostics_status()]
        self._diag_pub.publish(msg)

    @property
    def stats(self) -> NodeStats:
        return self._stats

    @property
    def configured(self) -> bool:
        """True while a pipeline (models) is loaded."""
        return self._pipeline is not None

    @property
    def pipeline(self) -> Pipeline | ParallelPipeline | None:
        return self._pipeline


start_node = autostart  # configure + activate when ``autostart`` is set


def main(args: list[str] | None = None) -> int:
    return run_node(PerceptionNode, args, lifecycle=True,
                    on_exit=PerceptionNode.shutdown_worker, logger_name="perception_node")


if __name__ == "__main__":
    raise SystemExit(main())
