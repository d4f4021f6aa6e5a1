"""`seg-perception replay`: the pipeline over a rosbag2 or a folder of RGB-D images.

    seg-perception replay my_bag/ --out out/replay           # sqlite3 or mcap bag
    seg-perception replay frames/ --out out/replay --fx 525 --fy 525 --cx 319.5 --cy 239.5

Writes overlays/*.png, clouds/*.ply (objects, with a label per point),
scenes/*.json and summary.json (counts and mean stage timings).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Iterator

import numpy as np

from ..frames import CameraIntrinsics, RGBDFrame
from ..io import iter_image_folder, write_json
from ..pipeline import Pipeline
from ._common import add_pipeline_arguments, pipeline_config_from_args, save_scene_outputs

__all__ = ["iter_bag_frames"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="rosbag2 folder/file (.db3, .mcap) or an RGB-D image folder")
    parser.add_argument("--out", default="out/replay", help="output folder")
    parser.add_argument("--color-topic", default="/camera/camera/color/image_raw")
    parser.add_argument("--depth-topic", default="/camera/camera/aligned_depth_to_color/image_raw")
    parser.add_argument("--info-topic", default="/camera/camera/color/camera_info")
    parser.add_argument("--slop", type=float, default=0.03, help="sync tolerance, seconds")
    for name in ("fx", "fy", "cx", "cy"):
        parser.add_argument(f"--{name}", type=float, help="intrinsics of an image folder")
    parser.add_argument("--depth-scale", type=float, default=0.001,
                        help="metres per unit of 16-bit depth PNGs")
    parser.add_argument("--max-frames", type=int, default=None)
    add_pipeline_arguments(parser)


def _is_bag(path: Path) -> bool:
    return path.suffix in (".db3", ".mcap") or (path / "metadata.yaml").is_file()


def iter_bag_frames(path: Path, color_topic: str, depth_topic: str, info_topic: str,
                    slop_s: float = 0.03) -> Iterator[tuple[str, RGBDFrame]]:
    """Synchronised frames of a rosbag2 (read with the pure-Python ``rosbags``)."""
    from rosbags.highlevel import AnyReader

    from ..ros.frame_input import frame_from_messages
    from ..ros.sync import ApproximateTimeSync

    topics = [color_topic, depth_topic, info_topic]
    ready: list[tuple] = []
    sync = ApproximateTimeSync(3, lambda *msgs: ready.append(msgs), slop_s, queue_size=30)
    with AnyReader([path]) as reader:
        connections = [c for c in reader.connections if c.topic in topics]
        missing = set(topics) - {c.topic for c in connections}
        if missing:
            have = ", ".join(sorted({c.topic for c in reader.connections}))
            raise SystemExit(f"topics {', '.join(sorted(missing))} not in {path}; it has: {have}")
        for conn, _, raw in reader.messages(connections=connections):
            msg = reader.deserialize(raw, conn.msgtype)
            stamp = msg.header.stamp
            sync.add(topics.index(conn.topic), msg, stamp.sec * 1_000_000_000 + stamp.nanosec)
            while ready:
                color, depth, info = ready.pop(0)
                frame = frame_from_messages(color, depth, info, max_pixels=100_000_000)
                yield f"{frame.stamp_ns}", frame


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    source, out = Path(args.source), Path(args.out)
    if _is_bag(source):
        frames: Iterator[tuple[str, RGBDFrame]] = iter_bag_frames(
            source, args.color_topic, args.depth_topic, args.info_topic, args.slop)
    else:
        intrinsics = None
        if args.fx is not None:
            import cv2
            sample = next(iter(sorted(source.rglob("*.png"))))
            h, w = cv2.imread(str(sample), cv2.IMREAD_UNCHANGED).shape[:2]
            intrinsics = CameraIntrinsics(w, h, args.fx, args.fy or args.fx,
                                          args.cx if args.cx is not None else (w - 1) / 2,
                                          args.cy if args.cy is not None else (h - 1) / 2)
        frames = ((f.name, f.frame) for f in iter_image_folder(source, intrinsics, args.depth_scale))
    pipeline = Pipeline(pipeline_config_from_args(args))
    counts, timings = [], {}
    for i, (name, frame) in enumerate(tqdm(frames, desc="replay", unit="frame")):
        if args.max_frames is not None and i >= args.max_frames:
            break
        scene = pipeline.process(frame)
        save_scene_outputs(scene, out, name)
        counts.append(len(scene.objects))
        for stage, ms in scene.timings_ms.items():
            timings.setdefault(stage, []).append(ms)
    summary = {"source": str(source), "frames": len(counts),
               "objects_per_frame": float(np.mean(counts)) if counts else 0.0,
               "mean_ms": {k: round(float(np.mean(v)), 2) for k, v in timings.items()}}
    write_json(out / "summary.json", summary)
    print(f"{len(counts)} frames, {summary['objects_per_frame']:.1f} objects/frame, "
          f"mean total {summary['mean_ms'].get('total', 0):.1f} ms -> {out}")
    return 0
