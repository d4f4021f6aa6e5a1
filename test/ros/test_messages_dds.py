"""Messages and QoS profiles over real DDS: nodes in one process, one executor."""
from __future__ import annotations

import numpy as np
import pytest
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image

from seg_perception.ros.conversions import (
    image_to_depth_m,
    image_to_numpy,
    make_header,
    numpy_to_image,
    objects_msg_to_dicts,
    stamp_to_ns,
)
from seg_perception.ros.outputs import scene_to_objects_msg
from seg_perception.ros.qos import (
    LATCHED_QOS,
    RELIABLE_OUTPUT_QOS,
    SENSOR_QOS,
    own_profile,
    qos_overriding_options,
)

TIMEOUT = 5.0  # one overall limit per wait; a match on localhost takes well under 1 s


def test_profiles_by_role() -> None:
    assert SENSOR_QOS == qos_profile_sensor_data
    assert (SENSOR_QOS.reliability, SENSOR_QOS.history, SENSOR_QOS.depth) == (
        ReliabilityPolicy.BEST_EFFORT, HistoryPolicy.KEEP_LAST, 5)
    assert (RELIABLE_OUTPUT_QOS.reliability, RELIABLE_OUTPUT_QOS.history,
            RELIABLE_OUTPUT_QOS.depth, RELIABLE_OUTPUT_QOS.durability) == (
        ReliabilityPolicy.RELIABLE, HistoryPolicy.KEEP_LAST, 10, DurabilityPolicy.VOLATILE)
    assert (LATCHED_QOS.reliability, LATCHED_QOS.depth, LATCHED_QOS.durability) == (
        ReliabilityPolicy.RELIABLE, 1, DurabilityPolicy.TRANSIENT_LOCAL)
    with pytest.raises(ValueError, match="unknown QoS policy 'speed'; valid: .*reliability"):
        qos_overriding_options("speed")


def test_images_survive_dds(make_node, spin_until, make_collector, topic_prefix) -> None:
    """A camera-like reliable publisher and a sensor-QoS subscriber, as with real drivers."""
    pub_node, sub_node = make_node("camera"), make_node("listener")
    topic = f"{topic_prefix}/image"
    pub = pub_node.create_publisher(Image, topic, RELIABLE_OUTPUT_QOS)
    got = make_collector()
    sub_node.create_subscription(Image, topic, got, SENSOR_QOS)
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (48, 63, 3), dtype=np.uint8)  # odd width
    depth = np.where(rng.random((48, 63)) < 0.1, np.nan,
                     rng.uniform(0.3, 2.0, (48, 63))).astype(np.float32)
    header = make_header(1_700_000_000_000_000_042, "cam_optical")
    sent = [numpy_to_image(rgb, "rgb8", header), numpy_to_image(depth, "32FC1", header)]
    # A padded, foreign-byte-order 16UC1 image as an exotic driver might send it.
    mm = rng.integers(0, 5000, (48, 63), dtype=np.uint16)
    odd = numpy_to_image(mm.byteswap().view(mm.dtype), "16UC1", header)
    rows = np.frombuffer(odd.data, np.uint8).reshape(48, 126)
    odd.data = np.concatenate([rows, np.zeros((48, 2), np.uint8)], axis=1).tobytes()
    odd.step, odd.is_bigendian = 128, int(not odd.is_bigendian)
    sent.append(odd)

    def publish_all() -> None:
        got.messages.clear()  # keep only a complete batch sent after the match
        for msg in sent:
            pub.publish(msg)

    assert spin_until(lambda: len(got) >= 3, TIMEOUT, on_tick=publish_all,
                      tick_sec=0.25), f"received {len(got)} of 3 images within {TIMEOUT} s"
    by_encoding = {m.encoding: m for m in got.messages[:3]}
    colour = by_encoding["rgb8"]
    assert stamp_to_ns(colour.header.stamp) == 1_700_000_000_000_000_042
    assert colour.header.frame_id == "cam_optical"
    np.testing.assert_array_equal(image_to_numpy(colour), rgb)
    np.testing.assert_array_equal(image_to_numpy(by_encoding["32FC1"]), depth)  # NaN == NaN
    np.testing.assert_array_equal(image_to_depth_m(by_encoding["32FC1"]),
                                  np.nan_to_num(depth, nan=0.0))
    received_odd = by_encoding["16UC1"]
    assert (received_odd.step, bool(received_odd.is_bigendian)) == (128, bool(odd.is_bigendian))
    np.testing.assert_array_equal(image_to_numpy(received_odd), mm)


