"""Round trips and failure paths of seg_perception.ros.conversions (no DDS needed)."""
from __future__ import annotations

import array
import dataclasses
import sys

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from std_msgs.msg import Header

from seg_perception.errors import InvalidFrameError, UnsupportedEncodingError
from seg_perception.frames import CameraIntrinsics
from seg_perception.geometry.transforms import rotation_matrix_to_quaternion
from seg_perception.ros import conversions as conv
from seg_perception.ros.conversions import (
    SUPPORTED_ENCODINGS,
    camera_info_to_intrinsics,
    cloud_to_points,
    image_to_depth_m,
    image_to_numpy,
    image_to_rgb,
    intrinsics_to_camera_info,
    make_header,
    ns_to_stamp,
    numpy_to_image,
    objects_msg_to_dicts,
    points_to_cloud,
    stamp_to_ns,
)
from seg_perception.ros.outputs import scene_to_objects_msg

HOST_BIG = sys.byteorder == "big"
LAYOUT = {"rgb8": (np.uint8, 3), "bgr8": (np.uint8, 3), "rgba8": (np.uint8, 4),
          "bgra8": (np.uint8, 4), "mono8": (np.uint8, 1), "mono16": (np.uint16, 1),
          "16UC1": (np.uint16, 1), "32FC1": (np.float32, 1)}


def random_pixels(encoding: str, height: int, width: int, seed: int = 0) -> np.ndarray:
    dtype, channels = LAYOUT[encoding]
    rng = np.random.default_rng(seed)
    shape = (height, width) if channels == 1 else (height, width, channels)
    if dtype is np.float32:
        return rng.normal(1.0, 0.5, shape).astype(np.float32)
    return rng.integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)


def hand_made_image(pixels: np.ndarray, encoding: str, *, pad: int = 0,
                    big_endian: bool = HOST_BIG) -> Image:
    """An Image built without the code under test: rows padded with junk, chosen byte order."""
    height, width = pixels.shape[:2]
    per_row = width * (pixels.shape[2] if pixels.ndim == 3 else 1)
    ordered = pixels.astype(pixels.dtype.newbyteorder(">" if big_endian else "<"))
    rows = ordered.reshape(height, per_row).view(np.uint8)
    rows = np.concatenate([rows, np.full((height, pad), 0xAB, np.uint8)], axis=1)
    msg = Image(height=height, width=width, encoding=encoding, is_bigendian=int(big_endian),
                step=rows.shape[1])
    msg.data = array.array("B", rows.tobytes())
    return msg


def shares_data(arr: np.ndarray, msg: Image) -> bool:
    return np.shares_memory(arr, np.frombuffer(msg.data, np.uint8))


# --------------------------------------------------------------------------- images

@pytest.mark.parametrize("encoding", SUPPORTED_ENCODINGS)
@pytest.mark.parametrize("size", [(5, 7), (1, 1), (3, 13), (120, 160)])
def test_image_round_trip(encoding: str, size: tuple[int, int]) -> None:
    pixels = random_pixels(encoding, *size)
    header = make_header(123_000_000_456, "cam")
    msg = numpy_to_image(pixels, encoding, header)
    dtype, channels = LAYOUT[encoding]
    assert (msg.height, msg.width, msg.encoding) == (size[0], size[1], encoding)
    assert msg.step == size[1] * channels * np.dtype(dtype).itemsize
    assert len(msg.data) == msg.step * msg.height
    assert msg.is_bigendian == int(HOST_BIG)
    assert stamp_to_ns(msg.header.stamp) == 123_000_000_456 and msg.header.frame_id == "cam"
    out = image_to_numpy(msg)
    assert out.dtype == dtype and out.shape == pixels.shape
    np.testing.assert_array_equal(out, pixels)


@pytest.mark.parametrize("encoding", SUPPORTED_ENCODINGS)
@pytest.mark.parametrize("pad", [0, 1, 3, 8])
@pytest.mark.parametrize("big_endian", [False, True])
def test_image_padded_and_byte_order(encoding: str, pad: int, big_endian: bool) -> None:
    pixels = random_pixels(encoding, 6, 9, seed=pad)
    msg = hand_made_image(pixels, encoding, pad=pad, big_endian=big_endian)
    out = image_to_numpy(msg)
    assert out.dtype.isnative and out.flags.c_contiguous
    np.testing.assert_array_equal(out, pixels)


