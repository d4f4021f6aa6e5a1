"""`seg-perception replay` over rosbag2 recordings shaped like a RealSense driver's.

The bags are written here with ``rosbags`` (sqlite3 and mcap, as ``ros2 bag record``
writes them): colour rgb8, depth aligned to colour 16UC1, camera_info, the same
stamps on the three, arriving interleaved, plus a driver topic of a type replay
does not use. Frames come from the project's ray-cast simulation. No DDS is needed.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore, get_types_from_msg

from seg_perception.cli import main
from seg_perception.config import PipelineConfig
from seg_perception.pipeline import Pipeline
from seg_perception.sim.synthetic import preset_objects, render_scene

W, H = 160, 120
FRAMES = 4
NS = "/camera/camera"
COLOR = f"{NS}/color/image_raw"
DEPTH = f"{NS}/aligned_depth_to_color/image_raw"
INFO = f"{NS}/color/camera_info"
META = f"{NS}/color/metadata"
OPTICAL = "camera_color_optical_frame"
T0_NS = 1_733_000_000 * 1_000_000_000 + 123_000_000  # the driver stamps with wall time
CHEAP = ["--semantic-backend", "none", "--device", "cpu"]
PRESETS = ("separated", "touching", "separated", "stacked")
# realsense2_camera_msgs/msg/Metadata: recorded beside the images, not in any typestore.
METADATA_DEF = "std_msgs/Header header\nstring json_data\n"


def typestore() -> Any:
    store = get_typestore(Stores.ROS2_JAZZY)
    store.register(get_types_from_msg(METADATA_DEF, "realsense2_camera_msgs/msg/Metadata"))
    return store


def sim_frames() -> list[Any]:
    return [render_scene(preset_objects(PRESETS[k]), W, H).frame for k in range(FRAMES)]


def _header(store: Any, stamp_ns: int) -> Any:
    Header, Time = store.types["std_msgs/msg/Header"], store.types["builtin_interfaces/msg/Time"]
    return Header(stamp=Time(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9), frame_id=OPTICAL)


def raw_messages(store: Any, frame: Any, stamp_ns: int) -> dict[str, Any]:
    """Colour, aligned depth and camera_info of one frame, as the RealSense driver sends them."""
    Image = store.types["sensor_msgs/msg/Image"]
    CameraInfo = store.types["sensor_msgs/msg/CameraInfo"]
    Roi = store.types["sensor_msgs/msg/RegionOfInterest"]
    K = frame.intrinsics
    depth_mm = np.round(np.nan_to_num(frame.depth) * 1000).astype("<u2")
    k = np.array([K.fx, 0, K.cx, 0, K.fy, K.cy, 0, 0, 1], np.float64)
    return {
        COLOR: Image(header=_header(store, stamp_ns), height=H, width=W, encoding="rgb8",
                     is_bigendian=0, step=W * 3, data=frame.rgb.reshape(-1).copy()),
        DEPTH: Image(header=_header(store, stamp_ns), height=H, width=W, encoding="16UC1",
                     is_bigendian=0, step=W * 2, data=depth_mm.reshape(-1).view(np.uint8)),
        INFO: CameraInfo(
            header=_header(store, stamp_ns), height=H, width=W, distortion_model="plumb_bob",
            d=np.zeros(5), k=k, r=np.eye(3).reshape(-1),
            p=np.array([K.fx, 0, K.cx, 0, 0, K.fy, K.cy, 0, 0, 0, 1, 0], np.float64),
            binning_x=0, binning_y=0,
            roi=Roi(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)),
    }


def compressed_messages(store: Any, frame: Any, stamp_ns: int) -> dict[str, Any]:
    """The same frame on ``<colour>/compressed`` and ``<depth>/compressedDepth``."""
    from seg_perception.ros.compressed import compress_depth, compress_image
    from seg_perception.ros.conversions import make_header, numpy_to_image

    header = make_header(stamp_ns, OPTICAL)
    depth_mm = np.round(np.nan_to_num(frame.depth) * 1000).astype(np.uint16)
    encoded = {f"{COLOR}/compressed": compress_image(numpy_to_image(frame.rgb, "rgb8", header),
                                                     "png"),
               f"{DEPTH}/compressedDepth": compress_depth(numpy_to_image(depth_mm, "16UC1",
                                                                         header))}
    Compressed = store.types["sensor_msgs/msg/CompressedImage"]
    out = {topic: Compressed(header=_header(store, stamp_ns), format=msg.format,
                             data=np.frombuffer(bytes(msg.data), np.uint8))
           for topic, msg in encoded.items()}
    out[INFO] = raw_messages(store, frame, stamp_ns)[INFO]
    return out


def write_bag(path: Path, storage: StoragePlugin, compressed: bool = False,
              broken: bool = False) -> list[int]:
    """A 4-frame recording at 30 Hz; returns the stamps (ns).

    ``broken``: frame 2's depth is truncated and a camera_info stamped sec = -1 is added.
    """
    store = typestore()
    Metadata = store.types["realsense2_camera_msgs/msg/Metadata"]
    stamps = [T0_NS + k * 33_333_333 for k in range(FRAMES)]
    with Writer(path, version=9, storage_plugin=storage) as writer:
        per_frame = [(compressed_messages if compressed else raw_messages)(store, frame, t)
                     for frame, t in zip(sim_frames(), stamps)]
        types = {topic: msg.__msgtype__ for topic, msg in per_frame[0].items()}
        types[META] = Metadata.__msgtype__
        conns = {topic: writer.add_connection(topic, msgtype, typestore=store)
                 for topic, msgtype in types.items()}
        # Recorded (log) times: info and colour ~5 ms after the stamp, depth ~25 ms after
        # (alignment takes time), so a frame's depth is logged among the next frame's data.
        records = []
        for msgs, t in zip(per_frame, stamps):
            msgs = {**msgs, META: Metadata(header=_header(store, t), json_data="{}")}
            if broken and t == stamps[2]:
                depth = msgs[DEPTH]
                depth.data = depth.data[: depth.data.size // 2]
                bad_info = raw_messages(store, frame=sim_frames()[0], stamp_ns=t)[INFO]
                bad_info.header.stamp.sec = -1
                records.append((t, INFO, bad_info))
            for topic, msg in msgs.items():
                delay = 25_000_000 if topic.startswith(f"{NS}/aligned") else 5_000_000
                records.append((t + delay, topic, msg))
        for log_ns, topic, msg in sorted(records, key=lambda r: r[0]):
            writer.write(conns[topic], log_ns,
                         store.serialize_cdr(msg, msg.__msgtype__))
    return stamps


def replay(bag: Path, out: Path, *extra: str) -> dict[str, Any]:
    assert main(["replay", str(bag), "--out", str(out), *CHEAP, *extra]) == 0
    return json.loads((out / "summary.json").read_text())


def assert_every_frame_processed(summary: dict[str, Any], out: Path, stamps: list[int]) -> None:
    assert summary["frames"] == FRAMES
    assert summary["skipped"] == {}
    assert sorted(p.stem for p in (out / "scenes").iterdir()) == sorted(str(t) for t in stamps)
    found = [len(json.loads((out / "scenes" / f"{t}.json").read_text())["objects"])
             for t in stamps]
    assert all(f >= 1 for f in found), found
    # The bag round trip loses nothing: the same objects as the simulated frames themselves.
    assert found == expected_counts()


_EXPECTED: list[int] = []


def expected_counts() -> list[int]:
    """Objects the pipeline finds on the simulated frames directly (computed once)."""
    if not _EXPECTED:
        pipeline = Pipeline(PipelineConfig.from_mapping({"semantic_backend": "none",
                                                         "device": "cpu"}, strict=False))
        _EXPECTED.extend(len(pipeline.process(f).objects) for f in sim_frames())
    return _EXPECTED


@pytest.mark.parametrize("storage", [StoragePlugin.SQLITE3, StoragePlugin.MCAP],
                         ids=["sqlite3", "mcap"])
def test_replay_processes_every_frame_of_a_realsense_bag(tmp_path, storage):
    bag = tmp_path / "realsense_bag"
    stamps = write_bag(bag, storage)
    suffix = ".db3" if storage == StoragePlugin.SQLITE3 else ".mcap"
    assert len(list(bag.glob(f"*{suffix}"))) == 1
    out = tmp_path / "out"
    summary = replay(bag, out)
    assert_every_frame_processed(summary, out, stamps)


@pytest.mark.parametrize("storage", [StoragePlugin.SQLITE3, StoragePlugin.MCAP],
                         ids=["sqlite3", "mcap"])
def test_replay_of_the_storage_file_itself(tmp_path, storage):
    """Users often pass the .mcap / .db3 file rather than the bag folder."""
    bag = tmp_path / "bag"
    stamps = write_bag(bag, storage)
    out = tmp_path / "out"
    summary = replay(next(p for p in bag.iterdir() if p.suffix in (".db3", ".mcap")), out)
    assert_every_frame_processed(summary, out, stamps)


@pytest.mark.parametrize("storage", [StoragePlugin.SQLITE3, StoragePlugin.MCAP],
                         ids=["sqlite3", "mcap"])
def test_replay_reads_compressed_topics(tmp_path, storage):
    bag = tmp_path / "compressed_bag"
    stamps = write_bag(bag, storage, compressed=True)
    out = tmp_path / "out"
    summary = replay(bag, out)
    assert_every_frame_processed(summary, out, stamps)
    assert summary["topics"]["color"] == f"{COLOR}/compressed"
    assert summary["topics"]["depth"] == f"{DEPTH}/compressedDepth"


def test_replay_skips_what_it_cannot_use_and_goes_on(tmp_path, capfd):
    bag = tmp_path / "bag"
    stamps = write_bag(bag, StoragePlugin.MCAP, broken=True)
    out = tmp_path / "out"
    summary = replay(bag, out)
    assert summary["frames"] == FRAMES - 1
    assert summary["skipped"] == {"bad_stamp": 1, "InvalidFrameError": 1}
    assert sorted(p.stem for p in (out / "scenes").iterdir()) == sorted(
        str(t) for k, t in enumerate(stamps) if k != 2)
    err = capfd.readouterr().err
    assert "skipping (bad_stamp)" in err and "sec = -1 is negative" in err


def test_replay_names_missing_topics_and_what_the_bag_has(tmp_path):
    bag = tmp_path / "bag"
    write_bag(bag, StoragePlugin.SQLITE3)
    with pytest.raises(SystemExit, match=r"/other/image.*not in .*it has: .*aligned_depth"):
        main(["replay", str(bag), "--out", str(tmp_path / "o"), "--color-topic",
              "/other/image", *CHEAP])


def test_replay_cli_as_the_user_runs_it(tmp_path):
    """The installed console script, in a process of its own, on an mcap recording."""
    bag = tmp_path / "bag"
    stamps = write_bag(bag, StoragePlugin.MCAP)
    out = tmp_path / "out"
    script = Path(sys.executable).parent / "seg-perception"  # what `pip install` put there
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "seg_perception.cli"]
    run = subprocess.run([*command, "replay", str(bag), "--out", str(out), *CHEAP],
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"{FRAMES} frames" in run.stdout
    assert_every_frame_processed(json.loads((out / "summary.json").read_text()), out, stamps)


def test_replay_of_something_that_is_no_bag_says_what_to_pass(tmp_path):
    fake = tmp_path / "recording.mcap"
    fake.write_bytes(b"not an mcap file")
    with pytest.raises(SystemExit, match=r"cannot read .*recording.mcap as a rosbag2 recording"):
        main(["replay", str(fake), "--out", str(tmp_path / "o"), *CHEAP])
