"""`seg-perception demo`: simulated camera + perception node over real DDS.

Starts ``sim_camera_node`` and ``perception_node`` as separate processes (the
nodes of ``sim.launch.py``), records N frames of their output and writes to
``--out``: ``overlays/*.png``, ``clouds/*.ply`` (object points with a label),
``frames/*.json`` and ``summary.json`` / ``summary.md`` (objects found vs truth,
overlap F, 3D centre error, latency).
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..io import save_ply, write_json

__all__ = ["DemoRecorder"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=10, help="frames to record")
    parser.add_argument("--out", default="out/demo", help="output folder")
    parser.add_argument("--rate", type=float, default=2.0, help="simulated camera rate, Hz")
    parser.add_argument("--seed", type=int, default=0, help="scene seed")
    parser.add_argument("--timeout", type=float, default=180.0, help="give up after seconds")
    parser.add_argument("--config", default="", help="perception node parameter file")
    parser.add_argument("--instance-backend", default="", help="override instance_backend")
    parser.add_argument("--domain-id", type=int, default=None,
                        help="ROS_DOMAIN_ID for the demo's nodes (default: inherited)")


class DemoRecorder:
    """Subscribes to the perception outputs and the simulator's ground truth, by stamp."""

    TOPICS = ("objects", "instance_labels", "overlay", "objects_cloud")

    def __init__(self, node: Any, perception_ns: str = "/perception_node",
                 sim_ns: str = "/sim_camera_node", camera_ns: str = "/camera/camera") -> None:
        from geometry_msgs.msg import PoseArray
        from sensor_msgs.msg import Image, PointCloud2

        from ..msg import ObjectInstanceArray
        from ..ros.conversions import stamp_to_ns
        from ..ros.qos import RELIABLE_OUTPUT_QOS, SENSOR_QOS

        self._stamp_to_ns = stamp_to_ns
        self.frames: dict[int, dict[str, Any]] = {}
        types = {"objects": ObjectInstanceArray, "instance_labels": Image, "overlay": Image,
                 "objects_cloud": PointCloud2}
        for topic, msg_type in types.items():
            node.create_subscription(msg_type, f"{perception_ns}/{topic}",
                                     self._store(topic), RELIABLE_OUTPUT_QOS)
        node.create_subscription(Image, f"{sim_ns}/ground_truth/instance_labels",
                                 self._store("gt_labels"), RELIABLE_OUTPUT_QOS)
        node.create_subscription(PoseArray, f"{sim_ns}/ground_truth/objects",
                                 self._store("gt_objects"), RELIABLE_OUTPUT_QOS)
        # The camera's depth: the scoring protocol drops predicted segments without depth.
        node.create_subscription(Image, f"{camera_ns}/aligned_depth_to_color/image_raw",
                                 self._store("depth"), SENSOR_QOS)

    def _store(self, key: str):  # noqa: ANN202
        def callback(msg: Any) -> None:
            self.frames.setdefault(self._stamp_to_ns(msg.header.stamp), {})[key] = msg
        return callback

    def complete(self) -> list[int]:
        need = set(self.TOPICS) | {"gt_labels", "gt_objects", "depth"}
        return sorted(s for s, f in self.frames.items() if need <= set(f))


def _frame_report(record: dict[str, Any]) -> dict[str, Any]:
    from ..metrics.osd import OCID_MIN_SEGMENT_DEPTH, osd_metrics, remove_segments_without_depth
    from ..ros.conversions import image_to_numpy, objects_msg_to_dicts

    # The standard protocol (as `seg-perception eval` on simulation): ground truth in
    # full, predicted segments with too little depth removed first.
    has_depth = image_to_numpy(record["depth"]) > 0
    pred = remove_segments_without_depth(
        image_to_numpy(record["instance_labels"]).astype(np.int64), has_depth,
        OCID_MIN_SEGMENT_DEPTH)
    gt = image_to_numpy(record["gt_labels"]).astype(np.int64)
    osd = osd_metrics(pred, gt)
    objects = objects_msg_to_dicts(record["objects"])["objects"]
    gt_ids = [int(v) for v in np.unique(gt) if v]
    gt_centres = np.array([[p.position.x, p.position.y, p.position.z]
                           for p in record["gt_objects"].poses]).reshape(-1, 3)
    errors = []
    for g_label, p_label, f in osd.matches:  # (gt label, pred label, F)
        if f <= 0.5 or p_label < 1 or g_label not in gt_ids:
            continue
        gt_index = gt_ids.index(g_label)
        if gt_index < len(gt_centres) and p_label - 1 < len(objects):
            centre = np.asarray(objects[p_label - 1]["box_center"], float)
            errors.append(float(np.linalg.norm(centre - gt_centres[gt_index])))
    return {"objects_found": len(objects), "objects_true": len(gt_ids),
            "overlap_f": round(osd.overlap_f, 4), "boundary_f": round(osd.boundary_f, 4),
            "objects_f075": osd.obj_detected_075, "box_centre_error_m": errors}


