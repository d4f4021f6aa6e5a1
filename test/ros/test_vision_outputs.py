"""Scene -> vision_msgs: field values agree with the ObjectInstanceArray of the same scene."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from .conftest import optional_module, require_ros2_extra

vm = optional_module("vision_msgs.msg")


@pytest.fixture(autouse=True)
def _vision_msgs_required() -> None:
    require_ros2_extra("vision_msgs.msg")

from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402

from seg_perception.ros.conversions import (  # noqa: E402
    make_header,
    objects_msg_to_dicts,
    stamp_to_ns,
)
from seg_perception.ros.outputs import scene_to_objects_msg  # noqa: E402
from seg_perception.ros.vision_outputs import (  # noqa: E402
    label_info,
    scene_to_detections_2d,
    scene_to_detections_3d,
    vision_msgs_available,
)

STAMP_NS = 1_700_000_000_123_456_789


@pytest.fixture
def header():
    return make_header(STAMP_NS, "cam_optical")


@pytest.fixture
def reference(synthetic_scene, header, objects_msgs):
    """The objects message of the same scene, as plain values."""
    return objects_msg_to_dicts(scene_to_objects_msg(synthetic_scene, header))


def _wire_round_trip(msg):
    """The message as a subscriber gets it: serialised to CDR and back."""
    return deserialize_message(serialize_message(msg), type(msg))


def test_vision_msgs_reported_available():
    assert vision_msgs_available()


def test_detections_2d_match_objects_message(synthetic_scene, header, reference):
    msg = _wire_round_trip(scene_to_detections_2d(synthetic_scene, header))
    assert isinstance(msg, vm.Detection2DArray)
    assert stamp_to_ns(msg.header.stamp) == reference["stamp_ns"] == STAMP_NS
    assert msg.header.frame_id == reference["frame_id"] == "cam_optical"
    assert len(msg.detections) == len(reference["objects"]) == 3
    for det, ref in zip(msg.detections, reference["objects"]):
        assert stamp_to_ns(det.header.stamp) == STAMP_NS
        assert det.header.frame_id == "cam_optical"
        x, y, w, h = ref["roi"]
        assert (det.bbox.center.position.x, det.bbox.center.position.y) == (x + w / 2, y + h / 2)
        assert (det.bbox.size_x, det.bbox.size_y) == (w, h)
        assert det.bbox.center.theta == 0.0
        assert len(det.results) == 1
        hyp = det.results[0].hypothesis
        assert hyp.class_id == ref["class_name"]
        assert hyp.score == pytest.approx(ref["score"], rel=1e-7)
        assert det.id == (str(ref["track_id"]) if ref["track_id"] >= 0 else "")
    # The fixture's first object is tracked (42), the others are not.
    assert [d.id for d in msg.detections] == ["42", "", ""]
    assert [d.results[0].hypothesis.class_id for d in msg.detections] == ["cup", "object", "box"]


def test_detections_2d_boxes_are_the_masks_boxes(synthetic_scene, header):
    msg = scene_to_detections_2d(synthetic_scene, header)
    # Object 0 is mask rows 10..17, columns 20..29: centre (25, 14), size 10 x 8.
    b = msg.detections[0].bbox
    assert (b.center.position.x, b.center.position.y, b.size_x, b.size_y) == (25.0, 14.0, 10.0, 8.0)
    # Object 1 touches the bottom-right corner: columns 50..63, rows 40..47.
    b = msg.detections[1].bbox
    assert (b.center.position.x, b.center.position.y, b.size_x, b.size_y) == (57.0, 44.0, 14.0, 8.0)


def test_class_id_as_index(synthetic_scene, header):
    for make in (scene_to_detections_2d, scene_to_detections_3d):
        msg = make(synthetic_scene, header, class_id_format="index")
        got = [d.results[0].hypothesis.class_id for d in msg.detections]
        want = [str(o.class_id) for o in synthetic_scene.objects if
                make is scene_to_detections_2d or o.geometry is not None]
        assert got == want
    with pytest.raises(ValueError, match="class_id_format must be one of name, index"):
        scene_to_detections_2d(synthetic_scene, header, class_id_format="label")


def test_sub_pixel_box_is_kept_and_clipped_to_the_image(synthetic_scene, header):
    objects = list(synthetic_scene.objects)
    objects[0] = replace(objects[0], box_2d=np.array([20.25, 10.5, 30.75, 18.0], np.float32))
    objects[1] = replace(objects[1], box_2d=np.array([-3.0, 40.0, 70.0, 52.0], np.float32))
    scene = replace(synthetic_scene, objects=objects)
    msg = scene_to_detections_2d(scene, header)
    b0, b1 = msg.detections[0].bbox, msg.detections[1].bbox
    assert (b0.center.position.x, b0.center.position.y) == (25.5, 14.25)
    assert (b0.size_x, b0.size_y) == (10.5, 7.5)
    # Clipped to the 64 x 48 image: x in [0, 64], y in [40, 48].
    assert (b1.center.position.x, b1.center.position.y) == (32.0, 44.0)
    assert (b1.size_x, b1.size_y) == (64.0, 8.0)


def test_detections_3d_match_objects_message(synthetic_scene, header, reference):
    msg = _wire_round_trip(scene_to_detections_3d(synthetic_scene, header))
    assert isinstance(msg, vm.Detection3DArray)
    assert stamp_to_ns(msg.header.stamp) == STAMP_NS
    assert msg.header.frame_id == "cam_optical"
    # Object 2 has no geometry: left out; the others keep their order.
    with_3d = [ref for ref in reference["objects"] if ref["has_3d"]]
    assert len(msg.detections) == len(with_3d) == 2
    for det, ref in zip(msg.detections, with_3d):
        assert stamp_to_ns(det.header.stamp) == STAMP_NS
        assert det.header.frame_id == "cam_optical"
        c = det.bbox.center
        np.testing.assert_array_equal([c.position.x, c.position.y, c.position.z], ref["box_center"])
        np.testing.assert_array_equal(
            [c.orientation.x, c.orientation.y, c.orientation.z, c.orientation.w],
            ref["box_orientation"])
        np.testing.assert_array_equal([det.bbox.size.x, det.bbox.size.y, det.bbox.size.z],
                                      ref["box_size"])
        result = det.results[0]
        assert result.hypothesis.class_id == ref["class_name"]
        assert result.hypothesis.score == pytest.approx(ref["score"], rel=1e-7)
        p = result.pose.pose
        assert (p.position.x, p.position.y, p.position.z) == (c.position.x, c.position.y,
                                                              c.position.z)
        assert (p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w) == (
            c.orientation.x, c.orientation.y, c.orientation.z, c.orientation.w)
        assert det.id == (str(ref["track_id"]) if ref["track_id"] >= 0 else "")
    assert [d.id for d in msg.detections] == ["42", ""]


def test_detections_3d_box_is_the_geometry(synthetic_scene, header):
    det = scene_to_detections_3d(synthetic_scene, header).detections[0]
    # The fixture's box 0: centre (0.1, -0.05, 0.8), 30 deg about z, extent 6 x 4 x 10 cm.
    c = det.bbox.center
    assert (c.position.x, c.position.y, c.position.z) == (0.1, -0.05, 0.8)
    half = np.deg2rad(30.0) / 2
    np.testing.assert_allclose([c.orientation.x, c.orientation.y, c.orientation.z,
                                c.orientation.w], [0.0, 0.0, np.sin(half), np.cos(half)],
                               atol=1e-12)
    assert (det.bbox.size.x, det.bbox.size.y, det.bbox.size.z) == (0.06, 0.04, 0.1)


def test_empty_scene_gives_empty_arrays_with_the_header(synthetic_scene, header):
    scene = replace(synthetic_scene, objects=[])
    for make in (scene_to_detections_2d, scene_to_detections_3d):
        msg = _wire_round_trip(make(scene, header))
        assert msg.detections == []
        assert stamp_to_ns(msg.header.stamp) == STAMP_NS
        assert msg.header.frame_id == "cam_optical"


def test_headers_are_copies(synthetic_scene, header):
    msg = scene_to_detections_2d(synthetic_scene, header)
    header.frame_id = "changed_later"
    assert msg.header.frame_id == "cam_optical"
    assert msg.detections[0].header.frame_id == "cam_optical"


def test_label_info_maps_index_to_name(header):
    names = ("unknown", "support_surface", "floor", "wall", "object")
    info = _wire_round_trip(label_info(names, header, threshold=0.5))
    assert isinstance(info, vm.LabelInfo)
    assert [(c.class_id, c.class_name) for c in info.class_map] == list(enumerate(names))
    assert info.threshold == 0.5
    assert stamp_to_ns(info.header.stamp) == STAMP_NS
    assert info.header.frame_id == "cam_optical"
    empty = label_info([])
    assert empty.class_map == [] and empty.header.frame_id == ""


def test_label_info_refuses_what_it_cannot_carry():
    with pytest.raises(ValueError, match="do not fit LabelInfo's uint16 class ids"):
        label_info(["c"] * 65536)
    with pytest.raises(ValueError, match=r"threshold must be in \[0, 1\], got 1.5"):
        label_info(["a"], threshold=1.5)
    with pytest.raises(ValueError, match="class names must be strings"):
        label_info(["a", 3])


def test_over_dds_the_detections_match_the_objects_message(
        synthetic_scene, header, objects_msgs, make_node, make_collector, spin_until,
        topic_prefix):
    """Published and received over DDS (the real type support), as the node will publish them."""
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    node = make_node("vision_pub")
    reliable = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
    topics = {"objects": objects_msgs.ObjectInstanceArray, "detections": vm.Detection2DArray,
              "detections_3d": vm.Detection3DArray}
    pubs = {name: node.create_publisher(t, f"{topic_prefix}/{name}", reliable)
            for name, t in topics.items()}
    got = {name: make_collector() for name in topics}
    for name, t in topics.items():
        node.create_subscription(t, f"{topic_prefix}/{name}", got[name], reliable)
    # Label info goes out once, before anyone listens: transient-local hands it to late joiners.
    info_pub = node.create_publisher(vm.LabelInfo, f"{topic_prefix}/instance_label_info", latched)
    info_pub.publish(label_info(["object", "cup"], header, threshold=0.5))
    late = make_collector()
    node.create_subscription(vm.LabelInfo, f"{topic_prefix}/instance_label_info", late, latched)

    def publish():
        pubs["objects"].publish(scene_to_objects_msg(synthetic_scene, header))
        pubs["detections"].publish(scene_to_detections_2d(synthetic_scene, header))
        pubs["detections_3d"].publish(scene_to_detections_3d(synthetic_scene, header))

    assert spin_until(lambda: all(len(c) for c in got.values()) and len(late), 10.0,
                      on_tick=publish, tick_sec=0.2)
    objects = objects_msg_to_dicts(got["objects"].messages[0])
    det2d, det3d = got["detections"].messages[0], got["detections_3d"].messages[0]
    for msg in (det2d, det3d):
        assert stamp_to_ns(msg.header.stamp) == objects["stamp_ns"] == STAMP_NS
        assert msg.header.frame_id == objects["frame_id"]
    assert [d.id for d in det2d.detections] == [
        str(o["track_id"]) if o["track_id"] >= 0 else "" for o in objects["objects"]]
    for det, obj in zip(det2d.detections, objects["objects"]):
        x, y, w, h = obj["roi"]
        assert (det.bbox.center.position.x, det.bbox.center.position.y,
                det.bbox.size_x, det.bbox.size_y) == (x + w / 2, y + h / 2, w, h)
        assert det.results[0].hypothesis.class_id == obj["class_name"]
    with_3d = [o for o in objects["objects"] if o["has_3d"]]
    assert len(det3d.detections) == len(with_3d)
    for det, obj in zip(det3d.detections, with_3d):
        p = det.bbox.center.position
        np.testing.assert_array_equal([p.x, p.y, p.z], obj["box_center"])
        np.testing.assert_array_equal([det.bbox.size.x, det.bbox.size.y, det.bbox.size.z],
                                      obj["box_size"])
    info = late.messages[0]
    assert [(c.class_id, c.class_name) for c in info.class_map] == [(0, "object"), (1, "cup")]


def test_object_mask_image_is_the_objects_mask(synthetic_scene, header, reference):
    from seg_perception.errors import InvalidFrameError
    from seg_perception.ros.conversions import image_to_numpy
    from seg_perception.ros.outputs import instance_label_image
    from seg_perception.ros.vision_outputs import object_mask_image

    labels = instance_label_image(synthetic_scene, header)  # the fixture's masks do not overlap
    for i, obj in enumerate(reference["objects"]):
        mask = object_mask_image(labels, i)
        assert mask.encoding == "mono8"
        assert stamp_to_ns(mask.header.stamp) == STAMP_NS and mask.header.frame_id == "cam_optical"
        pixels = image_to_numpy(mask)
        assert set(np.unique(pixels)) <= {0, 255}
        np.testing.assert_array_equal(pixels == 255, obj["mask"])
    assert not image_to_numpy(object_mask_image(labels, 7)).any()  # no such object: empty
    with pytest.raises(InvalidFrameError, match="instance labels must be 16UC1"):
        object_mask_image(_mono8(), 0)
    with pytest.raises(InvalidFrameError, match="object index -1 is outside 0..65534"):
        object_mask_image(labels, -1)


def _mono8():
    from seg_perception.ros.conversions import numpy_to_image

    return numpy_to_image(np.zeros((2, 2), np.uint8), "mono8")
