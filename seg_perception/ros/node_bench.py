"""Load generator for perception_node over real DDS: the fixture camera and the rate sweep.

A fixture camera in this process publishes frames rendered once (colour
``rgb8``, depth ``16UC1`` in millimetres, ``camera_info``; the three share one
fresh stamp taken from the host clock just before publishing) at a fixed
rate. perception_node runs as a separate process, started the way
``seg-perception bringup`` starts it (its default parameter file, only the
topics changed), or with ``in_process=True`` in this process on its own
executor thread. A listener takes ``~/objects`` as raw CDR bytes and reads only
the header stamp, so a Python consumer's deserialisation does not count.

The node process is ``python -m seg_perception.ros.node_bench``: the unchanged
:class:`~seg_perception.ros.nodes.perception_node.PerceptionNode` with a frame
observer (:meth:`~seg_perception.ros.nodes.perception_node.PerceptionNode.add_frame_observer`,
the node's public per-frame timing callback) that publishes each frame's
timings on ``~/bench_timings`` (``std_msgs/String``, JSON). So every frame's
latency splits exactly into the pipeline's own time and the node's overhead
(message conversion, sync, hand-over to the worker, output messages, DDS both
ways), whatever else loads the machine meanwhile.

Every output the node publishes (``~/objects``, the label images, ``~/overlay``,
``~/objects_cloud``, ``~/markers``, ``~/detections``, ``~/detections_3d``, the
label infos: whatever the node's graph entry lists) has a subscriber, on a sink
node in a process of its own taking raw bytes, so the node builds and sends
everything a fully-subscribed robot asks of it (it skips the overlay and the
cloud without a listener) and the ``~/objects`` receive time waits neither for
the large messages nor for this process's interpreter lock while it takes them
(as on a robot, where RViz or a mapper is not the planner's process).

Start-up and footprint, the node run as its own process: seconds from starting
the process to its lifecycle state answering *active* (``get_state`` polled),
and the resident memory of the node and each of its worker processes with the
heavy native libraries (torch, Open3D, ONNX Runtime) each has mapped, read from
outside (:func:`~seg_perception.benchmark.resources.process_tree_footprint`).

Latency is ``receive time - image stamp`` on the same host clock. Frames
without an output are split into ``node_dropped`` (the node replaced an
unprocessed frame with a newer one: its ``dropped_frames`` counter, read from
``/diagnostics``) and ``lost_other`` (lost in transport or synchronisation,
skipped, or failed). ``node_input`` is the node's own count of synchronised sets
taken in (its ``input_frames``): each of them is processed, dropped, skipped or failed.

Every run uses its own ROS domain id (default ``200 + pid % 30``) and
localhost-only discovery, so it neither hears nor disturbs other nodes.

Example:
    >>> from seg_perception.benchmark import render_bench_frames  # doctest: +SKIP
    >>> frames = render_bench_frames(320, 240, scenes=1, frames_per_scene=2)  # doctest: +SKIP
    >>> sweep = run_rate_sweep(frames, rates=(5, 10), step_s=3)  # doctest: +SKIP
    >>> sweep["highest_rate_without_drops_hz"]  # doctest: +SKIP
    10.0
"""
from __future__ import annotations

import json
import os
import shutil
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["NodeBench", "OutputSink", "run_rate_sweep", "summary_ms"]

_MB = 1024.0 * 1024.0
_NODE_NAME = "perception_node"
_CAMERA_NS = "/bench_camera"
_FRAME_ID = "camera_color_optical_frame"
_DIAG_PERIOD_S = 0.25
# Graph entries of the node that are not its perception outputs.
_NOT_OUTPUTS = ("/rosout", "/parameter_events", "/diagnostics", "/bench_timings",
                "/transition_event")


