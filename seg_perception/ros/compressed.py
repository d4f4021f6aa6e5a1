"""``sensor_msgs/CompressedImage`` <-> ``sensor_msgs/Image``, as ROS 2's image_transport plugins.

:func:`image_from_compressed` turns what a camera publishes on ``<image>/compressed``
(``compressed_image_transport``) or ``<depth>/compressedDepth``
(``compressed_depth_image_transport``) into the ``sensor_msgs/Image`` those plugins'
subscribers hand to a node, so everything after it is the raw path unchanged. The
encoders (:func:`compress_image`, :func:`compress_depth`) write payloads as the
plugins' publishers do (Rolling/Jazzy ``codec.cpp``, ``compressed_publisher.cpp``),
for tests and test publishers.

Wire formats (``CompressedImage.format``):

``compressed``
    ``"<encoding>; jpeg compressed bgr8"`` (colour) / ``"...; jpeg compressed mono8"``
    (grey), ``"<encoding>; png compressed bgr8"`` / ``"<encoding>; png compressed "``
    (grey, 8 or 16 bit); ``data`` is the JPEG/PNG file. Colour payloads are BGR and
    turned back into ``<encoding>``'s channel order; 16-bit JPEG (stored as 8 bit) is
    scaled by 256 as the plugin does. A bare ``"jpeg"``/``"jpg"``/``"png"`` (older
    publishers, ``cv_bridge.cv2_to_compressed_imgmsg``) decodes to mono8 or bgr8.

``compressedDepth``
    ``"<encoding>; compressedDepth png"`` (or ``rvl``; Humble writes
    ``"<encoding>; compressedDepth"``, meaning png). ``data`` = a 12-byte ``ConfigHeader``
    (int32 format = 0 ``INV_DEPTH``, float32 ``depthQuantA``, ``depthQuantB``,
    little-endian) followed by the image: PNG or RVL of uint16 pixels. 16UC1/mono16
    are the millimetres themselves. 32FC1 metres are stored as inverse depth,
    ``q = uint16(A / depth + B)`` with ``A = z0 (z0 + 1)``, ``B = 1 - A / depth_max``
    (``z0`` = the publisher's ``depth_quantization``), 0 = no measurement; decoded
    as ``A / (q - B)`` in float32, NaN where ``q = 0``.

Every problem (corrupt or truncated payload, unknown format string, a header or
payload that does not match its format) raises
:class:`~seg_perception.errors.InvalidFrameError` or
:class:`~seg_perception.errors.UnsupportedEncodingError` naming it and the fix,
as the raw path does, so the node skips the frame with a log line and a
diagnostics entry.
"""
from __future__ import annotations

import array
import struct
from typing import Any

import cv2
import numpy as np
from sensor_msgs.msg import CompressedImage, Image

from ..errors import InvalidFrameError, UnsupportedEncodingError
from .conversions import image_to_numpy, numpy_to_image

__all__ = [
    "COLOR_TRANSPORT",
    "DEPTH_TRANSPORT",
    "compress_depth",
    "compress_image",
    "image_from_compressed",
]

COLOR_TRANSPORT = "compressed"
"""image_transport name (and topic suffix) of JPEG/PNG images."""
DEPTH_TRANSPORT = "compressedDepth"
"""image_transport name (and topic suffix) of depth images."""

_CONFIG_HEADER = struct.Struct("<iff")  # compressionFormat format; float depthParam[2]
_INV_DEPTH = 0  # compressionFormat::INV_DEPTH, the only one the plugin writes
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"

# Encodings these paths produce, and the decoded layout each needs: (dtype, channels).
_COLOR_8BIT = ("rgb8", "bgr8", "rgba8", "bgra8")
_GREY = {"mono8": np.uint8, "mono16": np.uint16, "16UC1": np.uint16}
_DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")
_FROM_BGR = {"rgb8": cv2.COLOR_BGR2RGB, "rgba8": cv2.COLOR_BGR2RGBA, "bgra8": cv2.COLOR_BGR2BGRA}
_FROM_RGB = {"bgr8": cv2.COLOR_RGB2BGR, "rgba8": cv2.COLOR_RGB2RGBA, "bgra8": cv2.COLOR_RGB2BGRA}
_TO_BGR = {"rgb8": cv2.COLOR_RGB2BGR, "rgba8": cv2.COLOR_RGBA2BGR, "bgra8": cv2.COLOR_BGRA2BGR}


