"""`seg-perception replay`: the pipeline over a rosbag2 or a folder of RGB-D images.

    seg-perception replay my_bag/ --out out/replay           # sqlite3 or mcap bag
    seg-perception replay frames/ --out out/replay --fx 525 --fy 525 --cx 319.5 --cy 239.5

Writes overlays/*.png, clouds/*.ply (objects, with a label per point),
scenes/*.json and summary.json (counts and mean stage timings).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

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


_COMPRESSED = "sensor_msgs/msg/CompressedImage"
# image_transport's topic suffixes: what a camera publishes beside <image> (colour, depth).
_TRANSPORT_SUFFIX = ("/compressed", "/compressedDepth")


def _pick_topics(available: dict[str, str], color: str, depth: str, info: str,
                 path: Path) -> list[str]:
    """The colour, depth and info topics to read: the raw ones, else their compressed topic."""
    picked = []
    for topic, suffix in zip((color, depth, info), (*_TRANSPORT_SUFFIX, None)):
        if topic not in available and suffix and topic + suffix in available:
            topic += suffix
        picked.append(topic)
    missing = [t for t in picked if t not in available]
    if missing:
        have = ", ".join(f"{t} ({available[t]})" for t in sorted(available))
        raise SystemExit(f"topics {', '.join(missing)} not in {path}; it has: {have}. "
                         "Name the right ones with --color-topic, --depth-topic, --info-topic")
    return picked


def _decoder(msgtype: str, topic: str) -> Callable[[Any], Any]:
    """Message -> what frame_from_messages takes (compressed images are decoded first)."""
    if msgtype != _COMPRESSED:
        return lambda msg: msg
    try:
        from ..ros.compressed import image_from_compressed
    except ImportError as exc:
        raise SystemExit(f"{topic} holds compressed images, which need the ROS 2 Python "
                         f"messages to decode ({exc}): source your ROS 2 setup or "
                         "scripts/env.sh, or record the raw topic") from None
    return image_from_compressed


def iter_bag_frames(path: Path, color_topic: str, depth_topic: str, info_topic: str,
                    slop_s: float = 0.03, skipped: dict[str, int] | None = None,
                    topics_used: list[str] | None = None) -> Iterator[tuple[str, RGBDFrame]]:
    """Synchronised frames of a rosbag2 (sqlite3 or mcap, read with the pure-Python ``rosbags``).

    A colour or depth topic absent from the bag is read from its image_transport
    topic instead (``<colour>/compressed``, ``<depth>/compressedDepth``). Messages
    and sets that cannot be used are counted in ``skipped`` (category -> count)
    with one line on stderr per category, and replay goes on. ``topics_used``
    receives the three topics read.
    """
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    from ..errors import SegPerceptionError
    from ..ros.frame_input import frame_from_messages
    from ..ros.sync import ApproximateTimeSync, BadMessage, stamp_ns_of

    skipped = {} if skipped is None else skipped

    def skip(category: str, message: str) -> None:
        if category not in skipped:
            print(f"replay: skipping ({category}): {message}", file=sys.stderr)
        skipped[category] = skipped.get(category, 0) + 1

    ready: list[tuple] = []
    sync = ApproximateTimeSync(3, lambda *msgs: ready.append(msgs), slop_s, queue_size=30)
    # Bags without embedded message definitions (older sqlite3 ones) need a typestore.
    try:
        reader = AnyReader([path], default_typestore=get_typestore(Stores.LATEST))
        reader.open()
    except Exception as exc:  # noqa: BLE001 - rosbags raises several kinds; all mean the same
        raise SystemExit(f"cannot read {path} as a rosbag2 recording ({type(exc).__name__}: "
                         f"{exc}); pass the bag folder (with metadata.yaml) or its .db3 / "
                         ".mcap file; `ros2 bag reindex <folder>` rebuilds a lost "
                         "metadata.yaml") from None
    try:
        available = {c.topic: c.msgtype for c in reader.connections}
        topics = _pick_topics(available, color_topic, depth_topic, info_topic, path)
        if topics_used is not None:
            topics_used[:] = topics
        decoders = [_decoder(available[t], t) for t in topics]
        connections = [c for c in reader.connections if c.topic in topics]
        for conn, _, raw in reader.messages(connections=connections):
            index = topics.index(conn.topic)
            try:
                msg = decoders[index](reader.deserialize(raw, conn.msgtype))
                stamp_ns = stamp_ns_of(msg)
            except BadMessage as exc:
                skip(exc.category, f"a message on {conn.topic}: {exc}")
                continue
            except Exception as exc:  # noqa: BLE001 - one corrupt message must not end replay
                skip(type(exc).__name__, f"a message on {conn.topic}: {exc}")
                continue
            sync.add(index, msg, stamp_ns)
            while ready:
                color, depth, info = ready.pop(0)
                try:
                    frame = frame_from_messages(color, depth, info, max_pixels=100_000_000)
                except SegPerceptionError as exc:
                    skip(type(exc).__name__, str(exc))
                    continue
                except Exception as exc:  # noqa: BLE001 - malformed content, as the node does
                    skip("malformed_message", f"malformed image message: {exc}")
                    continue
                yield f"{frame.stamp_ns}", frame
    finally:
        reader.close()


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    source, out = Path(args.source), Path(args.out)
    skipped: dict[str, int] = {}
    topics: list[str] = []
    if _is_bag(source):
        frames: Iterator[tuple[str, RGBDFrame]] = iter_bag_frames(
            source, args.color_topic, args.depth_topic, args.info_topic, args.slop,
            skipped=skipped, topics_used=topics)
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
               "mean_ms": {k: round(float(np.mean(v)), 2) for k, v in timings.items()},
               "skipped": skipped}
    if topics:
        summary["topics"] = dict(zip(("color", "depth", "info"), topics))
    write_json(out / "summary.json", summary)
    note = f", skipped: {skipped}" if skipped else ""
    print(f"{len(counts)} frames, {summary['objects_per_frame']:.1f} objects/frame, "
          f"mean total {summary['mean_ms'].get('total', 0):.1f} ms{note} -> {out}")
    if topics and not counts:
        print(f"replay: no synchronised colour/depth/camera_info set in {source}: are the "
              f"three stamped within --slop {args.slop} s of each other?", file=sys.stderr)
    return 0