def _save_frame(record: dict[str, Any], out: Path, name: str) -> None:
    import cv2

    from ..ros.conversions import cloud_to_points, image_to_numpy

    cv2.imwrite(str(out / "overlays" / f"{name}.png"),
                image_to_numpy(record["overlay"])[:, :, ::-1])
    points, colors, labels = cloud_to_points(record["objects_cloud"])
    save_ply(out / "clouds" / f"{name}.ply", points, colors, labels)


def run(args: argparse.Namespace) -> int:
    import rclpy
    from tqdm import tqdm

    from ..ros.bringup import node_specs, start_nodes, stop_nodes

    out = Path(args.out)
    for sub in ("overlays", "clouds", "frames"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    env = {} if args.domain_id is None else {"ROS_DOMAIN_ID": str(args.domain_id)}
    if args.domain_id is not None:
        os.environ["ROS_DOMAIN_ID"] = str(args.domain_id)
    specs = node_specs(sim=True, sim_rate=args.rate, sim_seed=args.seed,
                       config_file=args.config, instance_backend=args.instance_backend)
    rclpy.init()
    node = rclpy.create_node("seg_perception_demo_recorder")
    recorder = DemoRecorder(node)
    procs = start_nodes(specs, env)
    saved: list[dict[str, Any]] = []
    start = time.monotonic()
    try:
        with tqdm(total=args.frames, desc="demo frames", unit="frame") as bar:
            done: set[int] = set()
            while len(saved) < args.frames:
                if time.monotonic() - start > args.timeout:
                    print(f"timed out after {args.timeout:.0f} s with {len(saved)} frames")
                    break
                if any(p.poll() is not None for p in procs):
                    print("a node exited early; see its output above")
                    break
                rclpy.spin_once(node, timeout_sec=0.1)
                for stamp in recorder.complete():
                    if stamp in done or len(saved) >= args.frames:
                        continue
                    done.add(stamp)
                    record = recorder.frames.pop(stamp)
                    name = f"frame_{len(saved):03d}"
                    _save_frame(record, out, name)
                    report = {"name": name, "stamp_ns": stamp, **_frame_report(record)}
                    write_json(out / "frames" / f"{name}.json", report)
                    saved.append(report)
                    bar.update(1)
    finally:
        stop_nodes(procs)
        node.destroy_node()
        rclpy.try_shutdown()
    summary = _summarise(saved)
    write_json(out / "summary.json", {"frames": saved, "summary": summary})
    (out / "summary.md").write_text(_markdown(summary))
    print(_markdown(summary))
    return 0 if len(saved) == args.frames else 1


def _summarise(frames: list[dict[str, Any]]) -> dict[str, Any]:
    if not frames:
        return {"frames": 0}
    errors = [e for f in frames for e in f["box_centre_error_m"]]
    return {
        "frames": len(frames),
        "objects_found": int(sum(f["objects_found"] for f in frames)),
        "objects_true": int(sum(f["objects_true"] for f in frames)),
        "objects_f075": int(sum(f["objects_f075"] for f in frames)),
        "mean_overlap_f": round(float(np.mean([f["overlap_f"] for f in frames])), 4),
        "mean_boundary_f": round(float(np.mean([f["boundary_f"] for f in frames])), 4),
        "median_box_centre_error_m": round(float(np.median(errors)), 4) if errors else None,
    }


def _markdown(s: dict[str, Any]) -> str:
    if not s.get("frames"):
        return "no frames recorded\n"
    return "\n".join([
        "| frames | objects found / true | objects with F >= 0.75 | overlap F | boundary F "
        "| median 3D box centre error |",
        "|---|---|---|---|---|---|",
        f"| {s['frames']} | {s['objects_found']} / {s['objects_true']} | {s['objects_f075']} "
        f"| {s['mean_overlap_f']:.3f} | {s['mean_boundary_f']:.3f} | "
        f"{(s['median_box_centre_error_m'] or 0) * 1000:.1f} mm |", ""])