def test_zero_copy_when_unpadded_and_native() -> None:
    pixels = random_pixels("16UC1", 4, 5)
    msg = hand_made_image(pixels, "16UC1")
    view = image_to_numpy(msg)
    assert shares_data(view, msg)
    view[0, 0] = 7  # a view: writes reach the message
    assert image_to_numpy(msg)[0, 0] == 7
    owned = image_to_numpy(msg, copy=True)
    assert not shares_data(owned, msg) and owned.flags.owndata
    np.testing.assert_array_equal(owned, image_to_numpy(msg))


@pytest.mark.parametrize("encoding", ["rgb8", "mono8"])
def test_8bit_ignores_is_bigendian_and_stays_zero_copy(encoding: str) -> None:
    pixels = random_pixels(encoding, 4, 5)
    msg = hand_made_image(pixels, encoding, big_endian=not HOST_BIG)
    out = image_to_numpy(msg)
    assert shares_data(out, msg)
    np.testing.assert_array_equal(out, pixels)


@pytest.mark.parametrize("encoding, pad, big_endian", [
    ("rgb8", 3, HOST_BIG),          # padded rows
    ("32FC1", 4, HOST_BIG),         # padded rows
    ("16UC1", 0, not HOST_BIG),     # foreign byte order
    ("32FC1", 0, not HOST_BIG),     # foreign byte order
])
def test_copies_when_padded_or_foreign_byte_order(encoding: str, pad: int,
                                                   big_endian: bool) -> None:
    pixels = random_pixels(encoding, 4, 5)
    msg = hand_made_image(pixels, encoding, pad=pad, big_endian=big_endian)
    out = image_to_numpy(msg)
    assert not shares_data(out, msg)
    assert out.flags.c_contiguous and out.dtype.isnative
    np.testing.assert_array_equal(out, pixels)


def test_odd_step_for_16bit_image() -> None:
    # A step that is not a multiple of 2 makes rows start misaligned for uint16.
    pixels = random_pixels("mono16", 3, 5)
    out = image_to_numpy(hand_made_image(pixels, "mono16", pad=1))
    np.testing.assert_array_equal(out, pixels)


@pytest.mark.parametrize("encoding", SUPPORTED_ENCODINGS)
@pytest.mark.parametrize("size", [(0, 0), (0, 4), (3, 0)])
def test_empty_image_round_trip(encoding: str, size: tuple[int, int]) -> None:
    pixels = random_pixels(encoding, *size)
    msg = numpy_to_image(pixels, encoding)
    assert len(msg.data) == 0
    out = image_to_numpy(msg)
    assert out.shape == pixels.shape and out.dtype == pixels.dtype


def test_numpy_to_image_accepts_strided_and_foreign_order_arrays() -> None:
    big = np.arange(60, dtype=">u2").reshape(6, 10)
    msg = numpy_to_image(big[::2, 1::3], "16UC1")  # non-contiguous, big-endian
    np.testing.assert_array_equal(image_to_numpy(msg), big[::2, 1::3].astype(np.uint16))
    single = np.zeros((2, 3, 1), np.float32)
    assert image_to_numpy(numpy_to_image(single, "32FC1")).shape == (2, 3)


def test_unsupported_encoding_names_it_and_lists_supported() -> None:
    msg = Image(height=1, width=1, encoding="yuv422", step=2, data=[0, 0])
    with pytest.raises(UnsupportedEncodingError) as info:
        image_to_numpy(msg)
    text = str(info.value)
    assert "'yuv422'" in text
    for encoding in SUPPORTED_ENCODINGS:
        assert encoding in text
    with pytest.raises(UnsupportedEncodingError, match="'8UC3'.*rgb8"):
        numpy_to_image(np.zeros((2, 2, 3), np.uint8), "8UC3")


