"""CompressedImage <-> Image as image_transport's compressed and compressedDepth plugins."""
from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage

from seg_perception.errors import InvalidFrameError, UnsupportedEncodingError
from seg_perception.frames import CameraIntrinsics
from seg_perception.ros.compressed import compress_depth, compress_image, image_from_compressed
from seg_perception.ros.conversions import (
    image_to_depth_m,
    image_to_numpy,
    intrinsics_to_camera_info,
    make_header,
    numpy_to_image,
    stamp_to_ns,
)
from seg_perception.ros.frame_input import frame_from_messages

STAMP_NS = 1_700_000_123_000_000_042
FRAME = "camera_color_optical_frame"
# z0 = 100, depth_max = 10 (the plugin's defaults): A = z0 (z0 + 1), B = 1 - A / depth_max.
QUANT_A, QUANT_B = 10100.0, -1009.0


def _header():
    return make_header(STAMP_NS, FRAME)


def _colour(h=48, w=64):
    """A smooth RGB picture (JPEG-friendly) with distinct channels."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // w, y * 255 // h, np.full_like(x, 40)], axis=2).astype(np.uint8)


def _depth_mm(h=48, w=64):
    """Millimetres 400..2400 with holes (0) in a corner, as a depth camera gives."""
    y, x = np.mgrid[0:h, 0:w]
    depth = (400 + 20 * x + 10 * y).astype(np.uint16)
    depth[:5, :7] = 0
    return depth


def _compressed(fmt, data):
    msg = CompressedImage(header=_header(), format=fmt)
    msg.data = bytes(data)
    return msg


def _assert_same_header(msg):
    assert stamp_to_ns(msg.header.stamp) == STAMP_NS
    assert msg.header.frame_id == FRAME


# --------------------------------------------------------------------------- colour

@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16", "16UC1"])
def test_png_round_trip_is_exact(encoding):
    rgb = _colour()
    pixels = {
        "rgb8": rgb, "bgr8": rgb[:, :, ::-1],
        "rgba8": np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]),
        "bgra8": np.dstack([rgb[:, :, ::-1], np.full(rgb.shape[:2], 255, np.uint8)]),
        "mono8": rgb[:, :, 0], "mono16": _depth_mm(), "16UC1": _depth_mm(),
    }[encoding]
    compressed = compress_image(numpy_to_image(pixels, encoding, _header()), "png")
    grey = encoding in ("mono8", "mono16", "16UC1")
    assert compressed.format == f"{encoding}; png compressed {'' if grey else 'bgr8'}"
    image = image_from_compressed(compressed)
    assert image.encoding == encoding
    np.testing.assert_array_equal(image_to_numpy(image), pixels)
    _assert_same_header(image)


def test_payload_is_the_plugins_png_and_jpeg_file():
    rgb = _colour()
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    png = compress_image(numpy_to_image(rgb, "rgb8"), "png", png_level=3)
    want_png = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 3])[1].tobytes()
    assert bytes(png.data) == want_png
    jpg = compress_image(numpy_to_image(rgb, "rgb8"), "jpeg", jpeg_quality=95)
    assert bytes(jpg.data) == cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8"])
def test_jpeg_round_trip_keeps_the_channel_order(encoding):
    rgb = _colour()
    order = {"rgb8": [0, 1, 2], "bgr8": [2, 1, 0], "rgba8": [0, 1, 2], "bgra8": [2, 1, 0]}[encoding]
    pixels = rgb[:, :, order]
    if encoding.endswith("a8"):
        pixels = np.dstack([pixels, np.full(rgb.shape[:2], 255, np.uint8)])
    compressed = compress_image(numpy_to_image(pixels, encoding, _header()), "jpeg")
    assert compressed.format == f"{encoding}; jpeg compressed bgr8"
    image = image_from_compressed(compressed)
    assert image.encoding == encoding
    got = image_to_numpy(image).astype(int)
    # Lossy, but each channel stays its own: mean error of a few levels at quality 95.
    assert np.abs(got - pixels).mean() < 2.0
    assert np.abs(got - pixels).max() < 40
    _assert_same_header(image)


def test_jpeg_mono():
    grey = _colour()[:, :, 0]
    compressed = compress_image(numpy_to_image(grey, "mono8"), "jpeg")
    assert compressed.format == "mono8; jpeg compressed mono8"
    image = image_from_compressed(compressed)
    assert image.encoding == "mono8"
    assert np.abs(image_to_numpy(image).astype(int) - grey).mean() < 2.0


def test_16bit_jpeg_from_the_plugin_is_scaled_by_256():
    # The plugin stores mono16 as 8-bit JPEG ("mono16; jpeg compressed mono8");
    # its subscriber multiplies by 256.
    grey = np.full((8, 8), 77, np.uint8)
    data = cv2.imencode(".jpg", grey, [cv2.IMWRITE_JPEG_QUALITY, 95])[1]
    image = image_from_compressed(_compressed("mono16; jpeg compressed mono8", data))
    assert image.encoding == "mono16"
    np.testing.assert_array_equal(image_to_numpy(image), np.full((8, 8), 77 * 256, np.uint16))


def test_rgb_ordered_payload_is_swapped_like_the_plugin():
    # A payload without "compressed bgr" holds RGB: bgr8 output must swap it.
    rgb = _colour()
    data = cv2.imencode(".png", rgb)[1]  # RGB bytes written as if BGR
    image = image_from_compressed(_compressed("bgr8; png compressed rgb8", data))
    np.testing.assert_array_equal(image_to_numpy(image), rgb[:, :, ::-1])


@pytest.mark.parametrize("fmt", ["jpeg", "jpg", "png"])
def test_bare_codec_format_decodes_to_bgr8_or_mono8(fmt):
    bgr = _colour()[:, :, ::-1]
    ext = ".png" if fmt == "png" else ".jpg"
    image = image_from_compressed(_compressed(fmt, cv2.imencode(ext, bgr)[1]))
    assert image.encoding == "bgr8"
    assert np.abs(image_to_numpy(image).astype(int) - bgr).mean() < 2.0
    mono = image_from_compressed(_compressed(fmt, cv2.imencode(ext, bgr[:, :, 0])[1]))
    assert mono.encoding == "mono8"


def test_decoded_messages_make_the_same_frame_as_raw():
    rgb, depth = _colour(), _depth_mm()
    K = CameraIntrinsics(width=64, height=48, fx=50.0, fy=50.0, cx=31.5, cy=23.5)
    info = intrinsics_to_camera_info(K, _header())
    raw_color = numpy_to_image(rgb, "rgb8", _header())
    raw_depth = numpy_to_image(depth, "16UC1", _header())
    raw = frame_from_messages(raw_color, raw_depth, info, max_pixels=10**6)
    color = image_from_compressed(compress_image(raw_color, "png"))
    for fmt in ("png", "rvl"):
        decoded = frame_from_messages(color, image_from_compressed(compress_depth(raw_depth, fmt)),
                                      info, max_pixels=10**6)
        np.testing.assert_array_equal(decoded.rgb, raw.rgb)
        np.testing.assert_array_equal(decoded.depth, raw.depth)
        assert (decoded.stamp_ns, decoded.frame_id) == (raw.stamp_ns, raw.frame_id)


# --------------------------------------------------------------------------- depth

@pytest.mark.parametrize("encoding", ["16UC1", "mono16"])
@pytest.mark.parametrize("codec", ["png", "rvl"])
def test_16bit_depth_round_trip_is_exact(encoding, codec):
    depth = _depth_mm()
    compressed = compress_depth(numpy_to_image(depth, encoding, _header()), codec)
    assert compressed.format == f"{encoding}; compressedDepth {codec}"
    assert bytes(compressed.data[:12]) == struct.pack("<iff", 0, 0.0, 0.0)
    image = image_from_compressed(compressed)
    assert image.encoding == encoding
    np.testing.assert_array_equal(image_to_numpy(image), depth)
    _assert_same_header(image)


def test_16bit_depth_beyond_depth_max_becomes_zero():
    depth = _depth_mm()
    image = image_from_compressed(compress_depth(numpy_to_image(depth, "16UC1"), depth_max=1.5))
    np.testing.assert_array_equal(image_to_numpy(image), np.where(depth > 1500, 0, depth))


def test_png_payload_is_the_plugins():
    depth = _depth_mm()
    compressed = compress_depth(numpy_to_image(depth, "16UC1"), "png", png_level=3)
    expected = cv2.imencode(".png", depth, [cv2.IMWRITE_PNG_COMPRESSION, 3])[1].tobytes()
    assert bytes(compressed.data) == struct.pack("<iff", 0, 0.0, 0.0) + expected


def test_humble_format_without_codec_means_png():
    depth = _depth_mm()
    compressed = compress_depth(numpy_to_image(depth, "16UC1", _header()), "png")
    compressed.format = "16UC1; compressedDepth"
    np.testing.assert_array_equal(image_to_numpy(image_from_compressed(compressed)), depth)


def test_rvl_bytes_match_the_plugins_codec():
    # Bytes written by rvl_codec.cpp (image_transport_plugins, rolling) for this 2 x 5 image.
    pixels = np.array([[0, 0, 1000, 1001, 0], [999, 0, 0, 9999, 3]], np.uint16)
    expected = bytes.fromhex("050000000200000021f38a229b8a221300f4a84f")
    compressed = compress_depth(numpy_to_image(pixels, "16UC1"), "rvl")
    assert bytes(compressed.data) == struct.pack("<iff", 0, 0.0, 0.0) + expected
    np.testing.assert_array_equal(image_to_numpy(image_from_compressed(compressed)), pixels)


@pytest.mark.parametrize("codec", ["png", "rvl"])
def test_32bit_depth_is_inverse_depth_quantised(codec):
    rng = np.random.default_rng(3)
    depth = rng.uniform(0.2, 9.5, (48, 64)).astype(np.float32)
    depth[0, :4] = [0.0, np.nan, np.inf, 12.0]  # no measurement / beyond depth_max
    compressed = compress_depth(numpy_to_image(depth, "32FC1", _header()), codec)
    assert compressed.format == f"32FC1; compressedDepth {codec}"
    assert struct.unpack("<iff", bytes(compressed.data[:12])) == (0, QUANT_A, QUANT_B)
    image = image_from_compressed(compressed)
    assert image.encoding == "32FC1"
    _assert_same_header(image)
    got = image_to_numpy(image)
    assert np.isnan(got[0, :4]).all()
    valid = np.ones(depth.shape, bool)
    valid[0, :4] = False
    # One quantisation step of inverse depth: d^2 / A (0.1 mm at 1 m, 9 mm at 9.5 m).
    step = depth[valid].astype(np.float64) ** 2 / QUANT_A
    err = np.abs(got[valid].astype(np.float64) - depth[valid])
    assert (err <= step * 1.01 + 1e-6).all()
    # The raw path then turns NaN into "no measurement".
    assert (image_to_depth_m(image)[0, :4] == 0).all()


def test_32bit_quantisation_matches_the_plugins_cast():
    # uint16 codes the plugin's C++ (x86-64, gcc) writes for these depths, inverse
    # quantisation with the defaults; 0 = no measurement. Below ~0.15 m the code
    # overflows 16 bits and the plugin's cast wraps it; the encoder reproduces that.
    depth = np.array([[0.0, np.nan, np.inf, -np.inf, -1.0, 0.05, 0.1, 0.151, 9.999, 10.0]],
                     np.float32)
    expected = [0, 0, 0, 64527, 54427, 4383, 34455, 342, 1, 0]
    compressed = compress_depth(numpy_to_image(depth, "32FC1"), "rvl")
    body = np.frombuffer(bytes(compressed.data[12:]), np.uint8)
    decoded_codes = image_from_compressed(
        _compressed("16UC1; compressedDepth rvl", struct.pack("<iff", 0, 0, 0) + body.tobytes()))
    np.testing.assert_array_equal(image_to_numpy(decoded_codes)[0], expected)


# --------------------------------------------------------------------------- bad data

def _jpeg_bytes():
    return cv2.imencode(".jpg", _colour())[1].tobytes()


def _png_bytes(pixels=None):
    return cv2.imencode(".png", _colour() if pixels is None else pixels)[1].tobytes()


@pytest.mark.parametrize("fmt, data, error, message", [
    ("rgb8; jpeg compressed bgr8", b"", InvalidFrameError, "has no data"),
    ("rgb8; png compressed bgr8", _png_bytes()[:-30], InvalidFrameError,
     "does not end with the IEND chunk: the message is truncated"),
    ("rgb8; jpeg compressed bgr8", _jpeg_bytes()[:len(_jpeg_bytes()) // 2], InvalidFrameError,
     "has no end-of-image marker: the message is truncated"),
    ("rgb8; jpeg compressed bgr8", _png_bytes(), InvalidFrameError,
     "should hold a JPEG file but starts with a PNG file"),
    ("rgb8; png compressed bgr8", b"not an image at all", InvalidFrameError,
     "should hold a PNG file but starts with bytes 6e 6f 74 20"),
    ("rgb8; webp compressed bgr8", _png_bytes(), UnsupportedEncodingError,
     "is not one this node reads"),
    ("tiff", _png_bytes(), UnsupportedEncodingError, "is not one this node reads"),
    ("rgb8; png", _png_bytes(), UnsupportedEncodingError, "is not one this node reads"),
    ("rgb16; png compressed bgr16", _png_bytes(), UnsupportedEncodingError,
     "colour input must be one of rgb8, bgr8, rgba8, bgra8, mono8, mono16, 16UC1"),
    ("rgb8; png compressed bgr8", _png_bytes(_colour()[:, :, 0]), InvalidFrameError,
     r"decodes to 8-bit 1-channel pixels but its format needs 8-bit 3-channel \(BGR\) pixels"),
    ("mono16; png compressed ", _png_bytes(_colour()[:, :, 0]), InvalidFrameError,
     "decodes to 8-bit 1-channel pixels but its format needs 16-bit 1-channel pixels"),
    ("png", _png_bytes(np.dstack([_colour(), _colour()[:, :, :1]])), InvalidFrameError,
     "without an encoding in the format only 8-bit grey or BGR images are understood"),
])
def test_bad_colour_data_is_named(fmt, data, error, message):
    with pytest.raises(error, match=message):
        image_from_compressed(_compressed(fmt, data))


def test_corrupt_png_body_is_named():
    data = bytearray(_png_bytes())
    data[len(data) // 2] ^= 0xFF  # inside IDAT: the chunk's CRC no longer matches
    with pytest.raises(InvalidFrameError, match="the PNG data .* is corrupt and cannot be decoded"):
        image_from_compressed(_compressed("rgb8; png compressed bgr8", data))


def _depth_payload(codec="png", encoding="16UC1", pixels=None):
    pixels = _depth_mm() if pixels is None else pixels
    msg = compress_depth(numpy_to_image(pixels, encoding), codec)
    return bytes(msg.data)


@pytest.mark.parametrize("fmt, data, error, message", [
    ("16UC1; compressedDepth png", _depth_payload()[:12], InvalidFrameError,
     "has 12 bytes, no room for the 12-byte ConfigHeader and an image"),
    ("16UC1; compressedDepth png", struct.pack("<iff", 1, 0, 0) + _depth_payload()[12:],
     InvalidFrameError, "ConfigHeader format is 1, not INV_DEPTH"),
    ("32FC1; compressedDepth png", struct.pack("<iff", 0, float("nan"), 0) + _depth_payload()[12:],
     InvalidFrameError, "cannot be inverse-depth parameters"),
    ("32FC1; compressedDepth png", struct.pack("<iff", 0, 0.0, 1.0) + _depth_payload()[12:],
     InvalidFrameError, "cannot be inverse-depth parameters"),
    ("16UC1; compressedDepth png", _depth_payload()[:-40], InvalidFrameError,
     "does not end with the IEND chunk"),
    ("16UC1; compressedDepth png", struct.pack("<iff", 0, 0, 0) + _png_bytes(_colour()[:, :, 0]),
     InvalidFrameError, "decodes to 8-bit 1-channel pixels but its format needs 16-bit"),
    ("16UC1; compressedDepth jpeg", _depth_payload(), UnsupportedEncodingError,
     "compressedDepth format '16UC1; compressedDepth jpeg' is not understood"),
    ("compressedDepth", _depth_payload(), UnsupportedEncodingError, "is not understood"),
    ("8UC1; compressedDepth png", _depth_payload(), UnsupportedEncodingError,
     "depth must be one of 16UC1, mono16, 32FC1"),
    ("16UC1; compressedDepth rvl", _depth_payload("rvl")[:-6], InvalidFrameError,
     "RVL data ends inside its last run, before all 3072 pixels"),
    ("16UC1; compressedDepth rvl", _depth_payload("rvl", pixels=np.zeros((48, 64), np.uint16)),
     InvalidFrameError, "RVL data says the image is 64x48, impossible for 12 bytes"),
    ("16UC1; compressedDepth rvl", _depth_payload("rvl", pixels=np.ones((2, 2), np.uint16))[:-4],
     InvalidFrameError, "RVL data holds no complete value"),
    ("16UC1; compressedDepth rvl", _depth_payload("rvl", pixels=np.ones((1, 2), np.uint16))[:12]
     + struct.pack("<II", 2, 2) + _depth_payload("rvl", pixels=np.ones((1, 2), np.uint16))[20:],
     InvalidFrameError, "RVL data ends after 2 of 4 pixels"),
    ("16UC1; compressedDepth rvl", _depth_payload("rvl")[:12] + struct.pack("<II", 5000, 5000)
     + _depth_payload("rvl")[20:], InvalidFrameError, "says the image is 5000x5000, impossible"),
    ("16UC1; compressedDepth rvl", _depth_payload("rvl")[:12] + struct.pack("<II", 0, 48)
     + _depth_payload("rvl")[20:], InvalidFrameError, "says the image is 0x48"),
    ("16UC1; compressedDepth rvl", _depth_payload("rvl")[:12] + struct.pack("<II", 32, 48)
     + _depth_payload("rvl")[20:], InvalidFrameError,
     "runs cover .* pixels, the header says 32x48"),
    ("16UC1; compressedDepth rvl", _depth_payload("rvl")[:20] + b"\xff" * 12 + bytes(1000),
     InvalidFrameError, "has a value of 25 nibbles"),
    ("16UC1; compressedDepth rvl", _depth_payload("rvl")[:16], InvalidFrameError,
     "fewer than its 8-byte size header"),
])
def test_bad_depth_data_is_named(fmt, data, error, message):
    with pytest.raises(error, match=message):
        image_from_compressed(_compressed(fmt, data))


def test_encoders_refuse_what_the_plugins_refuse():
    rgb = numpy_to_image(_colour(), "rgb8")
    with pytest.raises(ValueError, match="format must be 'jpeg' or 'png', got 'tiff'"):
        compress_image(rgb, "tiff")
    with pytest.raises(ValueError, match="jpeg_quality must be in 1..100"):
        compress_image(rgb, jpeg_quality=0)
    with pytest.raises(UnsupportedEncodingError, match="cannot compress a 16UC1 image as jpeg"):
        compress_image(numpy_to_image(_depth_mm(), "16UC1"), "jpeg")
    with pytest.raises(UnsupportedEncodingError, match="cannot compress a 32FC1 image as png"):
        compress_image(numpy_to_image(np.zeros((2, 2), np.float32), "32FC1"), "png")
    with pytest.raises(UnsupportedEncodingError, match="compressedDepth takes 16UC1, mono16 or "
                                                       "32FC1 images, got rgb8"):
        compress_depth(rgb)
    with pytest.raises(ValueError, match="format must be 'png' or 'rvl'"):
        compress_depth(numpy_to_image(_depth_mm(), "16UC1"), "jpeg")


@pytest.mark.parametrize("fmt, make", [
    ("png", lambda: compress_image(numpy_to_image(_colour(), "rgb8"), "png")),
    ("jpeg", lambda: compress_image(numpy_to_image(_colour(), "rgb8"), "jpeg")),
    ("depth png", lambda: compress_depth(numpy_to_image(_depth_mm(), "16UC1"), "png")),
    ("depth rvl", lambda: compress_depth(numpy_to_image(_depth_mm(), "16UC1"), "rvl")),
])
def test_images_over_max_pixels_are_refused_before_decoding(fmt, make):
    msg = make()
    assert image_from_compressed(msg, max_pixels=64 * 48).width == 64
    with pytest.raises(InvalidFrameError, match="is 64x48, more than max_image_pixels=3071: "
                                                "lower the camera resolution"):
        image_from_compressed(msg, max_pixels=64 * 48 - 1)


def test_messages_read_from_a_bag_decode_too():
    # replay reads bags with the pure-Python rosbags: its messages are dataclasses with
    # numpy data, not rclpy messages.
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_JAZZY)
    depth = compress_depth(numpy_to_image(_depth_mm(), "16UC1", _header()), "rvl")
    bag_msg = store.types["sensor_msgs/msg/CompressedImage"](
        header=store.types["std_msgs/msg/Header"](
            stamp=store.types["builtin_interfaces/msg/Time"](sec=depth.header.stamp.sec,
                                                            nanosec=depth.header.stamp.nanosec),
            frame_id=FRAME),
        format=depth.format, data=np.frombuffer(bytes(depth.data), np.uint8))
    cdr = store.serialize_cdr(bag_msg, "sensor_msgs/msg/CompressedImage")
    image = image_from_compressed(store.deserialize_cdr(cdr, "sensor_msgs/msg/CompressedImage"))
    np.testing.assert_array_equal(image_to_numpy(image), _depth_mm())
    _assert_same_header(image)