# --------------------------------------------------------------------------- decoding

def image_from_compressed(msg: CompressedImage, max_pixels: int | None = None) -> Image:
    """The ``sensor_msgs/Image`` that image_transport's subscriber would deliver for ``msg``.

    ``compressedDepth`` formats go through the depth codec, everything else through
    the JPEG/PNG one (see the module docstring). The header is copied. ``msg`` may
    be an rclpy message or a ``rosbags`` one (bag replay): only ``header``,
    ``format`` and ``data`` are read.

    Args:
        msg: the compressed image.
        max_pixels: refuse, before decoding, an image whose PNG/JPEG/RVL header
            says it is larger (a few bytes can claim gigapixels); None = no limit.

    Returns:
        An unpadded Image in the encoding the format names (rgb8, bgr8, rgba8, bgra8,
        mono8, mono16, 16UC1 or 32FC1); pixels in that encoding's channel order.

    Raises:
        UnsupportedEncodingError: an unknown format string or an encoding the
            pipeline does not take.
        InvalidFrameError: an empty, truncated or corrupt payload, one that does
            not match its format (wrong file type, channels, bit depth, ConfigHeader),
            or an image larger than ``max_pixels``.
    """
    fmt = str(msg.format)
    payload = _payload(msg)
    if DEPTH_TRANSPORT in fmt:
        return _decode_depth(fmt, payload, msg.header, max_pixels)
    return _decode_color(fmt, payload, msg.header, max_pixels)


def _payload(msg: CompressedImage) -> np.ndarray:
    try:
        return np.frombuffer(msg.data, dtype=np.uint8)
    except TypeError:  # a plain list (messages built with field checks off)
        return np.asarray(msg.data, dtype=np.uint8)


def _split_format(fmt: str) -> tuple[str, str]:
    """``(encoding, rest)`` of ``"<encoding>; <rest>"``; ``("", fmt)`` without ';'."""
    encoding, sep, rest = fmt.partition(";")
    return (encoding.strip(), rest) if sep else ("", fmt)


def _unknown_color_format(fmt: str) -> UnsupportedEncodingError:
    return UnsupportedEncodingError(
        f"CompressedImage format '{fmt}' is not one this node reads: expected image_transport's "
        "'<encoding>; jpeg compressed bgr8' or '<encoding>; png compressed bgr8' (mono8/mono16 "
        "for grey), or a bare 'jpeg' / 'png'; set the camera's compressed.format to jpeg or png, "
        "or subscribe to the raw topic (input_transport: raw)")


def _decode_color(fmt: str, payload: np.ndarray, header: Any, max_pixels: int | None) -> Image:
    encoding, rest = _split_format(fmt)
    if not encoding:  # older publishers: the codec alone, channels decide the encoding
        codec = rest.strip().lower()
        if codec not in ("jpeg", "jpg", "png"):
            raise _unknown_color_format(fmt)
        pixels = _imdecode(payload, "png" if codec == "png" else "jpeg", fmt, max_pixels)
        if pixels.dtype != np.uint8 or pixels.ndim == 3 and pixels.shape[2] != 3:
            raise InvalidFrameError(
                f"CompressedImage '{fmt}' decodes to {_describe(pixels)}; without an encoding in "
                "the format only 8-bit grey or BGR images are understood: publish through "
                "image_transport's compressed plugin, which names the encoding")
        return numpy_to_image(pixels, "mono8" if pixels.ndim == 2 else "bgr8", header)
    words = rest.split()
    if len(words) < 2 or words[1] != "compressed" or words[0] not in ("jpeg", "png"):
        raise _unknown_color_format(fmt)
    codec = words[0]
    if encoding not in _COLOR_8BIT and encoding not in _GREY:
        raise UnsupportedEncodingError(
            f"CompressedImage '{fmt}' holds a {encoding} image; colour input must be one of "
            f"{', '.join(_COLOR_8BIT + tuple(_GREY))}: publish 8-bit colour from the camera")
    pixels = _imdecode(payload, codec, fmt, max_pixels)
    if encoding in _COLOR_8BIT:
        if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
            raise _mismatch(fmt, pixels, "8-bit 3-channel (BGR) pixels")
        bgr_payload = "compressed bgr" in rest  # else RGB order, as the plugin assumes
        table = _FROM_BGR if bgr_payload else _FROM_RGB
        if encoding in table:
            pixels = cv2.cvtColor(pixels, table[encoding])
        return numpy_to_image(pixels, encoding, header)
    wanted = np.dtype(_GREY[encoding])
    if codec == "jpeg" and wanted == np.uint16:
        # The publisher stored 8 bits; the plugin's subscriber scales them back by 256.
        if pixels.dtype != np.uint8 or pixels.ndim != 2:
            raise _mismatch(fmt, pixels, "8-bit 1-channel pixels")
        pixels = pixels.astype(np.uint16) * np.uint16(256)
    if pixels.dtype != wanted or pixels.ndim != 2:
        raise _mismatch(fmt, pixels, f"{wanted.itemsize * 8}-bit 1-channel pixels")
    return numpy_to_image(pixels, encoding, header)