def test_inconsistent_step_and_data_length_are_named() -> None:
    short = hand_made_image(random_pixels("rgb8", 4, 5), "rgb8")
    short.data = short.data[:-1]
    with pytest.raises(InvalidFrameError, match=r"59 bytes but step \* height = 15 \* 4 = 60"):
        image_to_numpy(short)
    narrow = hand_made_image(random_pixels("16UC1", 4, 5), "16UC1")
    narrow.step = 9
    with pytest.raises(InvalidFrameError, match=r"step 9 is smaller than .* 5 \* 2 = 10"):
        image_to_numpy(narrow)
    too_long = hand_made_image(random_pixels("mono8", 2, 2), "mono8")
    too_long.data.extend([0, 0])
    with pytest.raises(InvalidFrameError, match="6 bytes but step"):
        image_to_numpy(too_long)


@pytest.mark.parametrize("array, encoding", [
    (np.zeros((2, 3), np.float64), "32FC1"),
    (np.zeros((2, 3, 3), np.uint8), "rgba8"),
    (np.zeros((2, 3), np.uint8), "rgb8"),
    (np.zeros((2, 3), bool), "mono8"),
    (np.zeros((2, 3, 2), np.uint16), "16UC1"),
])
def test_numpy_to_image_rejects_mismatched_arrays(array: np.ndarray, encoding: str) -> None:
    with pytest.raises(InvalidFrameError, match=f"encoding {encoding} needs"):
        numpy_to_image(array, encoding)


@pytest.mark.parametrize("with_cv2", [True, False])
def test_image_to_rgb_from_every_colour_encoding(with_cv2: bool, monkeypatch) -> None:
    if not with_cv2:  # the numpy fallback must give the same pixels as OpenCV
        monkeypatch.setattr(conv, "cv2", None)
    rgb = random_pixels("rgb8", 5, 7)
    alpha = np.full((5, 7, 1), 200, np.uint8)
    inputs = {
        "rgb8": rgb, "bgr8": rgb[:, :, ::-1],
        "rgba8": np.concatenate([rgb, alpha], axis=2),
        "bgra8": np.concatenate([rgb[:, :, ::-1], alpha], axis=2),
    }
    for encoding, pixels in inputs.items():
        out = image_to_rgb(hand_made_image(np.ascontiguousarray(pixels), encoding, pad=2))
        assert out.dtype == np.uint8 and out.shape == (5, 7, 3) and out.flags.c_contiguous
        np.testing.assert_array_equal(out, rgb, err_msg=encoding)
    grey = random_pixels("mono8", 5, 7)
    np.testing.assert_array_equal(image_to_rgb(numpy_to_image(grey, "mono8")),
                                  np.repeat(grey[:, :, None], 3, axis=2))
    unpadded = numpy_to_image(rgb, "rgb8")
    assert shares_data(image_to_rgb(unpadded), unpadded)
    for encoding in ("bgr8", "bgra8", "mono8"):
        empty = image_to_rgb(numpy_to_image(random_pixels(encoding, 0, 3), encoding))
        assert empty.shape == (0, 3, 3) and empty.dtype == np.uint8


def test_image_to_rgb_rejects_depth_and_unknown_encodings() -> None:
    with pytest.raises(UnsupportedEncodingError, match="'16UC1' is a depth encoding"):
        image_to_rgb(numpy_to_image(np.zeros((2, 2), np.uint16), "16UC1"))
    if conv._cv_bridge() is None:
        with pytest.raises(UnsupportedEncodingError, match="'bayer_rggb8'.*rgb8, bgr8"):
            image_to_rgb(Image(height=2, width=2, encoding="bayer_rggb8", step=2, data=[0] * 4))


def test_depth_in_millimetres_and_metres() -> None:
    mm = np.array([[0, 1, 1234], [65535, 500, 2]], np.uint16)
    for encoding in ("16UC1", "mono16"):
        for big_endian in (False, True):
            depth = image_to_depth_m(hand_made_image(mm, encoding, pad=2, big_endian=big_endian))
            assert depth.dtype == np.float32
            np.testing.assert_allclose(depth, mm.astype(np.float32) / 1000, rtol=1e-6)
    metres = np.array([[np.nan, 1.5, np.inf], [-np.inf, -0.2, 0.75]], np.float32)
    for big_endian in (False, True):
        depth = image_to_depth_m(hand_made_image(metres, "32FC1", big_endian=big_endian))
        np.testing.assert_array_equal(depth, [[0.0, 1.5, 0.0], [0.0, 0.0, 0.75]])
    msg = numpy_to_image(metres, "32FC1")
    image_to_depth_m(msg)
    assert np.isnan(image_to_numpy(msg)[0, 0]), "depth conversion must not modify the message"
    with pytest.raises(UnsupportedEncodingError, match="'rgb8' is not a depth encoding.*16UC1"):
        image_to_depth_m(numpy_to_image(np.zeros((1, 1, 3), np.uint8), "rgb8"))


