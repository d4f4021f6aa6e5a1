"""~/objects as CDR bytes written straight from a Scene (what the node publishes).

The bytes must be the message rclpy would have sent: they decode to
``scene_to_objects_msg``'s message and have the length of its serialization, for
every kind of object (coloured cloud, cloud without colours, no 3D, grasps given or
not, clouds left out, no objects, non-ASCII names). Compared by decoding because the
rmw's own padding bytes are not deterministic; the package writes zeros there.
"""
from __future__ import annotations

import dataclasses
import struct

import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import PointCloud2, RegionOfInterest
from std_msgs.msg import Header

from seg_perception.ros.cdr import CdrWriter
from seg_perception.ros.conversions import make_header, points_to_cloud
from seg_perception.ros.outputs import (objects_cdr_matches, scene_to_objects_cdr,
                                        scene_to_objects_msg)


def _same_message(written: bytes, msg) -> None:
    assert deserialize_message(written, type(msg)) == msg
    assert len(written) == len(serialize_message(msg))


@pytest.mark.parametrize("with_clouds", [True, False])
def test_bytes_decode_to_the_message(synthetic_scene, objects_msgs, with_clouds) -> None:
    scene = synthetic_scene
    header = make_header(scene.frame.stamp_ns, scene.frame.frame_id)
    grasps = {0: ((0.1, -0.06, 0.78), (0.0, 1.0, 0.0), (1.0, 0.0, 0.0), 0.045),
              2: ((0.0, 0.0, 0.5), (0.0, 0.0, 1.0), (1.0, 0.0, 0.0), 0.1)}  # 2 has no 3D
    for kwargs in ({}, {"backend": "geometric", "device": "cuda:0", "grasps": grasps}):
        msg = scene_to_objects_msg(scene, header, with_clouds=with_clouds, **kwargs)
        written = scene_to_objects_cdr(scene, header, with_clouds=with_clouds, **kwargs)
        _same_message(written, msg)
    # The three kinds of object of the fixture are all there.
    decoded = deserialize_message(written, objects_msgs.ObjectInstanceArray)
    assert [o.has_3d for o in decoded.objects] == [True, True, False]
    assert [len(o.cloud.fields) for o in decoded.objects] == (
        [4, 3, 4] if with_clouds else [4, 4, 4])
    assert decoded.objects[0].grasp_width == pytest.approx(0.045)
    assert decoded.objects[2].grasp_width == 0.0


def test_bytes_of_edge_cases(synthetic_scene, objects_msgs) -> None:
    scene = synthetic_scene
    # Odd-length strings move every later field's alignment; no plane; no objects.
    scene.objects[0] = dataclasses.replace(scene.objects[0], class_name="tasse à café ☕")
    scene.objects[1] = dataclasses.replace(scene.objects[1], class_name="")
    scene.support_plane = None
    for frame_id in ("", "a", "camera_color_optical_frame"):
        header = make_header(1, frame_id)
        _same_message(scene_to_objects_cdr(scene, header, backend="x"),
                      scene_to_objects_msg(scene, header, backend="x"))
    empty = dataclasses.replace(scene, objects=[])
    _same_message(scene_to_objects_cdr(empty, Header()), scene_to_objects_msg(empty, Header()))


def test_bytes_of_pipeline_scenes(node_scene, objects_msgs) -> None:
    """Scenes the default pipeline made (label-image instances, real clouds, tracks)."""
    from seg_perception.config import PipelineConfig
    from seg_perception.pipeline import Pipeline

    pipeline = Pipeline(PipelineConfig())
    for _ in range(2):  # the second frame's objects are tracked
        scene = pipeline.process(node_scene.frame)
        assert len(scene.objects) == 3 and all(o.has_3d for o in scene.objects)
        header = make_header(scene.frame.stamp_ns, "camera")
        _same_message(scene_to_objects_cdr(scene, header, backend="geometric", device="cpu"),
                      scene_to_objects_msg(scene, header, backend="geometric", device="cpu"))


def test_this_rmw_writes_the_same_bytes(objects_msgs) -> None:
    # Fast DDS (the default rmw on Humble, Jazzy and Kilted) is what runs here: the
    # node must use the fast path on it.
    assert objects_cdr_matches()


def test_writer_aligns_and_pads_with_zeros() -> None:
    out = CdrWriter()
    out.pack("B", 7)
    out.pack("d", 1.5)  # 7 bytes of padding: doubles align to 8 after the 4-byte header
    out.string("abc")  # length 4 (NUL counted), already aligned
    out.pack("?I", True, 9)  # bool at 24, 3 bytes of padding, uint32 at 28
    assert out.getvalue() == (b"\x00\x01\x00\x00" + b"\x07" + bytes(7) + struct.pack("<d", 1.5)
                              + struct.pack("<I", 4) + b"abc\x00" + b"\x01" + bytes(3)
                              + struct.pack("<I", 9))


def test_writer_matches_rclpy_on_standard_messages() -> None:
    roi = RegionOfInterest(x_offset=3, y_offset=4, height=5, width=6, do_rectify=True)
    out = CdrWriter()
    out.pack("IIII?", 3, 4, 5, 6, True)
    # Fast DDS pads a fixed-size type to its (4-aligned) maximum size: the same bytes before.
    assert serialize_message(roi).startswith(out.getvalue())
    assert deserialize_message(out.getvalue(), RegionOfInterest) == roi
    cloud = points_to_cloud(np.arange(12, dtype=np.float32).reshape(4, 3),
                            make_header(5_000_000_123, "odd"), labels=[1, 2, 3, 4])
    out = CdrWriter()
    out.header(5, 123, "odd")
    out.pack("III", cloud.height, cloud.width, len(cloud.fields))
    for f in cloud.fields:
        out.string(f.name)
        out.pack("IBI", f.offset, f.datatype, f.count)
    out.pack("?II", cloud.is_bigendian, cloud.point_step, cloud.row_step)
    out.byte_sequence(cloud.data)
    out.pack("?", cloud.is_dense)
    _same_message(out.getvalue(), cloud)
    assert isinstance(deserialize_message(out.getvalue(), PointCloud2), PointCloud2)


@pytest.mark.parametrize("cdr", [True, False])
def test_node_publishes_the_same_objects_either_way(harness, node_scene, monkeypatch, cdr):
    """Where the rmw's bytes differ, the node says so and sends messages instead."""
    from seg_perception.ros.nodes import perception_node

    monkeypatch.setattr(perception_node, "objects_cdr_matches", lambda: cdr)
    h = harness()
    assert h.node._objects_form is (scene_to_objects_cdr if cdr else scene_to_objects_msg)
    h.wait_for_subscribers()
    assert h.spin_until(lambda: len(h.got["objects"]) >= 2)
    msg = h.got["objects"][-1]
    assert msg.backend == "geometric" and msg.has_support_plane
    assert len(msg.objects) == len(node_scene.objects)
    for obj in msg.objects:
        assert obj.has_3d and obj.cloud.width > 0 and obj.track_id >= 0
        assert obj.mask.width == obj.roi.width and obj.mask.height == obj.roi.height
        assert len(obj.mask.data) == obj.roi.width * obj.roi.height
    told = any("rclpy's serializer" in line.msg for line in h.got["rosout"])
    assert told is not cdr