def test_objects_survive_dds(make_node, spin_until, make_collector, topic_prefix,
                             synthetic_scene, objects_msgs) -> None:
    scene = synthetic_scene
    pub_node, sub_node = make_node("perception"), make_node("planner")
    topic = f"{topic_prefix}/objects"
    pub = pub_node.create_publisher(objects_msgs.ObjectInstanceArray, topic, RELIABLE_OUTPUT_QOS)
    got = make_collector()
    sub_node.create_subscription(objects_msgs.ObjectInstanceArray, topic, got,
                                 RELIABLE_OUTPUT_QOS)
    grasps = {0: ((0.1, -0.06, 0.78), (0.0, 1.0, 0.0), (1.0, 0.0, 0.0), 0.045)}
    msg = scene_to_objects_msg(scene, make_header(scene.frame.stamp_ns, scene.frame.frame_id),
                               backend="geometric", device="cpu", grasps=grasps)
    assert spin_until(lambda: len(got) > 0, TIMEOUT,
                      on_tick=lambda: pub.publish(msg)), f"no ObjectInstanceArray in {TIMEOUT} s"
    received = got.messages[0]
    assert received == msg  # every field, nested messages included
    back = objects_msg_to_dicts(received)
    assert back["stamp_ns"] == scene.frame.stamp_ns and back["frame_id"] == "cam_optical"
    assert (back["backend"], back["device"], back["image_width"]) == ("geometric", "cpu", 64)
    np.testing.assert_allclose(back["support_plane"], scene.support_plane.coefficients)
    assert [d["class_name"] for d in back["objects"]] == ["cup", "object", "box"]
    first = back["objects"][0]
    g = scene.objects[0].geometry
    assert (first["track_id"], first["track_age"]) == (42, 5)
    np.testing.assert_array_equal(first["mask"], scene.objects[0].mask)
    np.testing.assert_array_equal(first["points"], g.points)
    np.testing.assert_array_equal(first["colors"], g.colors)
    np.testing.assert_allclose(first["box_rotation"], g.box_rotation, atol=1e-12)
    np.testing.assert_allclose(first["grasp_point"], grasps[0][0])
    assert first["grasp_width"] == pytest.approx(0.045)


def test_latched_profile_reaches_a_late_subscriber(make_node, spin_until, make_collector,
                                                   topic_prefix) -> None:
    pub_node = make_node("describer")
    topic = f"{topic_prefix}/layout"
    pub = pub_node.create_publisher(Image, topic, LATCHED_QOS)
    latched = numpy_to_image(np.arange(12, dtype=np.uint8).reshape(3, 4), "mono8")
    pub.publish(latched)  # before any subscriber exists
    got = make_collector()
    make_node("late").create_subscription(Image, topic, got, LATCHED_QOS)
    assert spin_until(lambda: len(got) > 0, TIMEOUT), "latched message not delivered"
    np.testing.assert_array_equal(image_to_numpy(got.messages[0]),
                                  np.arange(12, dtype=np.uint8).reshape(3, 4))


def test_qos_overrides_from_parameters(make_node, topic_prefix) -> None:
    topic = f"{topic_prefix}/objects"
    node = make_node("overridden", parameter_overrides=[
        Parameter(f"qos_overrides.{topic}.publisher.reliability", value="best_effort"),
        Parameter(f"qos_overrides.{topic}.publisher.depth", value=3),
    ])
    pub = node.create_publisher(Image, topic, own_profile(RELIABLE_OUTPUT_QOS),
                                qos_overriding_options=qos_overriding_options())
    assert pub.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT
    assert pub.qos_profile.depth == 3
    # rclpy writes overrides into the profile it is given: the shared constant stays as it was.
    assert (RELIABLE_OUTPUT_QOS.depth, RELIABLE_OUTPUT_QOS.reliability) == (
        10, ReliabilityPolicy.RELIABLE)
    assert pub.qos_profile.durability == DurabilityPolicy.VOLATILE  # not overridden
    # The overridable policies are declared (read-only) parameters, visible to users.
    assert node.get_parameter(f"qos_overrides.{topic}.publisher.history").value == "keep_last"