def test_same_results_as_cv_bridge() -> None:
    # cv_bridge (ROS 2's) is not pip-installable; where it is installed both paths must agree.
    cv_bridge = pytest.importorskip("cv_bridge")
    bridge = cv_bridge.CvBridge()
    for encoding in SUPPORTED_ENCODINGS:
        pixels = random_pixels(encoding, 5, 7)
        ours = numpy_to_image(pixels, encoding)
        theirs = bridge.cv2_to_imgmsg(pixels, encoding)
        assert bytes(ours.data) == bytes(theirs.data) and ours.step == theirs.step
        padded = hand_made_image(pixels, encoding, pad=4)
        np.testing.assert_array_equal(image_to_numpy(padded),
                                      bridge.imgmsg_to_cv2(padded, "passthrough"))


# --------------------------------------------------------------------------- stamps

@pytest.mark.parametrize("ns", [0, 1, 999_999_999, 1_000_000_000,
                                1_700_000_000_123_456_789, -1, -1_500_000_000])
def test_stamp_round_trip(ns: int) -> None:
    stamp = ns_to_stamp(ns)
    assert 0 <= stamp.nanosec < 1_000_000_000
    assert stamp_to_ns(stamp) == ns


def test_stamp_out_of_range() -> None:
    with pytest.raises(ValueError, match="int32"):
        ns_to_stamp(2**31 * 1_000_000_000)


# --------------------------------------------------------------------------- camera info

def test_camera_info_round_trip() -> None:
    K = CameraIntrinsics(width=640, height=480, fx=525.0, fy=524.5, cx=319.5, cy=239.5,
                         distortion=(0.1, -0.2, 0.001, 0.002, 0.05))
    header = Header(frame_id="camera_color_optical_frame")
    msg = intrinsics_to_camera_info(K, header)
    assert (msg.width, msg.height, msg.distortion_model) == (640, 480, "plumb_bob")
    np.testing.assert_array_equal(np.asarray(msg.k).reshape(3, 3), K.matrix)
    np.testing.assert_array_equal(np.asarray(msg.p).reshape(3, 4)[:, :3], K.matrix)
    np.testing.assert_array_equal(np.asarray(msg.r).reshape(3, 3), np.eye(3))
    assert camera_info_to_intrinsics(msg) == K


def test_camera_info_with_zero_focal_length() -> None:
    msg = CameraInfo(width=640, height=480)
    msg.header.frame_id = "cam_optical"
    with pytest.raises(InvalidFrameError, match=r"camera_info of frame 'cam_optical'.*fx=0\.0"):
        camera_info_to_intrinsics(msg)
    msg.k = [525.0, 0, 320, 0, 525.0, 240, 0, 0, 1]
    msg.width = 0
    with pytest.raises(InvalidFrameError, match="size must be positive"):
        camera_info_to_intrinsics(msg)


def test_camera_info_empty_distortion_model_defaults_to_plumb_bob() -> None:
    msg = CameraInfo(width=4, height=3, k=[2.0, 0, 1.5, 0, 2.0, 1.0, 0, 0, 1])
    K = camera_info_to_intrinsics(msg)
    assert K.distortion_model == "plumb_bob" and K.distortion == () and K.fx == 2.0


# --------------------------------------------------------------------------- point clouds

def random_cloud(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 3)).astype(np.float32),
            rng.integers(0, 256, (n, 3), dtype=np.uint8),
            rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.int64))