def _describe(pixels: np.ndarray) -> str:
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    return f"{pixels.dtype.itemsize * 8}-bit {channels}-channel pixels"


def _mismatch(fmt: str, pixels: np.ndarray, wanted: str) -> InvalidFrameError:
    return InvalidFrameError(
        f"CompressedImage '{fmt}' decodes to {_describe(pixels)} but its format needs {wanted}: "
        "the format string does not match the payload; check the publisher")


def _imdecode(payload: np.ndarray, codec: str, fmt: str,
              max_pixels: int | None) -> np.ndarray:
    """Decode a whole JPEG/PNG file; refuse empty, truncated, corrupt or other file types,
    and images larger than ``max_pixels``."""
    if payload.size == 0:
        raise InvalidFrameError(f"CompressedImage '{fmt}' has no data: the publisher sent an "
                                "empty payload")
    head, size = payload[:8].tobytes(), payload.size
    if codec == "png":
        if not head.startswith(_PNG_MAGIC):
            raise _wrong_file(fmt, "PNG", head)
        if payload[-8:-4].tobytes() != b"IEND":  # the last chunk of every PNG
            raise InvalidFrameError(
                f"CompressedImage '{fmt}': PNG data of {size} bytes does not end with the IEND "
                "chunk: the message is truncated (check the network / bag for cut messages)")
    else:
        if not head.startswith(_JPEG_MAGIC):
            raise _wrong_file(fmt, "JPEG", head)
        tail = payload[-64:].tobytes()
        if b"\xff\xd9" not in tail:  # end-of-image marker (some cameras pad after it)
            raise InvalidFrameError(
                f"CompressedImage '{fmt}': JPEG data of {size} bytes has no end-of-image marker: "
                "the message is truncated (check the network / bag for cut messages)")
    if max_pixels is not None:
        size_of = _png_size if codec == "png" else _jpeg_size
        _check_size(fmt, size_of(payload), max_pixels)
    try:
        pixels = cv2.imdecode(payload, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        pixels, why = None, f" ({str(exc).strip().splitlines()[-1]})"
    else:
        why = ""
    if pixels is None or pixels.size == 0:
        raise InvalidFrameError(
            f"CompressedImage '{fmt}': the {codec.upper()} data ({size} bytes) is corrupt and "
            f"cannot be decoded{why}; check the publisher and the link")
    return pixels


def _png_size(payload: np.ndarray) -> tuple[int, int] | None:
    """``(width, height)`` from the IHDR chunk, which every PNG starts with."""
    head = payload[:24].tobytes()
    if len(head) < 24 or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


_JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # SOF0..SOF15


def _jpeg_size(payload: np.ndarray) -> tuple[int, int] | None:
    """``(width, height)`` from the first start-of-frame segment (None if there is none)."""
    data, i = payload.tobytes(), 2
    while i + 9 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _JPEG_FRAME_MARKERS:
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        i += 2 + struct.unpack(">H", data[i + 2:i + 4])[0]  # skip a segment by its length
    return None


def _check_size(fmt: str, size: tuple[int, int] | None, max_pixels: int) -> None:
    # Unreadable sizes are left to the decoder, which refuses corrupt headers itself.
    if size is not None and size[0] * size[1] > max_pixels:
        raise InvalidFrameError(
            f"CompressedImage '{fmt}' is {size[0]}x{size[1]}, more than max_image_pixels="
            f"{max_pixels}: lower the camera resolution or raise the parameter")


def _wrong_file(fmt: str, expected: str, head: bytes) -> InvalidFrameError:
    found = ("a PNG file" if head.startswith(_PNG_MAGIC) else
             "a JPEG file" if head.startswith(_JPEG_MAGIC) else f"bytes {head[:4].hex(' ')}")
    return InvalidFrameError(
        f"CompressedImage '{fmt}' should hold a {expected} file but starts with {found}: the "
        "format string does not match the payload, or the data is corrupt")


def _unknown_depth_format(fmt: str) -> UnsupportedEncodingError:
    return UnsupportedEncodingError(
        f"compressedDepth format '{fmt}' is not understood: expected '<16UC1|mono16|32FC1>; "
        "compressedDepth png' (or 'rvl', or Humble's '<encoding>; compressedDepth'); set the "
        "publisher's compressedDepth.format to png or rvl")


def _decode_depth(fmt: str, payload: np.ndarray, header: Any, max_pixels: int | None) -> Image:
    encoding, rest = _split_format(fmt)
    if not encoding:
        raise _unknown_depth_format(fmt)
    words = rest.split()
    if words == [DEPTH_TRANSPORT]:
        codec = "png"  # Humble and older: png was the only codec
    elif len(words) == 2 and words[0] == DEPTH_TRANSPORT and words[1] in ("png", "rvl"):
        codec = words[1]
    else:
        raise _unknown_depth_format(fmt)
    if encoding not in _DEPTH_ENCODINGS:
        raise UnsupportedEncodingError(
            f"compressedDepth '{fmt}' holds a {encoding} image; depth must be one of "
            f"{', '.join(_DEPTH_ENCODINGS)} (uint16 millimetres or float32 metres)")
    if payload.size <= _CONFIG_HEADER.size:
        raise InvalidFrameError(
            f"compressedDepth '{fmt}' has {payload.size} bytes, no room for the "
            f"{_CONFIG_HEADER.size}-byte ConfigHeader and an image: the message is truncated "
            "or empty")
    kind, quant_a, quant_b = _CONFIG_HEADER.unpack(payload[:_CONFIG_HEADER.size].tobytes())
    if kind != _INV_DEPTH:
        raise InvalidFrameError(
            f"compressedDepth '{fmt}': ConfigHeader format is {kind}, not INV_DEPTH (0): the "
            "payload was not written by compressed_depth_image_transport, or it is corrupt")
    body = payload[_CONFIG_HEADER.size:]
    if codec == "png":
        quantised = _imdecode(body, "png", fmt, max_pixels)
        if quantised.dtype != np.uint16 or quantised.ndim != 2:
            raise _mismatch(fmt, quantised, "16-bit 1-channel pixels")
    else:
        quantised = _rvl_decode(body, fmt, max_pixels)
    if encoding != "32FC1":
        return numpy_to_image(quantised, encoding, header)
    if not (np.isfinite(quant_a) and np.isfinite(quant_b) and quant_a > 0):
        raise InvalidFrameError(
            f"compressedDepth '{fmt}': ConfigHeader depthQuantA={quant_a}, depthQuantB={quant_b} "
            "cannot be inverse-depth parameters (A must be finite and > 0): the header is corrupt")
    return numpy_to_image(_dequantise(quantised, quant_a, quant_b), "32FC1", header)


def _dequantise(quantised: np.ndarray, quant_a: float, quant_b: float) -> np.ndarray:
    """Metres ``A / (q - B)`` in float32 arithmetic as the plugin's C++; NaN where ``q = 0``."""
    a, b = np.float32(quant_a), np.float32(quant_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = a / (quantised.astype(np.float32) - b)
    depth[quantised == 0] = np.nan
    return depth


# --------------------------------------------------------------------------- encoding

def compress_image(image: Image, format: str = "jpeg", *, jpeg_quality: int = 95,
                   png_level: int = 3) -> CompressedImage:
    """``image`` as ``compressed_image_transport``'s publisher sends it (defaults = its defaults).

    Args:
        image: rgb8, bgr8, rgba8, bgra8 or mono8 (jpeg or png); mono16/16UC1 (png only:
            JPEG keeps 8 bits).
        format: ``"jpeg"`` or ``"png"``.
        jpeg_quality: 1..100. png_level: 0..9.

    Raises:
        UnsupportedEncodingError: another encoding, or 16-bit with jpeg.
        ValueError: unknown ``format`` or a setting out of range.
    """
    if format not in ("jpeg", "png"):
        raise ValueError(f"format must be 'jpeg' or 'png', got {format!r}")
    if not 1 <= jpeg_quality <= 100 or not 0 <= png_level <= 9:
        raise ValueError(f"jpeg_quality must be in 1..100 and png_level in 0..9, got "
                         f"{jpeg_quality} and {png_level}")
    encoding = image.encoding
    pixels = image_to_numpy(image)
    if encoding in _COLOR_8BIT:
        pixels = cv2.cvtColor(pixels, _TO_BGR[encoding]) if encoding in _TO_BGR else pixels
        target = "bgr8"
    elif encoding == "mono8" or (encoding in _GREY and format == "png"):
        target = "mono8" if format == "jpeg" else ""  # the plugin names no target for grey png
    else:
        raise UnsupportedEncodingError(
            f"cannot compress a {encoding} image as {format}: use rgb8, bgr8, rgba8, bgra8 or "
            "mono8 (mono16/16UC1 with png)")
    if format == "jpeg":
        ok, data = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
    else:
        ok, data = cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, int(png_level)])
    if not ok:  # pragma: no cover - OpenCV refuses only unsupported layouts, checked above
        raise InvalidFrameError(f"OpenCV could not encode the {encoding} image as {format}")
    return _message(image, f"{encoding}; {format} compressed {target}", data.reshape(-1))