def _timings_qos() -> Any:
    """Reliable, deep: a timing message per frame must not be lost at 30 Hz."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    return QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE)


def summary_ms(values: Sequence[float]) -> dict[str, float]:
    """:func:`~seg_perception.metrics.timing.latency_summary`, finite floats rounded."""
    from ..metrics.timing import latency_summary

    return {k: (round(v, 3) if isinstance(v, float) and np.isfinite(v) else v)
            for k, v in latency_summary(values).items()}


class NodeBench:
    """Fixture camera + perception_node + ``~/objects`` listener, over DDS.

    Use as a context manager; :meth:`wait_ready` before measuring.

    Args:
        frames: :class:`~seg_perception.benchmark.BenchFrame` s, published in turn.
        in_process: run the node in this process (own executor thread) instead
            of as a separate process.
        node_params: extra perception_node parameters (e.g. ``{"publish_overlay": False}``).
        domain_id: ROS domain id (default ``200 + pid % 30``).
        log_path: where the node process's output goes (default: discarded).
    """

    def __init__(self, frames: Sequence[Any], *, in_process: bool = False,
                 node_params: dict[str, Any] | None = None, domain_id: int | None = None,
                 log_path: str | os.PathLike[str] | None = None) -> None:
        if not frames:
            raise ValueError("NodeBench needs at least one frame")
        self.frames = list(frames)
        self.in_process = in_process
        self.node_params = dict(node_params or {})
        self.domain_id = domain_id if domain_id is not None else 200 + os.getpid() % 30
        self.log_path = Path(log_path) if log_path is not None else None
        self._lock = threading.Lock()
        self.received: dict[int, int] = {}  # image stamp ns -> receive time ns
        self.camera_sent: dict[int, int] = {}  # image stamp ns -> its last message sent, ns
        # image stamp ns -> the node's own timings of that frame (its frame observer)
        self.node_timings: dict[int, dict[str, float]] = {}
        self._param_dir: str | None = None
        self._diag: tuple[int, dict[str, str]] | None = None  # (receive ns, values)
        self._stamp_fmt: str | None = None
        self._procs: list[Any] = []
        self._log_file: Any = None
        self._threads: list[threading.Thread] = []
        self._executors: list[Any] = []
        self._nodes: list[Any] = []
        self._node: Any = None
        self._context: Any = None
        self._psutil_proc: Any = None
        self._last_stamp = 0
        self._spawned_at: float | None = None  # monotonic time the node was started
        self._get_state: Any = None
        self._sinks: list[Any] = []  # OutputSink or _SinkProcess

    # -- setup / teardown ----------------------------------------------------
    def __enter__(self) -> "NodeBench":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        import psutil
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import CameraInfo, Image
        from std_msgs.msg import String

        from ..msg import ObjectInstanceArray
        from .conversions import intrinsics_to_camera_info, make_header, numpy_to_image
        from .qos import RELIABLE_OUTPUT_QOS, SENSOR_QOS

        # Before any context exists: discovery on this host only.
        os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        self._context = rclpy.Context()
        rclpy.init(context=self._context, domain_id=self.domain_id)
        camera = rclpy.create_node("bench_camera", context=self._context,
                                   start_parameter_services=False, enable_rosout=False)
        listener = rclpy.create_node("bench_listener", context=self._context,
                                     start_parameter_services=False, enable_rosout=False)
        self._nodes += [camera, listener]
        self.topics = {"color": f"{_CAMERA_NS}/color/image_raw",
                       "depth": f"{_CAMERA_NS}/aligned_depth_to_color/image_raw",
                       "info": f"{_CAMERA_NS}/color/camera_info"}
        self._pubs = {"color": camera.create_publisher(Image, self.topics["color"], SENSOR_QOS),
                      "depth": camera.create_publisher(Image, self.topics["depth"], SENSOR_QOS),
                      "info": camera.create_publisher(CameraInfo, self.topics["info"],
                                                      SENSOR_QOS)}
        # Messages built once; only the stamps change (publish serialises at once).
        self._msgs = []
        for f in self.frames:
            header = make_header(0, _FRAME_ID)
            self._msgs.append((numpy_to_image(f.rgb, "rgb8", header),
                               numpy_to_image(f.depth_mm, "16UC1", header),
                               intrinsics_to_camera_info(f.intrinsics, header)))
        self._objects_type = ObjectInstanceArray
        listener.create_subscription(ObjectInstanceArray, f"/{_NODE_NAME}/objects",
                                     self._on_objects, RELIABLE_OUTPUT_QOS, raw=True)
        listener.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        listener.create_subscription(String, f"/{_NODE_NAME}/bench_timings", self._on_timings,
                                     _timings_qos())
        from lifecycle_msgs.srv import GetState
        self._get_state = listener.create_client(GetState, f"/{_NODE_NAME}/get_state")
        executor = SingleThreadedExecutor(context=self._context)
        executor.add_node(listener)
        executor.add_node(camera)
        self._spin(executor, "bench_listener")
        if self.in_process:
            self._start_in_process()
            self._psutil_proc = psutil.Process()
        else:
            self._start_process()
            self._psutil_proc = psutil.Process(self._procs[0].pid)
        self._psutil_proc.cpu_percent(None)

    def _spin(self, executor: Any, name: str) -> None:
        def spin() -> None:
            try:
                executor.spin()
            except Exception:  # noqa: BLE001 - context shut down while spinning
                pass
        thread = threading.Thread(target=spin, name=name, daemon=True)
        thread.start()
        self._executors.append(executor)
        self._threads.append(thread)

    def _node_overrides(self) -> dict[str, Any]:
        return {"color_topic": self.topics["color"], "depth_topic": self.topics["depth"],
                "camera_info_topic": self.topics["info"],
                "diagnostics_period": _DIAG_PERIOD_S, **self.node_params}

    def _start_process(self) -> None:
        import subprocess

        import yaml

        from .bringup import default_config_file

        self._param_dir = tempfile.mkdtemp(prefix="seg_bench_node_")
        overrides = Path(self._param_dir) / "overrides.yaml"
        overrides.write_text(yaml.safe_dump({"/**": {"ros__parameters": self._node_overrides()}}))
        # What `seg-perception bringup` runs, with this module's timing publisher as entry point.
        cmd = [sys.executable, "-m", "seg_perception.ros.node_bench", "--ros-args",
               "-r", f"__node:={_NODE_NAME}", "--params-file", default_config_file(),
               "--params-file", str(overrides)]
        env = {**os.environ, "ROS_DOMAIN_ID": str(self.domain_id), "PYTHONUNBUFFERED": "1",
               "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
        if self.log_path is not None:
            self._log_file = open(self.log_path, "w")  # noqa: SIM115 - closed in close()
            out = {"stdout": self._log_file, "stderr": subprocess.STDOUT}
        else:
            out = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        self._spawned_at = time.monotonic()
        self._procs = [subprocess.Popen(cmd, env=env, **out)]

    def _start_in_process(self) -> None:
        from rclpy.executors import MultiThreadedExecutor
        from rclpy.parameter import Parameter

        from .nodes.perception_node import PerceptionNode, start_node

        overrides = [Parameter(k, value=v) for k, v in self._node_overrides().items()]
        self._spawned_at = time.monotonic()
        self._node = PerceptionNode(_NODE_NAME, context=self._context,
                                    parameter_overrides=overrides)
        executor = MultiThreadedExecutor(num_threads=2, context=self._context)
        executor.add_node(self._node)
        start_node(self._node)
        self._node.add_frame_observer(self._store_timings)
        self._spin(executor, "bench_perception_node")

    def close(self) -> None:
        if self._node is not None:
            self._node.remove_frame_observer(self._store_timings)
            self._node.shutdown_worker()
        for sink in self._sinks:
            sink.close()
        self._sinks = []
        for ex in self._executors:
            ex.shutdown(timeout_sec=2.0)
        for t in self._threads:
            t.join(timeout=3.0)
        if self._node is not None:
            self._node.destroy_node()
            self._node = None
        for n in self._nodes:
            n.destroy_node()
        self._nodes, self._executors, self._threads = [], [], []
        if self._procs:
            from .bringup import stop_nodes
            stop_nodes(self._procs)
            self._procs = []
        if self._context is not None:
            self._context.try_shutdown()
            self._context = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._param_dir is not None:
            shutil.rmtree(self._param_dir, ignore_errors=True)
            self._param_dir = None

    # -- callbacks -----------------------------------------------------------
    def _on_objects(self, data: bytes) -> None:
        recv = time.time_ns()
        stamp = self._parse_stamp(data)
        with self._lock:
            self.received[stamp] = recv

    def _parse_stamp(self, data: bytes) -> int:
        # CDR: 4-byte encapsulation header (byte 1: 1 = little endian), then
        # std_msgs/Header: int32 sec, uint32 nanosec. Checked once against a full parse.
        fmt = "<iI" if data[1] == 1 else ">iI"
        sec, nsec = struct.unpack_from(fmt, data, 4)
        if self._stamp_fmt is None:
            from rclpy.serialization import deserialize_message

            msg = deserialize_message(data, self._objects_type)
            if (msg.header.stamp.sec, msg.header.stamp.nanosec) != (sec, nsec):
                raise RuntimeError("ObjectInstanceArray stamp parse mismatch: does the "
                                   "message still start with std_msgs/Header?")
            self._stamp_fmt = fmt
        return int(sec) * 1_000_000_000 + int(nsec)

    def _on_timings(self, msg: Any) -> None:
        self._store_timings(json.loads(msg.data))

    def _store_timings(self, values: dict[str, Any]) -> None:
        values = dict(values)
        stamp = int(values.pop("stamp_ns"))
        with self._lock:
            self.node_timings[stamp] = values

    def _on_diagnostics(self, msg: Any) -> None:
        for status in msg.status:
            if status.name.startswith(f"{_NODE_NAME}:"):
                values = {kv.key: kv.value for kv in status.values}
                values["_level"] = str(int.from_bytes(status.level, "little")
                                       if isinstance(status.level, bytes) else status.level)
                values["_message"] = status.message
                with self._lock:
                    self._diag = (time.time_ns(), values)

    # -- driving -------------------------------------------------------------
    def node_alive(self) -> bool:
        return self.in_process or all(p.poll() is None for p in self._procs)

    def _check_alive(self) -> None:
        if not self.node_alive():
            tail = ""
            if self.log_path is not None and self.log_path.is_file():
                tail = "\n" + "\n".join(self.log_path.read_text().splitlines()[-20:])
            raise RuntimeError(f"perception_node exited (code {self._procs[0].returncode}){tail}")

    def publish_one(self, index: int) -> int:
        """Publish frame ``index % len(frames)`` with a fresh stamp; returns the stamp (ns)."""
        from .conversions import ns_to_stamp

        color, depth, info = self._msgs[index % len(self._msgs)]
        stamp_ns = self.next_stamp()
        stamp = ns_to_stamp(stamp_ns)
        for msg in (depth, info, color):
            msg.header.stamp = stamp
        self.publish_messages({"depth": depth, "info": info, "color": color})
        sent = time.time_ns()
        with self._lock:
            self.camera_sent[stamp_ns] = sent
        return stamp_ns

    def next_stamp(self) -> int:
        """A fresh stamp (ns, host clock), newer than every one handed out before."""
        stamp_ns = max(time.time_ns(), self._last_stamp + 1)
        self._last_stamp = stamp_ns
        return stamp_ns

    def camera_messages(self, index: int = 0) -> tuple[Any, Any, Any]:
        """The ``(color, depth, camera_info)`` messages of frame ``index`` (stamps change)."""
        return self._msgs[index % len(self._msgs)]

    def publish_messages(self, msgs: dict[str, Any]) -> None:
        """Publish whichever of ``depth``, ``info``, ``color`` ``msgs`` holds, in that order,
        as they are (the fuzz run sends corrupted sets this way)."""
        for key in ("depth", "info", "color"):
            if key in msgs:
                self._pubs[key].publish(msgs[key])

    def publish_at(self, rate_hz: float, *, count: int | None = None,
                   duration_s: float | None = None,
                   on_publish: Callable[[int], None] | None = None) -> list[int]:
        """Publish at ``rate_hz`` for ``count`` frames or ``duration_s`` seconds.

        The schedule is absolute (no drift); a late publisher skips ahead
        instead of bursting, as a camera would. Returns the stamps sent.
        """
        if (count is None) == (duration_s is None):
            raise ValueError("give exactly one of count and duration_s")
        period = 1.0 / float(rate_hz)
        n = count if count is not None else max(1, round(duration_s * rate_hz))
        stamps: list[int] = []
        next_t = time.perf_counter()
        for i in range(n):
            delay = next_t - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            stamps.append(self.publish_one(i))
            if on_publish is not None:
                on_publish(i)
            next_t += period
            now = time.perf_counter()
            if now - next_t > period:  # more than a frame late: skip, do not burst
                next_t = now
            if i % 16 == 0:
                self._check_alive()
        return stamps

    def wait_ready(self, timeout_s: float = 120.0, rate_hz: float = 2.0) -> float:
        """Publish slowly until the first ``~/objects`` arrives; returns the seconds it took."""
        start = time.monotonic()
        i = 0
        while time.monotonic() - start < timeout_s:
            self._check_alive()
            self.publish_one(i)
            i += 1
            deadline = time.monotonic() + 1.0 / rate_hz
            while time.monotonic() < deadline:
                with self._lock:
                    if self.received:
                        return time.monotonic() - start
                time.sleep(0.02)
        raise TimeoutError(f"perception_node gave no ~/objects within {timeout_s:.0f} s "
                           f"(see {self.log_path or 'its output'})")

    def drain(self, stamps: Sequence[int], idle_s: float = 1.5, timeout_s: float = 15.0) -> None:
        """Wait until every stamp has an output, or none arrived for ``idle_s`` seconds."""
        want = set(stamps)
        start = last_change = time.monotonic()
        seen = -1
        while time.monotonic() - start < timeout_s:
            with self._lock:
                got = sum(1 for s in want if s in self.received)
            if got == len(want):
                return
            if got != seen:
                seen, last_change = got, time.monotonic()
            elif time.monotonic() - last_change > idle_s:
                return
            time.sleep(0.05)

    def wait_active(self, timeout_s: float = 120.0) -> float:
        """Poll the node's ``get_state`` until it answers *active*; returns the seconds from
        starting the node (its process, or building it in-process) to that answer."""
        start = time.monotonic()
        while time.monotonic() - start < timeout_s:
            self._check_alive()
            if self._get_state.service_is_ready():
                from lifecycle_msgs.srv import GetState

                future = self._get_state.call_async(GetState.Request())
                deadline = time.monotonic() + 2.0
                while not future.done() and time.monotonic() < deadline:
                    time.sleep(0.005)
                if future.done() and future.result().current_state.label == "active":
                    return time.monotonic() - (self._spawned_at or start)
            time.sleep(0.02)
        raise TimeoutError(f"perception_node not active within {timeout_s:.0f} s "
                           f"(see {self.log_path or 'its output'})")

    def subscribe_outputs(self, timeout_s: float = 10.0, settle_s: float = 0.5) -> list[str]:
        """Subscribe (raw bytes, counted in :attr:`output_counts`) to every topic the node
        publishes besides ``~/objects`` (the listener has it): an :class:`OutputSink` in a
        process of its own. Returns every output topic, ``~/objects`` included, sorted.

        Its own process, as on a robot the consumers of the overlay, clouds and label
        images (RViz, a mapper) are other processes than the planner taking
        ``~/objects``: taking 2 MB of other outputs per frame in this process held the
        listener's callback (one interpreter lock) up to ~5 ms (p95) after the node had
        sent ``~/objects``, and that was counted as the node's overhead.
        """
        sink = _SinkProcess(self.domain_id, f"/{_NODE_NAME}", skip=("objects",),
                            timeout_s=timeout_s, settle_s=settle_s)
        self._sinks.append(sink)
        return list(sink.topics)

    @property
    def output_counts(self) -> dict[str, int]:
        """Messages received per output topic subscribed by :meth:`subscribe_outputs`."""
        counts: dict[str, int] = {}
        for sink in self._sinks:
            counts.update(sink.snapshot())
        return counts

    def footprint(self, pss: bool = True) -> dict[str, Any] | None:
        """The node process tree's memory and heavy libraries
        (:func:`~seg_perception.benchmark.resources.process_tree_footprint`);
        None in-process (this process holds the bench too)."""
        if self.in_process:
            return None
        from ..benchmark.resources import process_tree_footprint

        return process_tree_footprint(self._procs[0].pid, pss=pss)

    def seconds_since_start(self) -> float:
        """Seconds since the node was started (its process, or building it in-process)."""
        return time.monotonic() - (self._spawned_at or time.monotonic())

    def node_counters(self, timeout_s: float = 5.0) -> dict[str, int]:
        """The node's own counters, fresh: ``input_frames`` (synchronised sets taken in),
        ``processed/dropped/skipped_frames`` and ``errors``.

        In-process: read directly; otherwise from a ``/diagnostics`` message
        received after this call started.
        """
        keys = ("input_frames", "processed_frames", "dropped_frames", "skipped_frames", "errors")
        if self.in_process:
            snap = self._node.stats.snapshot()
            return {k: int(snap[k]) for k in keys}
        asked = time.time_ns()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                diag = self._diag
            if diag is not None and diag[0] > asked and "processed_frames" in diag[1]:
                return {k: int(diag[1][k]) for k in keys}
            time.sleep(0.02)
        raise TimeoutError("no /diagnostics from perception_node: is it running?")

    def latencies_ms(self, stamps: Sequence[int]) -> tuple[list[int], list[float]]:
        """Stamps that got an output, and their latencies (ms), in publish order."""
        with self._lock:
            got = [(s, self.received[s]) for s in stamps if s in self.received]
        return [s for s, _ in got], [(r - s) / 1e6 for s, r in got]

    def split_ms(self, stamps: Sequence[int]) -> dict[str, list[float]]:
        """Where each frame's latency went, for stamps with an output and the node's timings.

        Keys (ms, one value per such frame): ``pipeline`` (``Scene.timings_ms["total"]``),
        ``overhead`` (latency - pipeline), ``node_overhead`` (overhead - ``camera``: what
        the node and DDS add, not this process's camera sending), and the parts:
        ``input`` (stamp to the node taking the frame up: DDS in, synchronisation,
        waiting for a worker; of which ``camera``: stamp to this process's camera having
        sent the set's last message, rclpy converting the Python messages), ``convert``
        (messages to frame), ``objects`` (``~/objects`` built and sent, after the
        pipeline), ``objects_out`` (``~/objects`` sent to the listener's callback: DDS
        out and this process taking it), ``other`` (the rest of the overhead: hand-over
        to the worker not in the pipeline's time; about 0); and ``publish`` (every
        output built and sent: the outputs after ``~/objects`` are not in the latency).
        """
        keys = ("pipeline", "overhead", "node_overhead", "input", "camera", "convert",
                "objects", "objects_out", "other", "publish")
        out: dict[str, list[float]] = {k: [] for k in keys}
        with self._lock:
            for s in stamps:
                t = self.node_timings.get(s)
                if s not in self.received or t is None or "total" not in t:
                    continue
                latency = (self.received[s] - s) / 1e6
                overhead = latency - t["total"]
                out["pipeline"].append(t["total"])
                out["overhead"].append(overhead)
                camera = (self.camera_sent.get(s, s) - s) / 1e6
                out["node_overhead"].append(overhead - camera)
                out["input"].append(t["input"])
                out["camera"].append(camera)
                out["convert"].append(t["convert"])
                objects = t.get("objects", float("nan"))
                objects_out = ((self.received[s] - t["objects_ns"]) / 1e6
                               if "objects_ns" in t else float("nan"))
                out["objects"].append(objects)
                out["objects_out"].append(objects_out)
                out["other"].append(overhead - t["input"] - t["convert"] - objects
                                    - objects_out)
                out["publish"].append(t["publish"])
        return out

    def pipeline_ms(self, stamps: Sequence[int]) -> dict[int, float]:
        """The node's own pipeline time (``Scene.timings_ms["total"]``) per stamp it reported."""
        with self._lock:
            return {s: self.node_timings[s]["total"] for s in stamps
                    if "total" in self.node_timings.get(s, {})}

    def diagnostics(self) -> dict[str, str]:
        """The node's latest ``/diagnostics`` values (``_level``, ``_message`` included); {}
        before the first."""
        with self._lock:
            return dict(self._diag[1]) if self._diag else {}

    @property
    def listener(self) -> Any:
        """The listener's rclpy node (on the bench's executor): add subscriptions to it."""
        return self._nodes[1]

    @property
    def node_process(self) -> Any:
        """The perception_node process (``psutil.Process``; this one when in-process)."""
        return self._psutil_proc

    def node_rss_mb(self) -> float:
        """Node process resident memory, MB."""
        return self._psutil_proc.memory_info().rss / _MB

    def node_cpu_percent(self) -> float:
        """Node process CPU % since the last call (100 = one core)."""
        return float(self._psutil_proc.cpu_percent(None))

    @property
    def mode(self) -> str:
        return ("in-process (own executor thread)" if self.in_process
                else "separate process (perception_node + timing publisher: "
                     "python -m seg_perception.ros.node_bench)")


# --------------------------------------------------------------------------- output sink

class OutputSink:
    """A subscriber to every output a running node publishes, as raw bytes, counted.

    The node's publishers are read from the ROS graph once ``<node>/objects`` is
    listed and the list has not changed for ``settle_s`` (the ROS infrastructure
    topics left out); latched ones (the label infos) are subscribed as a late
    joiner takes them. A node of its own on an executor thread of its own, so
    the large messages (overlay, clouds) queue behind nothing else.

    Args:
        context: the rclpy context (initialised) to create the sink node in.
        node: the publishing node's full name, e.g. ``"/perception_node"``.
        skip: topic base names not to subscribe (still listed in :attr:`topics`).
        on_message: ``callback(topic)`` per message (default: count only).
    """

    def __init__(self, context: Any, node: str = f"/{_NODE_NAME}", *,
                 skip: Sequence[str] = (), timeout_s: float = 10.0, settle_s: float = 0.5,
                 on_message: Callable[[str], None] | None = None) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import DurabilityPolicy
        from rosidl_runtime_py.utilities import get_message

        from .qos import LATCHED_QOS, RELIABLE_OUTPUT_QOS

        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._on_message = on_message
        self._node = rclpy.create_node(f"output_sink_{os.getpid()}_{id(self) % 10000}",
                                       context=context, start_parameter_services=False,
                                       enable_rosout=False)
        namespace, _, name = node.rpartition("/")
        objects = f"{node}/objects"
        start = changed = time.monotonic()
        found: dict[str, str] = {}
        while time.monotonic() - start < timeout_s:
            try:
                listed = self._node.get_publisher_names_and_types_by_node(name, namespace or "/")
            except Exception:  # noqa: BLE001 - the node is not discovered yet
                listed = []
            now = {topic: types[0] for topic, types in listed
                   if not topic.endswith(_NOT_OUTPUTS) and types}
            if now != found:
                found, changed = now, time.monotonic()
            elif objects in found and time.monotonic() - changed >= settle_s:
                break
            time.sleep(0.05)
        if objects not in found:
            self._node.destroy_node()
            raise TimeoutError(f"{objects} is not in the ROS graph after {timeout_s:.0f} s")
        self.topics = sorted(found)
        self.skipped = [t for t in self.topics if t.rsplit("/", 1)[-1] in skip]
        for topic in self.topics:
            if topic in self.skipped:
                continue
            self.counts[topic] = 0
            latched = any(i.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL
                          for i in self._node.get_publishers_info_by_topic(topic))
            self._node.create_subscription(get_message(found[topic]), topic,
                                           lambda _data, t=topic: self._received(t),
                                           LATCHED_QOS if latched else RELIABLE_OUTPUT_QOS,
                                           raw=True)
        self._executor = SingleThreadedExecutor(context=context)
        self._executor.add_node(self._node)
        self._thread = threading.Thread(target=self._spin, name="output_sink", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            self._executor.spin()
        except Exception:  # noqa: BLE001 - context shut down while spinning
            pass

    def _received(self, topic: str) -> None:
        with self._lock:
            self.counts[topic] += 1
        if self._on_message is not None:
            self._on_message(topic)

    def snapshot(self) -> dict[str, int]:
        """Messages received so far per subscribed topic."""
        with self._lock:
            return dict(self.counts)

    def close(self) -> None:
        if self._executor is None:
            return
        self._executor.shutdown(timeout_sec=2.0)
        self._thread.join(timeout=3.0)
        self._node.destroy_node()
        self._executor = None


class _SinkProcess:
    """An :class:`OutputSink` in a child process (``python -m seg_perception.ros.node_bench
    --output-sink``), on this bench's ROS domain; ``snapshot()`` asks it for its counts."""

    def __init__(self, domain_id: int, node: str, *, skip: Sequence[str], timeout_s: float,
                 settle_s: float) -> None:
        import subprocess

        env = {**os.environ, "ROS_DOMAIN_ID": str(domain_id), "PYTHONUNBUFFERED": "1",
               "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "seg_perception.ros.node_bench", "--output-sink", node,
             str(domain_id), ",".join(skip), str(timeout_s), str(settle_s)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, env=env)
        self._lock = threading.Lock()
        self._last: dict[str, int] = {}
        first = self._read()
        if "topics" not in first:
            self.close()
            raise TimeoutError(first.get("error", "the output sink process gave no topics"))
        self.topics: list[str] = first["topics"]

    def _read(self) -> dict[str, Any]:
        line = self._proc.stdout.readline() if self._proc.stdout else ""
        return json.loads(line) if line.strip() else {"error": "output sink process ended"}

    def snapshot(self) -> dict[str, int]:
        """Messages received so far per subscribed topic (the last answer if it ended)."""
        with self._lock:
            if self._proc.poll() is None:
                try:
                    assert self._proc.stdin is not None
                    self._proc.stdin.write("counts\n")
                    self._proc.stdin.flush()
                    answer = self._read()
                    if "error" not in answer:
                        self._last = {k: int(v) for k, v in answer.items()}
                except (OSError, ValueError):
                    pass
            return dict(self._last)

    def close(self) -> None:
        if self._proc.poll() is None:
            self.snapshot()
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.close()  # end of input: the child stops
            except OSError:
                pass
            try:
                self._proc.wait(timeout=5.0)
            except Exception:  # noqa: BLE001 - subprocess.TimeoutExpired
                self._proc.kill()
                self._proc.wait(timeout=5.0)
        if self._proc.stdout is not None:
            self._proc.stdout.close()


def _sink_main(args: list[str]) -> int:
    """The output sink process: ``node domain_id skip timeout_s settle_s``; prints
    ``{"topics": [...]}`` once subscribed, then its counts (JSON) for each ``counts``
    line on stdin; stops at the end of stdin."""
    import rclpy

    node, domain_id, skip, timeout_s, settle_s = args
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(domain_id))
    try:
        try:
            sink = OutputSink(context, node, skip=[s for s in skip.split(",") if s],
                              timeout_s=float(timeout_s), settle_s=float(settle_s))
        except TimeoutError as exc:
            print(json.dumps({"error": str(exc)}), flush=True)
            return 1
        print(json.dumps({"topics": sink.topics}), flush=True)
        for line in sys.stdin:
            if line.strip() == "counts":
                print(json.dumps(sink.snapshot()), flush=True)
        sink.close()
    finally:
        context.try_shutdown()
    return 0


# --------------------------------------------------------------------------- rate sweep

def run_rate_sweep(frames: Sequence[Any], *, rates: Sequence[float] = (5, 10, 15, 20, 30),
                   step_s: float = 4.0, warmup_s: float = 3.0, in_process: bool = False,
                   node_params: dict[str, Any] | None = None, progress: bool = False,
                   log_path: str | os.PathLike[str] | None = None,
                   startup_timeout_s: float = 120.0,
                   subscribe_all: bool = True) -> dict[str, Any]:
    """Step the camera rate up and measure latency, throughput and drops at each step.

    With ``subscribe_all`` every output of the node has a subscriber
    (:meth:`NodeBench.subscribe_outputs`), as on a robot with every consumer running;
    else only ``~/objects``.

    Returns ``{"steps": [...], "latency_ms" (at the lowest rate: no queueing),
    "latency_rate_hz", "throughput_hz" (highest output rate), "highest_rate_without_drops_hz"
    (every step up to it delivered every frame; None if even the first dropped),
    "active_s" (node started -> lifecycle *active*), "startup_to_first_output_s",
    "outputs_subscribed", "output_counts", "camera_30hz" (the 30 Hz step's latency and
    drops, when the rates include 30), "objects_only" (with ``subscribe_all``: one step at
    the lowest rate before the other outputs get subscribers, so what they cost shows),
    "footprint" (separate process only: node and
    worker RSS and heavy libraries at *active* and after the sweep, and the peak of
    node + workers RSS over the steps), "overhead_per_frame_ms" and
    "node_overhead_per_frame_ms" (at the lowest rate, see :meth:`NodeBench.split_ms`), ...}``.
    """
    from tqdm import tqdm

    rates = [float(r) for r in rates]
    steps: list[dict[str, Any]] = []
    with NodeBench(frames, in_process=in_process, node_params=node_params,
                   log_path=log_path) as bench:
        active_s = bench.wait_active(startup_timeout_s)
        footprint_active = bench.footprint()
        outputs = [f"/{_NODE_NAME}/objects"]
        bench.wait_ready(startup_timeout_s)
        ready_s = bench.seconds_since_start()
        warm = bench.publish_at(rates[0], duration_s=warmup_s)
        bench.drain(warm)
        rss_start = bench.node_rss_mb()
        tree_rss: list[float] = []
        objects_only = None
        if subscribe_all:
            # First only ~/objects subscribed (a planner alone), at the lowest rate ...
            objects_only = _measure_step(bench, rates[0], step_s)
            outputs = bench.subscribe_outputs()
            # ... then every output: a short warm-up for the overlay and cloud paths.
            bench.drain(bench.publish_at(rates[0], duration_s=min(warmup_s, 1.0)))
        with tqdm(total=len(rates), desc="node rate sweep", unit="step", leave=False,
                  disable=not progress) as bar:
            for rate in rates:
                steps.append(_measure_step(bench, rate, step_s))
                if steps[-1]["node_workers_rss_mb"] is not None:
                    tree_rss.append(steps[-1]["node_workers_rss_mb"])
                bar.update(1)
        footprint_end = bench.footprint()
        output_counts = bench.output_counts
        mode = bench.mode
    highest = None
    for step in steps:
        if not step["sustained"]:
            break
        highest = step["rate_hz"]
    footprint = None
    if footprint_active is not None and footprint_end is not None:
        footprint = {"at_active": footprint_active, "after_sweep": footprint_end,
                     "peak_node_workers_rss_mb": max([footprint_active["node_workers_rss_mb"],
                                                      footprint_end["node_workers_rss_mb"],
                                                      *tree_rss]),
                     "libraries": sorted(set(footprint_active["libraries"])
                                         | set(footprint_end["libraries"]))}
    at_30 = next((s for s in steps if s["rate_hz"] == 30.0), None)
    return {
        "mode": mode, "active_s": round(active_s, 2),
        "startup_to_first_output_s": round(ready_s, 2),
        "outputs_subscribed": outputs, "output_counts": output_counts,
        "camera_30hz": None if at_30 is None else {
            k: at_30[k] for k in ("rate_hz", "sent", "received", "node_dropped", "lost_other",
                                  "latency_ms", "output_hz")},
        "footprint": footprint,
        "objects_only": None if objects_only is None else {
            k: objects_only[k] for k in ("rate_hz", "sent", "received", "latency_ms",
                                         "node_pipeline_ms", "overhead_ms", "node_overhead_ms",
                                         "overhead_parts_ms")},
        "latency_ms": steps[0]["latency_ms"], "latency_rate_hz": steps[0]["rate_hz"],
        "node_pipeline_ms": steps[0]["node_pipeline_ms"],
        "overhead_per_frame_ms": steps[0]["overhead_ms"],
        "node_overhead_per_frame_ms": steps[0]["node_overhead_ms"],
        "overhead_parts_ms": steps[0]["overhead_parts_ms"],
        "throughput_hz": max(s["output_hz"] for s in steps),
        "highest_rate_without_drops_hz": highest,
        "node_rss_mb_start": round(rss_start, 1),
        "steps": steps,
        "note": "node CPU % and RSS are the perception_node process's own (psutil); "
                "node + workers RSS adds its worker processes; the publisher and listener "
                "share the same cores.",
    }


def _measure_step(bench: NodeBench, rate: float, step_s: float) -> dict[str, Any]:
    """One rate step: publish at ``rate`` for ``step_s``, drain, and account for every frame."""
    before = bench.node_counters()
    bench.node_cpu_percent()
    t0 = time.perf_counter()
    stamps = bench.publish_at(rate, duration_s=step_s)
    published_s = time.perf_counter() - t0
    cpu = bench.node_cpu_percent()
    bench.drain(stamps)
    after = bench.node_counters()
    step_fp = bench.footprint(pss=False)
    got, lat = bench.latencies_ms(stamps)
    split = bench.split_ms(stamps)
    dropped = after["dropped_frames"] - before["dropped_frames"]
    first, last = (stamps[0], stamps[-1])
    window_s = max((last - first) / 1e9 + 1.0 / rate, 1e-9)
    return {
        "rate_hz": rate, "sent": len(stamps),
        "published_hz": round((len(stamps) - 1) / published_s, 2) if len(stamps) > 1 else rate,
        "received": len(got), "output_hz": round(len(got) / window_s, 2),
        "node_input": after["input_frames"] - before["input_frames"],
        "node_processed": after["processed_frames"] - before["processed_frames"],
        "node_dropped": dropped,
        "lost_other": len(stamps) - len(got) - dropped,
        "node_skipped": after["skipped_frames"] - before["skipped_frames"],
        "node_errors": after["errors"] - before["errors"],
        "latency_ms": summary_ms(lat),
        "node_pipeline_ms": summary_ms(split["pipeline"]),
        "overhead_ms": summary_ms(split["overhead"]),
        "node_overhead_ms": summary_ms(split["node_overhead"]),
        "overhead_parts_ms": {k: summary_ms(split[k]) for k in
                              ("input", "camera", "convert", "objects", "objects_out",
                               "other", "publish")},
        "node_cpu_percent": round(cpu, 1),
        "node_rss_mb": round(bench.node_rss_mb(), 1),
        "node_workers_rss_mb": (step_fp or {}).get("node_workers_rss_mb"),
        "sustained": len(got) == len(stamps)}


# --------------------------------------------------------------------------- node process

def _serve(args: list[str] | None = None) -> int:
    """The bench's node process: perception_node plus a per-frame timing publisher.

    Same as ``perception_node``'s ``main`` with a frame observer publishing each
    frame's timings as JSON on ``~/bench_timings``.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from std_msgs.msg import String

    from .nodes.perception_node import PerceptionNode, start_node

    rclpy.init(args=args)
    node = PerceptionNode()
    publisher = node.create_publisher(String, "~/bench_timings", _timings_qos())
    node.add_frame_observer(lambda t: publisher.publish(String(data=json.dumps(t))))
    try:
        start_node(node)
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.shutdown_worker()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--output-sink"]:
        sys.exit(_sink_main(sys.argv[2:]))
    sys.exit(_serve(sys.argv))