@pytest.mark.parametrize("with_rgb", [False, True])
@pytest.mark.parametrize("with_label", [False, True])
@pytest.mark.parametrize("n", [0, 1, 1000])
def test_cloud_round_trip(with_rgb: bool, with_label: bool, n: int) -> None:
    points, colors, labels = random_cloud(n)
    cloud = points_to_cloud(points, make_header(5, "map"), colors=colors if with_rgb else None,
                            labels=labels if with_label else None)
    expected = ["x", "y", "z"] + ["rgb"] * with_rgb + ["label"] * with_label
    assert [f.name for f in cloud.fields] == expected
    assert [f.offset for f in cloud.fields] == [4 * i for i in range(len(expected))]
    assert [f.datatype for f in cloud.fields] == (
        [PointField.FLOAT32] * (3 + with_rgb) + [PointField.UINT32] * with_label)
    assert all(f.count == 1 for f in cloud.fields)
    assert cloud.point_step == 4 * len(expected)
    assert (cloud.height, cloud.width, cloud.row_step) == (1, n, cloud.point_step * n)
    assert len(cloud.data) == cloud.row_step and cloud.is_dense
    assert cloud.header.frame_id == "map" and stamp_to_ns(cloud.header.stamp) == 5
    out_points, out_colors, out_labels = cloud_to_points(cloud)
    assert out_points.dtype == np.float32 and out_points.shape == (n, 3)
    np.testing.assert_array_equal(out_points, points)
    if with_rgb:
        assert out_colors is not None and out_colors.dtype == np.uint8
        np.testing.assert_array_equal(out_colors, colors)
    else:
        assert out_colors is None
    if with_label:
        assert out_labels is not None
        np.testing.assert_array_equal(out_labels, labels)
    else:
        assert out_labels is None


def test_packed_rgb_is_the_float_rviz_expects() -> None:
    colors = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [18, 52, 86]], np.uint8)
    cloud = points_to_cloud(np.zeros((4, 3), np.float32), colors=colors)
    rgb_field = next(f for f in cloud.fields if f.name == "rgb")
    records = np.frombuffer(cloud.data, np.uint8).reshape(4, cloud.point_step)
    as_float = records[:, rgb_field.offset:rgb_field.offset + 4].copy().view(np.float32)[:, 0]
    expected = np.array([0x00FF0000, 0x0000FF00, 0x000000FF, 0x00123456], np.uint32)
    np.testing.assert_array_equal(as_float.view(np.uint32), expected)
    assert as_float[0] == np.array([0x00FF0000], np.uint32).view(np.float32)[0]


def test_cloud_is_dense_false_with_nan_and_scalar_label() -> None:
    points = np.array([[0, 0, 1], [np.nan, 0, 1]], np.float32)
    cloud = points_to_cloud(points, labels=9)
    assert not cloud.is_dense
    pts, _, labels = cloud_to_points(cloud)
    assert np.isnan(pts[1, 0]) and labels.tolist() == [9, 9]


def test_cloud_rejects_bad_inputs() -> None:
    with pytest.raises(InvalidFrameError, match=r"points must be float\[N, 3\]"):
        points_to_cloud(np.zeros((4, 2), np.float32))
    with pytest.raises(InvalidFrameError, match=r"colors must be uint8\[4, 3\]"):
        points_to_cloud(np.zeros((4, 3), np.float32), colors=np.zeros((3, 3), np.uint8))
    with pytest.raises(InvalidFrameError, match=r"colors must be in \[0, 255\]"):
        points_to_cloud(np.zeros((1, 3), np.float32), colors=np.array([[300, 0, 0]]))
    with pytest.raises(InvalidFrameError, match=r"labels must be in \[0, 2\*\*32\)"):
        points_to_cloud(np.zeros((2, 3), np.float32), labels=np.array([1, -1]))