def compress_depth(image: Image, format: str = "png", *, depth_max: float = 10.0,
                   depth_quantization: float = 100.0, png_level: int = 3) -> CompressedImage:
    """``image`` as ``compressed_depth_image_transport``'s publisher sends it (its defaults).

    Args:
        image: 16UC1/mono16 (millimetres) or 32FC1 (metres).
        format: ``"png"`` or ``"rvl"``.
        depth_max: metres; farther pixels become 0 (no measurement).
        depth_quantization: ``z0`` of the inverse-depth code (32FC1 only).
        png_level: 0..9.

    The ConfigHeader's quantisation parameters are 0 for 16-bit images (the plugin
    leaves them uninitialised; its decoder ignores them). For 32FC1, pixels the
    plugin's ``uint16`` cast leaves undefined in C++ (depth <= 0, or nearer than
    ``A / (65535 - B)``, ~0.15 m with the defaults) get the value x86-64 builds
    produce: the low 16 bits of the int32 truncation, 0 for NaN/inf.

    Raises:
        UnsupportedEncodingError: not a depth encoding.
        ValueError: unknown ``format`` or a setting out of range.
    """
    if format not in ("png", "rvl"):
        raise ValueError(f"format must be 'png' or 'rvl', got {format!r}")
    if not 0 <= png_level <= 9 or not depth_max > 0 or not depth_quantization > 0:
        raise ValueError(f"png_level must be in 0..9, depth_max and depth_quantization > 0; "
                         f"got {png_level}, {depth_max}, {depth_quantization}")
    encoding = image.encoding
    if encoding not in _DEPTH_ENCODINGS:
        raise UnsupportedEncodingError(
            f"compressedDepth takes 16UC1, mono16 or 32FC1 images, got {encoding}")
    pixels = image_to_numpy(image)
    quant_a = quant_b = np.float32(0.0)
    if encoding == "32FC1":
        z0, d_max = np.float32(depth_quantization), np.float32(depth_max)
        quant_a = z0 * (z0 + np.float32(1.0))          # float arithmetic, as the C++
        quant_b = np.float32(1.0) - quant_a / d_max
        quantised = _quantise(pixels, quant_a, quant_b, d_max)
    else:
        # (unsigned short)(depth_max * 1000.0f): the millimetre cut-off (wraps above 65.535 m).
        max_mm = int(_x86_uint16(np.array([depth_max * 1000.0]))[0])
        quantised = np.where(pixels > max_mm, np.uint16(0), pixels).astype(np.uint16)
    if format == "png":
        ok, data = cv2.imencode(".png", quantised, [cv2.IMWRITE_PNG_COMPRESSION, int(png_level)])
        if not ok:  # pragma: no cover - a uint16 2-D array always encodes
            raise InvalidFrameError("OpenCV could not encode the depth image as png")
        body = data.reshape(-1).tobytes()
    else:
        body = _rvl_encode(quantised)
    head = _CONFIG_HEADER.pack(_INV_DEPTH, float(quant_a), float(quant_b))
    return _message(image, f"{encoding}; {DEPTH_TRANSPORT} {format}", head + body)