def foreign_cloud(big_endian: bool) -> tuple[PointCloud2, np.ndarray, np.ndarray, np.ndarray]:
    """An organised 2x3 cloud as another driver might write it.

    Fields in another order, an extra field, float64 z, uint16 labels, 4 bytes of
    padding per point, 8 bytes of padding per row, chosen byte order.
    """
    h, w, point_step, row_pad = 2, 3, 28, 8
    o = ">" if big_endian else "<"
    dtype = np.dtype({"names": ["rgb", "intensity", "z", "y", "x", "label"],
                      "formats": [o + "u4", o + "f4", o + "f8", o + "f4", o + "f4", o + "u2"],
                      "offsets": [0, 4, 8, 16, 20, 24], "itemsize": point_step})
    rng = np.random.default_rng(3)
    points = rng.normal(size=(h * w, 3)).astype(np.float32)
    colors = rng.integers(0, 256, (h * w, 3), dtype=np.uint8)
    labels = rng.integers(0, 2**16, h * w, dtype=np.uint16)
    rec = np.zeros(h * w, dtype)
    rec["x"], rec["y"], rec["z"] = points[:, 0], points[:, 1], points[:, 2]
    rec["rgb"] = (0xFF000000 | (colors[:, 0].astype(np.uint32) << 16)
                  | (colors[:, 1].astype(np.uint32) << 8) | colors[:, 2])  # alpha set
    rec["intensity"], rec["label"] = 0.5, labels
    rows = rec.view(np.uint8).reshape(h, w * point_step)
    rows = np.concatenate([rows, np.full((h, row_pad), 0xCD, np.uint8)], axis=1)
    fields = [PointField(name="rgb", offset=0, datatype=PointField.FLOAT32, count=1),
              PointField(name="intensity", offset=4, datatype=PointField.FLOAT32, count=1),
              PointField(name="z", offset=8, datatype=PointField.FLOAT64, count=1),
              PointField(name="y", offset=16, datatype=PointField.FLOAT32, count=1),
              PointField(name="x", offset=20, datatype=PointField.FLOAT32, count=1),
              PointField(name="label", offset=24, datatype=PointField.UINT16, count=1)]
    cloud = PointCloud2(height=h, width=w, fields=fields, is_bigendian=big_endian,
                        point_step=point_step, row_step=rows.shape[1], is_dense=True)
    cloud.data = array.array("B", rows.tobytes())
    return cloud, points, colors, labels


@pytest.mark.parametrize("big_endian", [False, True])
def test_cloud_foreign_field_order_padding_and_byte_order(big_endian: bool) -> None:
    cloud, points, colors, labels = foreign_cloud(big_endian)
    out_points, out_colors, out_labels = cloud_to_points(cloud)
    np.testing.assert_array_equal(out_points, points)
    np.testing.assert_array_equal(out_colors, colors)
    np.testing.assert_array_equal(out_labels, labels.astype(np.int64))


def test_cloud_inconsistent_messages_are_named() -> None:
    cloud, *_ = foreign_cloud(False)
    cloud.fields = [f for f in cloud.fields if f.name != "z"]
    with pytest.raises(InvalidFrameError, match=r"no field\(s\) z; its fields are"):
        cloud_to_points(cloud)
    cloud, *_ = foreign_cloud(False)
    cloud.data = cloud.data[:-1]
    with pytest.raises(InvalidFrameError,
                       match=r"183 bytes but row_step \* height = 92 \* 2 = 184"):
        cloud_to_points(cloud)
    cloud, *_ = foreign_cloud(False)
    cloud.row_step = 80
    with pytest.raises(InvalidFrameError, match=r"row_step 80 is smaller than .* 28 \* 3 = 84"):
        cloud_to_points(cloud)
    cloud, *_ = foreign_cloud(False)
    cloud.point_step = 22
    with pytest.raises(InvalidFrameError, match="field 'x' at offset 20 .* point_step 22"):
        cloud_to_points(cloud)


# --------------------------------------------------------------------------- objects

def test_scene_to_objects_msg_fields(synthetic_scene, objects_msgs) -> None:
    scene = synthetic_scene
    header = make_header(scene.frame.stamp_ns, scene.frame.frame_id)
    grasps = {0: ((0.1, -0.06, 0.78), (0.0, 1.0, 0.0), (1.0, 0.0, 0.0), 0.045)}
    msg = scene_to_objects_msg(scene, header, backend="geometric", device="cpu", grasps=grasps)
    assert isinstance(msg, objects_msgs.ObjectInstanceArray)
    assert (msg.image_width, msg.image_height) == (64, 48)
    assert (msg.backend, msg.device) == ("geometric", "cpu")
    assert msg.has_support_plane
    np.testing.assert_allclose(msg.support_plane, [0.0, -0.8, -0.6, 0.7])
    assert len(msg.objects) == 3
    a, b, c = msg.objects
    assert (a.id, a.track_id, a.track_age, a.class_id, a.class_name) == (0, 42, 5, 3, "cup")
    assert a.score == pytest.approx(0.9)
    assert (a.roi.x_offset, a.roi.y_offset, a.roi.width, a.roi.height) == (20, 10, 10, 8)
    assert (a.mask.encoding, a.mask.width, a.mask.height) == ("mono8", 10, 8)
    assert set(np.unique(image_to_numpy(a.mask)).tolist()) == {255}
    assert a.mask.header.frame_id == "cam_optical" and a.cloud.header.frame_id == "cam_optical"
    assert stamp_to_ns(a.mask.header.stamp) == scene.frame.stamp_ns
    q = a.box_pose.orientation
    np.testing.assert_allclose([q.x, q.y, q.z, q.w], [0, 0, np.sin(np.pi / 12), np.cos(np.pi / 12)])
    assert (a.box_size.x, a.box_size.y, a.box_size.z) == pytest.approx((0.06, 0.04, 0.1))
    assert (a.top_normal.x, a.top_normal.y, a.top_normal.z) == (0.0, -1.0, 0.0)
    assert (a.grasp_point.x, a.grasp_point.y, a.grasp_point.z) == (0.1, -0.06, 0.78)
    assert (a.grasp_approach.y, a.grasp_axis.x) == (1.0, 1.0)
    assert a.grasp_width == pytest.approx(0.045)
    assert [f.name for f in a.cloud.fields] == ["x", "y", "z", "rgb"] and a.cloud.width == 20
    # An L-shaped mask: the roi crop keeps its holes as 0.
    assert (b.roi.x_offset, b.roi.y_offset, b.roi.width, b.roi.height) == (50, 40, 14, 8)
    crop = image_to_numpy(b.mask)
    assert crop[0, 0] == 0 and crop[-1, 0] == 255 and crop[0, -1] == 255
    assert (b.track_id, b.track_age) == (-1, 0)
    assert (b.grasp_width, b.grasp_point.z) == (0.0, 0.0)  # no grasp given
    assert [f.name for f in b.cloud.fields] == ["x", "y", "z"] and b.cloud.width == 7
    OI = objects_msgs.ObjectInstance
    assert (a.has_3d, a.geometry_status) == (True, OI.GEOMETRY_OK)
    assert (b.has_3d, b.geometry_status) == (True, OI.GEOMETRY_OK)
    # No geometry: has_3d false (the fixture's producer gave no reason), zero 3D fields,
    # identity orientation, empty cloud.
    assert (c.has_3d, c.geometry_status) == (False, OI.GEOMETRY_UNKNOWN)
    assert (c.centroid.z, c.box_size.x, c.box_pose.orientation.w) == (0.0, 0.0, 1.0)
    assert c.cloud.width == 0 and cloud_to_points(c.cloud)[0].shape == (0, 3)


@pytest.mark.parametrize("status", ["not_computed", "no_depth", "out_of_range",
                                    "too_few_points"])
def test_objects_without_3d_are_marked_and_carry_no_grasp(synthetic_scene, objects_msgs,
                                                           status) -> None:
    scene = synthetic_scene
    scene.objects[2] = dataclasses.replace(scene.objects[2], geometry_status=status)
    # A grasp for an object without 3D (given or left on the object) is not published:
    # there is no 3D part for it to belong to.
    grasp = ((0.0, 0.0, 0.5), (0.0, 0.0, 1.0), (1.0, 0.0, 0.0), 0.1)
    msg = scene_to_objects_msg(scene, Header(), grasps={2: grasp})
    c = msg.objects[2]
    assert c.has_3d is False
    assert c.geometry_status == getattr(objects_msgs.ObjectInstance, f"GEOMETRY_{status.upper()}")
    assert (c.grasp_point.z, c.grasp_approach.z, c.grasp_width) == (0.0, 0.0, 0.0)
    d = objects_msg_to_dicts(msg)["objects"]
    assert [(o["has_3d"], o["geometry_status"]) for o in d] == [(True, "ok"), (True, "ok"),
                                                               (False, status)]


def test_clipped_objects_keep_their_3d(synthetic_scene, objects_msgs) -> None:
    scene = synthetic_scene
    scene.objects[0] = dataclasses.replace(scene.objects[0], geometry_status="clipped")
    a = scene_to_objects_msg(scene, Header()).objects[0]
    assert (a.has_3d, a.geometry_status) == (True, objects_msgs.ObjectInstance.GEOMETRY_CLIPPED)
    assert a.box_size.x == pytest.approx(0.06) and a.cloud.width == 20