def _quantise(depth: np.ndarray, quant_a: np.float32, quant_b: np.float32,
              d_max: np.float32) -> np.ndarray:
    """``uint16(A / depth + B)`` where ``depth < depth_max``, else 0, in float32 arithmetic."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        code = quant_a / depth + quant_b
    near = depth < d_max  # False for NaN, as in C++
    return np.where(near, _x86_uint16(code), np.uint16(0))


def _x86_uint16(values: np.ndarray) -> np.ndarray:
    """C++ ``(unsigned short)`` of floats as x86-64 gcc builds do it: int32 truncation
    (INT_MIN for NaN, inf and out of range), then the low 16 bits."""
    in_range = np.isfinite(values) & (np.abs(values) < 2.0**31)
    truncated = np.where(in_range, np.trunc(np.where(in_range, values, 0.0)), -(2.0**31))
    return (truncated.astype(np.int64) & 0xFFFF).astype(np.uint16)


def _message(image: Image, fmt: str, data: Any) -> CompressedImage:
    msg = CompressedImage(format=fmt)
    stamp = image.header.stamp
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp.sec, stamp.nanosec
    msg.header.frame_id = image.header.frame_id
    buf = array.array("B")
    buf.frombytes(data.tobytes() if isinstance(data, np.ndarray) else bytes(data))
    msg.data = buf  # an array('B') is taken as is, without a per-byte check
    return msg


# --------------------------------------------------------------------------- RVL

# RVL (Wilson 2017) as rvl_codec.cpp writes it: uint32 cols, rows, then 32-bit little-endian
# words of 4-bit nibbles, first nibble in the top bits. Values are variable-length: 3 bits
# per nibble, low bits first, 0x8 = more nibbles follow. The value stream repeats
# (zero-run length, nonzero-run length, zigzag delta of each nonzero pixel from the previous
# nonzero pixel); the last word is padded with zero nibbles.
_RVL_SIZE = struct.Struct("<II")
_NIBBLE_SHIFTS = np.arange(28, -1, -4, dtype=np.uint32)  # stream order within a word
_RVL_MAX_NIBBLES = 10  # the C++ decoder's shifts are defined for 10 nibbles (30 bits)


def _rvl_encode(pixels: np.ndarray) -> bytes:
    """RVL bytes of ``uint16[H, W]`` pixels, identical to ``RvlCodec::CompressRVL``."""
    rows, cols = pixels.shape
    flat = pixels.reshape(-1)
    nonzero = flat != 0
    change = np.flatnonzero(nonzero[1:] != nonzero[:-1]) + 1
    lengths = np.diff(np.concatenate(([0], change, [flat.size]))) if flat.size else np.zeros(0, int)
    if flat.size and nonzero[0]:
        lengths = np.concatenate(([0], lengths))  # every pair starts with a zero run
    if lengths.size % 2:
        lengths = np.concatenate((lengths, [0]))  # ends in zeros: an empty nonzero run
    zeros, nonzeros = lengths[0::2].astype(np.int64), lengths[1::2].astype(np.int64)
    delta = np.diff(flat[nonzero].astype(np.int64), prepend=0)
    zigzag = np.where(delta >= 0, 2 * delta, -2 * delta - 1)
    # Interleave (zeros, nonzeros, deltas of that run...) for every run pair.
    heads = 2 * np.arange(zeros.size) + np.concatenate(([0], np.cumsum(nonzeros)[:-1]))
    stream = np.empty(2 * zeros.size + zigzag.size, np.int64)
    is_head = np.zeros(stream.size, bool)
    is_head[heads] = is_head[heads + 1] = True
    stream[heads], stream[heads + 1], stream[~is_head] = zeros, nonzeros, zigzag
    # Variable-length nibbles: count per value, then every nibble at once.
    counts = 1 + sum((stream >= 8**k).astype(np.int64) for k in range(1, 11))
    owner = np.repeat(np.arange(stream.size), counts)
    index = np.arange(owner.size) - np.repeat(np.cumsum(counts) - counts, counts)
    nibbles = (stream[owner] >> (3 * index)) & 7
    nibbles |= np.where(index < counts[owner] - 1, 8, 0)
    padded = np.zeros(-(-nibbles.size // 8) * 8, np.uint32)
    padded[:nibbles.size] = nibbles
    words = (padded.reshape(-1, 8) << _NIBBLE_SHIFTS).sum(axis=1, dtype=np.uint32)
    return _RVL_SIZE.pack(cols, rows) + words.astype("<u4").tobytes()


def _rvl_corrupt(fmt: str, why: str) -> InvalidFrameError:
    return InvalidFrameError(
        f"compressedDepth '{fmt}': RVL data {why}: the message is truncated or corrupt; "
        "check the publisher and the link, or use compressedDepth.format png")


def _rvl_values(data: np.ndarray, fmt: str) -> np.ndarray:
    """Every complete variable-length value of the nibble stream in ``data``, in order."""
    # Nibbles in stream order: the bytes of each little-endian word from the top one down,
    # high nibble first. uint8 work: a quarter of the memory traffic of uint32 shifts.
    by = data[:data.size // 4 * 4].reshape(-1, 4)[:, ::-1].reshape(-1)
    nibbles = np.empty(by.size * 2, np.uint8)
    nibbles[0::2], nibbles[1::2] = by >> 4, by & 15
    ends = np.flatnonzero(nibbles < 8)  # a value ends at a nibble without the 0x8 flag
    if ends.size == 0:
        raise _rvl_corrupt(fmt, "holds no complete value")
    starts = np.concatenate(([0], ends[:-1] + 1))
    counts = ends - starts + 1
    if counts.max() > _RVL_MAX_NIBBLES:
        raise _rvl_corrupt(fmt, f"has a value of {counts.max()} nibbles (at most "
                                f"{_RVL_MAX_NIBBLES})")
    used = (nibbles[:ends[-1] + 1] & 7).astype(np.int32)  # 10 nibbles = 30 bits: int32 fits
    index = np.arange(used.size, dtype=np.int32) - np.repeat(starts.astype(np.int32), counts)
    return np.add.reduceat(used << (3 * index), starts).astype(np.int64)


def _rvl_decode(body: np.ndarray, fmt: str, max_pixels: int | None = None) -> np.ndarray:
    """``uint16[rows, cols]`` of RVL bytes, as ``RvlCodec::DecompressRVL`` (with its size check)."""
    if body.size < _RVL_SIZE.size:
        raise _rvl_corrupt(fmt, f"has {body.size} bytes, fewer than its 8-byte size header")
    cols, rows = _RVL_SIZE.unpack(body[:_RVL_SIZE.size].tobytes())
    n_pixels = rows * cols
    if max_pixels is not None:
        _check_size(fmt, (cols, rows), max_pixels)
    # The plugin's sanity check: RVL never compresses more than ~4x (2 bytes per pixel).
    if n_pixels == 0 or n_pixels > 2**31 - 1 or n_pixels > body.size * 5:
        raise _rvl_corrupt(fmt, f"says the image is {cols}x{rows}, impossible for "
                                f"{body.size} bytes")
    values = _rvl_values(body[_RVL_SIZE.size:], fmt)
    # Walk the run headers: one step per run pair, not per pixel (the rest is vectorised).
    item, size, heads, pos, decoded = values.item, values.size, [], 0, 0
    while decoded < n_pixels:
        if pos + 1 >= size:
            raise _rvl_corrupt(fmt, f"ends after {decoded} of {n_pixels} pixels")
        heads.append(pos)
        nonzero_run = item(pos + 1)
        decoded += item(pos) + nonzero_run
        pos += 2 + nonzero_run
    if pos > size:
        raise _rvl_corrupt(fmt, f"ends inside its last run, before all {n_pixels} pixels")
    if decoded != n_pixels:
        raise _rvl_corrupt(fmt, f"runs cover {decoded} pixels, the header says "
                                f"{cols}x{rows} = {n_pixels}")
    heads = np.asarray(heads, np.int64)
    zeros, nonzeros = values[heads], values[heads + 1]
    run_before = np.cumsum(nonzeros) - nonzeros
    within = np.arange(int(nonzeros.sum())) - np.repeat(run_before, nonzeros)
    zigzag = values[np.repeat(heads + 2, nonzeros) + within]
    delta = (zigzag >> 1) ^ -(zigzag & 1)
    pixel_start = np.cumsum(zeros + nonzeros) - (zeros + nonzeros) + zeros
    out = np.zeros(n_pixels, np.uint16)
    out[np.repeat(pixel_start, nonzeros) + within] = np.cumsum(delta) & 0xFFFF
    return out.reshape(rows, cols)