def test_objects_msg_round_trip(synthetic_scene, objects_msgs) -> None:
    scene = synthetic_scene
    msg = scene_to_objects_msg(scene, make_header(scene.frame.stamp_ns, "cam_optical"))
    back = objects_msg_to_dicts(msg)
    assert back["stamp_ns"] == scene.frame.stamp_ns and back["frame_id"] == "cam_optical"
    np.testing.assert_allclose(back["support_plane"], scene.support_plane.coefficients)
    for obj, d in zip(scene.objects, back["objects"], strict=True):
        assert (d["id"], d["class_name"], d["track_id"]) == (obj.index, obj.class_name,
                                                             obj.track_id)
        np.testing.assert_array_equal(d["mask"], obj.mask)
        np.testing.assert_array_equal(d["box_2d"], obj.box_2d)
        g = obj.geometry
        if g is None:
            assert d["points"].shape == (0, 3)
            continue
        np.testing.assert_allclose(d["box_rotation"], g.box_rotation, atol=1e-12)
        np.testing.assert_allclose(d["box_center"], g.box_center)
        np.testing.assert_allclose(d["centroid"], g.centroid)
        np.testing.assert_allclose(d["box_size"], g.box_extent)
        np.testing.assert_array_equal(d["points"], g.points)
        if g.colors is None:
            assert d["colors"] is None
        else:
            np.testing.assert_array_equal(d["colors"], g.colors)
        np.testing.assert_allclose(d["box_orientation"],
                                   rotation_matrix_to_quaternion(g.box_rotation))


def test_scene_without_plane_and_grasp_objects(synthetic_scene, objects_msgs) -> None:
    from seg_perception.geometry.grasp import TopDownGrasp

    scene = synthetic_scene
    scene.support_plane = None
    grasp = TopDownGrasp(point=np.array([1.0, 2.0, 3.0]), approach=np.array([0.0, 0.0, 1.0]),
                         axis=np.array([0.0, 1.0, 0.0]), width=0.02, height=0.05)
    scene.objects[1] = dataclasses.replace(scene.objects[1], grasp=grasp)
    msg = scene_to_objects_msg(scene, Header())
    assert not msg.has_support_plane and objects_msg_to_dicts(msg)["support_plane"] is None
    b = msg.objects[1]
    assert (b.grasp_point.x, b.grasp_point.y, b.grasp_point.z) == (1.0, 2.0, 3.0)
    assert (b.grasp_approach.z, b.grasp_axis.y) == (1.0, 1.0)
    assert b.grasp_width == pytest.approx(0.02)
    # The grasps mapping wins over SceneObject.grasp.
    override = {1: ((0.0, 0.0, 0.5), (0.0, 0.0, 1.0), (1.0, 0.0, 0.0), 0.1)}
    msg = scene_to_objects_msg(scene, Header(), grasps=override)
    assert (msg.objects[1].grasp_point.z, msg.objects[1].grasp_width) == (0.5, pytest.approx(0.1))
    with pytest.raises(TypeError, match=r"\(point, approach, axis, width\)"):
        scene_to_objects_msg(scene, Header(), grasps={0: "not a grasp"})


def test_objects_msg_without_clouds(synthetic_scene, objects_msgs) -> None:
    msg = scene_to_objects_msg(synthetic_scene, Header(), with_clouds=False)
    for inst in msg.objects:
        assert inst.cloud.width == 0 and len(inst.cloud.data) == 0
        assert [f.name for f in inst.cloud.fields] == ["x", "y", "z", "rgb"]
    assert msg.objects[0].box_size.x == pytest.approx(0.06)  # the rest is still there


def test_objects_msg_of_an_empty_scene(synthetic_scene, objects_msgs) -> None:
    scene = synthetic_scene
    scene.objects = []
    msg = scene_to_objects_msg(scene, make_header(7, "cam"))
    assert msg.objects == [] and (msg.image_width, msg.image_height) == (64, 48)
    assert objects_msg_to_dicts(msg)["objects"] == []
