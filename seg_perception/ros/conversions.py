"""ROS message <-> numpy / core types, vectorised and zero-copy where the layout allows.

Images (``sensor_msgs/Image``)
    Supported encodings and the arrays they map to (``H x W`` = height x width):

    ============  ====================  ==========================================
    encoding      array                 meaning
    ============  ====================  ==========================================
    rgb8, bgr8    ``uint8[H, W, 3]``    colour, channel order as named
    rgba8, bgra8  ``uint8[H, W, 4]``    colour with alpha
    mono8         ``uint8[H, W]``       grey (also masks, class labels)
    mono16        ``uint16[H, W]``      grey, or depth in millimetres
    16UC1         ``uint16[H, W]``      depth in millimetres (0 = no measurement)
    32FC1         ``float32[H, W]``     depth in metres (NaN/inf = no measurement)
    ============  ====================  ==========================================

    :func:`image_to_numpy` returns a **view of** ``msg.data`` (no copy) when the
    rows are not padded (``step == width * bytes_per_pixel``) and the message's
    byte order is the host's (always true for 8-bit encodings). It copies once
    when rows are padded (the result is C-contiguous) and when a 16/32-bit image
    has the other byte order (the copy is byte-swapped to native order).
    ``copy=True`` always returns an array that owns its memory.

    When ROS 2's ``cv_bridge`` is importable, :func:`image_to_rgb` uses it for
    colour encodings outside the table (Bayer, YUV, ...). The encodings in the
    table always take this module's own path, whose results are identical to
    ``CvBridge``'s (tested where ``cv_bridge`` is installed), so what a node
    computes never depends on whether cv_bridge is present.

Camera info
    ``sensor_msgs/CameraInfo`` <-> :class:`~seg_perception.frames.CameraIntrinsics`.

Point clouds (``sensor_msgs/PointCloud2``)
    Written as an unorganised cloud (``height = 1``) with fields ``x, y, z``
    (float32, metres), optionally ``rgb`` (float32 holding packed ``0x00RRGGBB``,
    as RViz and PCL expect) and ``label`` (uint32). Read back from any field
    order, offsets, datatypes, point padding, row padding and byte order.

Objects (``seg_perception/ObjectInstanceArray``)
    :func:`objects_msg_to_dicts` reads one back. Building it from a Scene, like every
    per-frame output message, is :mod:`seg_perception.ros.outputs`' job.
    ``seg_perception.msg`` is imported inside the functions, so everything else here
    works before the messages are built.
"""
from __future__ import annotations

import array
import sys
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from std_msgs.msg import Header

try:  # a core dependency; the numpy fallback below gives the same pixels, 50x slower
    import cv2
except ImportError:  # pragma: no cover
    cv2 = None

from ..errors import InvalidFrameError, UnsupportedEncodingError
from ..frames import CameraIntrinsics, depth_to_metres
from ..geometry.transforms import quaternion_to_rotation_matrix
from .message_maker import bare_message, copy_header

__all__ = [
    "COLOR_ENCODINGS",
    "CloudPayload",
    "DEPTH_ENCODINGS",
    "SUPPORTED_ENCODINGS",
    "camera_info_to_intrinsics",
    "cloud_message",
    "cloud_payload",
    "cloud_to_points",
    "geometry_status_name",
    "image_to_depth_m",
    "image_to_numpy",
    "image_to_rgb",
    "intrinsics_to_camera_info",
    "make_header",
    "ns_to_stamp",
    "numpy_to_image",
    "objects_msg_to_dicts",
    "image_message",
    "pack_rgb",
    "points_to_cloud",
    "stamp_to_ns",
    "unpack_rgb",
]

_HOST_BIG_ENDIAN = sys.byteorder == "big"


# encoding -> (element dtype, channels)
_ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
}
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(_ENCODINGS)
"""Encodings :func:`image_to_numpy` and :func:`numpy_to_image` handle."""
COLOR_ENCODINGS: tuple[str, ...] = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")
"""Encodings :func:`image_to_rgb` converts (mono8 is replicated to grey RGB)."""
DEPTH_ENCODINGS: tuple[str, ...] = ("16UC1", "mono16", "32FC1")
"""Encodings :func:`image_to_depth_m` converts: millimetres (uint16) or metres (float32)."""

# PointField datatype -> numpy type code (byte order added per message).
_FIELD_TYPES: dict[int, str] = {
    PointField.INT8: "i1", PointField.UINT8: "u1", PointField.INT16: "i2",
    PointField.UINT16: "u2", PointField.INT32: "i4", PointField.UINT32: "u4",
    PointField.FLOAT32: "f4", PointField.FLOAT64: "f8",
}


# --------------------------------------------------------------------------- headers

def stamp_to_ns(stamp: Any) -> int:
    """Nanoseconds since the epoch of a ``builtin_interfaces/Time`` (``sec``, ``nanosec``)."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp(ns: int) -> Time:
    """``builtin_interfaces/Time`` of ``ns`` nanoseconds (``nanosec`` always in [0, 1e9)).

    Raises:
        ValueError: the seconds do not fit the message's int32 ``sec``.
    """
    sec, nanosec = divmod(int(ns), 1_000_000_000)
    if not -2**31 <= sec < 2**31:
        raise ValueError(
            f"stamp {ns} ns is out of the int32 seconds range of builtin_interfaces/Time")
    return Time(sec=sec, nanosec=nanosec)


def make_header(stamp_ns: int = 0, frame_id: str = "") -> Header:
    """``std_msgs/Header`` with the stamp ``stamp_ns`` (nanoseconds) and ``frame_id``."""
    return Header(stamp=ns_to_stamp(stamp_ns), frame_id=frame_id)


# --------------------------------------------------------------------------- images

def _encoding_layout(encoding: str) -> tuple[np.dtype, int]:
    try:
        return _ENCODINGS[encoding]
    except KeyError:
        raise UnsupportedEncodingError(
            f"image encoding '{encoding}' is not supported; supported encodings: "
            f"{', '.join(SUPPORTED_ENCODINGS)}") from None


def _byte_view(data: Any) -> np.ndarray:
    """``uint8[n]`` over a message's ``data`` without copying when it is a buffer."""
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except TypeError:  # a plain list (messages built with field checks off)
        return np.asarray(data, dtype=np.uint8)


def _byte_order(is_bigendian: Any) -> str:
    return ">" if bool(is_bigendian) else "<"


def image_to_numpy(msg: Image, *, copy: bool = False) -> np.ndarray:
    """The pixels of ``msg`` as an array (see the module docstring for the shapes).

    Args:
        msg: ``sensor_msgs/Image`` in one of :data:`SUPPORTED_ENCODINGS`.
        copy: return an array owning its memory even where a view is possible.

    Returns:
        ``uint8/uint16/float32[H, W]`` or ``[H, W, C]`` in native byte order.
        Without ``copy`` and for unpadded rows in host byte order this is a
        view of ``msg.data``: writing to it writes to the message, and while
        the view lives ``msg.data`` cannot be resized (BufferError).

    Raises:
        UnsupportedEncodingError: the encoding is not in :data:`SUPPORTED_ENCODINGS`.
        InvalidFrameError: ``step`` is smaller than a row, or ``data`` does not
            hold ``step * height`` bytes.

    Example:
        >>> img = numpy_to_image(np.zeros((2, 3), np.uint16), "16UC1")
        >>> image_to_numpy(img).shape
        (2, 3)
    """
    dtype, channels = _encoding_layout(msg.encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    pixel_bytes = channels * dtype.itemsize
    row_bytes = width * pixel_bytes
    if step < row_bytes:
        raise InvalidFrameError(
            f"{msg.encoding} image step {step} is smaller than width * bytes per pixel = "
            f"{width} * {pixel_bytes} = {row_bytes}: the message header is inconsistent")
    raw = _byte_view(msg.data)
    if raw.size != step * height:
        raise InvalidFrameError(
            f"{msg.encoding} image data has {raw.size} bytes but step * height = "
            f"{step} * {height} = {step * height}: the message is truncated or its "
            "height/step are wrong")
    src_dtype = dtype.newbyteorder(_byte_order(msg.is_bigendian)) if dtype.itemsize > 1 else dtype
    copied = False
    if step == row_bytes:
        pixels = raw.view(src_dtype)
    else:  # padded rows: drop the padding, one copy into a contiguous array
        pixels = np.ascontiguousarray(raw.reshape(height, step)[:, :row_bytes]).view(src_dtype)
        copied = True
    shape = (height, width) if channels == 1 else (height, width, channels)
    pixels = pixels.reshape(shape)
    if not src_dtype.isnative:
        return pixels.astype(dtype)  # byte-swapping copy into native order
    if copy and not copied:
        return pixels.copy()
    return pixels


def numpy_to_image(image: np.ndarray, encoding: str, header: Header | None = None) -> Image:
    """A ``sensor_msgs/Image`` holding ``image`` (one copy into ``msg.data``).

    Args:
        image: ``[H, W]`` (or ``[H, W, 1]``) for 1-channel encodings, ``[H, W, C]``
            otherwise, with the dtype of ``encoding`` (see the module docstring);
            any strides and byte order.
        encoding: one of :data:`SUPPORTED_ENCODINGS`; channel order is not
            changed (pass BGR pixels with ``"bgr8"``).
        header: copied into the message (an empty header when None).

    Returns:
        The message, unpadded (``step = W * bytes_per_pixel``), in host byte order.

    Raises:
        UnsupportedEncodingError: unknown ``encoding``.
        InvalidFrameError: the array's dtype or channel count does not match ``encoding``.
    """
    dtype, channels = _encoding_layout(encoding)
    arr = np.asarray(image)
    if channels == 1 and arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    shape_ok = arr.ndim == 2 if channels == 1 else (arr.ndim == 3 and arr.shape[2] == channels)
    if not shape_ok or arr.dtype.newbyteorder("=") != dtype:
        wanted = "[H, W]" if channels == 1 else f"[H, W, {channels}]"
        raise InvalidFrameError(
            f"encoding {encoding} needs a {dtype.name}{wanted} array, got {arr.dtype.name} "
            f"shape {arr.shape}; convert it first (e.g. .astype(np.{dtype.name}))")
    arr = np.ascontiguousarray(arr, dtype=dtype)  # native order, no copy when already so
    height, width = arr.shape[:2]
    data = array.array("B")
    data.frombytes(arr.reshape(-1).view(np.uint8))
    return image_message(data, height, width, encoding, width * channels * dtype.itemsize,
                  copy_header(header))


def image_message(data: array.array, height: int, width: int, encoding: str, step: int,
                  header: Header) -> Image:
    """An Image of ``data`` as it is (no copy, no field checks)."""
    return bare_message(Image, {"header": header, "height": int(height), "width": int(width),
                         "encoding": encoding, "is_bigendian": int(_HOST_BIG_ENDIAN),
                         "step": int(step), "data": data})


_CV2_TO_RGB = ({"bgr8": cv2.COLOR_BGR2RGB, "rgba8": cv2.COLOR_RGBA2RGB,
                "bgra8": cv2.COLOR_BGRA2RGB, "mono8": cv2.COLOR_GRAY2RGB}
               if cv2 is not None else {})


@lru_cache(maxsize=1)
def _cv_bridge() -> Any | None:
    """A ``cv_bridge.CvBridge`` when ROS 2's cv_bridge is installed, else None."""
    try:
        from cv_bridge import CvBridge
    except ImportError:
        return None
    return CvBridge()


def image_to_rgb(msg: Image) -> np.ndarray:
    """``uint8[H, W, 3]`` RGB of a colour (or mono8 grey) image.

    rgb8 is returned as a view of ``msg.data`` when unpadded; the other
    encodings are converted with one copy. Encodings outside
    :data:`COLOR_ENCODINGS` (Bayer, YUV, ...) go through ``cv_bridge`` when it
    is installed.

    Raises:
        UnsupportedEncodingError: a depth encoding, or an encoding neither this
            module nor cv_bridge can convert; the message lists the supported ones.
    """
    encoding = msg.encoding
    if encoding not in COLOR_ENCODINGS:
        bridge = _cv_bridge() if encoding not in _ENCODINGS else None
        if bridge is not None:
            try:
                return np.ascontiguousarray(bridge.imgmsg_to_cv2(msg, desired_encoding="rgb8"))
            except Exception as exc:  # cv_bridge raises CvBridgeError or cv2.error
                raise UnsupportedEncodingError(
                    f"image encoding '{encoding}' cannot be converted to rgb8 by cv_bridge "
                    f"({exc}); supported colour encodings: {', '.join(COLOR_ENCODINGS)}") from None
        kind = "a depth encoding, not colour" if encoding in _ENCODINGS else "not supported"
        raise UnsupportedEncodingError(
            f"image encoding '{encoding}' is {kind}; colour images must be one of "
            f"{', '.join(COLOR_ENCODINGS)} (install ROS 2 cv_bridge for Bayer/YUV)")
    pixels = image_to_numpy(msg)
    if encoding == "rgb8":
        return pixels
    if cv2 is not None and pixels.size:
        return cv2.cvtColor(pixels, _CV2_TO_RGB[encoding])
    if encoding == "bgr8":
        return np.ascontiguousarray(pixels[:, :, ::-1])
    if encoding == "rgba8":
        return np.ascontiguousarray(pixels[:, :, :3])
    if encoding == "bgra8":
        return np.ascontiguousarray(pixels[:, :, 2::-1])
    return np.repeat(pixels[:, :, None], 3, axis=2)  # mono8


def image_to_depth_m(msg: Image, depth_scale: float | None = None) -> np.ndarray:
    """``float32[H, W]`` depth in metres, 0 = no measurement.

    16UC1 and mono16 are millimetres (``depth_scale`` 0.001 unless given),
    32FC1 is metres; NaN, inf and negative values become 0
    (:func:`seg_perception.frames.depth_to_metres`).

    Raises:
        UnsupportedEncodingError: not one of :data:`DEPTH_ENCODINGS`.
    """
    if msg.encoding not in DEPTH_ENCODINGS:
        raise UnsupportedEncodingError(
            f"image encoding '{msg.encoding}' is not a depth encoding; depth images must be "
            f"one of {', '.join(DEPTH_ENCODINGS)} (uint16 millimetres or float32 metres)")
    return depth_to_metres(image_to_numpy(msg), depth_scale)


# --------------------------------------------------------------------------- camera info

def camera_info_to_intrinsics(msg: CameraInfo) -> CameraIntrinsics:
    """:class:`CameraIntrinsics` from ``msg.k``, ``msg.d``, size and distortion model.

    Raises:
        InvalidFrameError: zero/negative focal length (an uncalibrated camera
            publishes K all zero) or size; the message names the value and frame.
    """
    try:
        return CameraIntrinsics.from_matrix(
            np.asarray(msg.k, np.float64), int(msg.width), int(msg.height),
            distortion=[float(d) for d in msg.d],
            distortion_model=msg.distortion_model or "plumb_bob")
    except InvalidFrameError as exc:
        raise InvalidFrameError(
            f"camera_info of frame '{msg.header.frame_id}': {exc}") from None


def intrinsics_to_camera_info(intrinsics: CameraIntrinsics,
                              header: Header | None = None) -> CameraInfo:
    """``sensor_msgs/CameraInfo`` of an unrectified camera: K, D, R = I, P = [K | 0]."""
    K = intrinsics.matrix
    P = np.zeros((3, 4), np.float64)
    P[:, :3] = K
    return CameraInfo(header=copy_header(header), width=intrinsics.width,
                      height=intrinsics.height, distortion_model=intrinsics.distortion_model,
                      d=[float(d) for d in intrinsics.distortion], k=K.reshape(-1),
                      r=np.eye(3).reshape(-1), p=P.reshape(-1))


# --------------------------------------------------------------------------- point clouds

def pack_rgb(colors: np.ndarray) -> np.ndarray:
    """``uint32[N]`` ``0x00RRGGBB`` of ``uint8[N, 3]`` RGB (view as float32 for a cloud's rgb)."""
    c = np.asarray(colors).astype(np.uint32, copy=False)
    return (c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2]


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """``uint8[N, 3]`` RGB of ``uint32[N]`` ``0x00RRGGBB`` (the alpha byte is ignored)."""
    p = np.asarray(packed, np.uint32)
    return np.stack([(p >> 16) & 0xFF, (p >> 8) & 0xFF, p & 0xFF], axis=1).astype(np.uint8)


@dataclass(frozen=True)
class CloudPayload:
    """A PointCloud2's contents without its header: what :func:`points_to_cloud` and
    the CDR form of ``~/objects`` (:mod:`seg_perception.ros.outputs`) both write."""

    data: array.array  # uint8, point_step * width bytes, host byte order
    width: int
    point_step: int
    fields: tuple[tuple[str, int, int], ...]  # (name, offset, PointField datatype)
    is_dense: bool


def points_to_cloud(points: np.ndarray, header: Header | None = None,
                    colors: np.ndarray | None = None,
                    labels: np.ndarray | int | None = None) -> PointCloud2:
    """An unorganised ``sensor_msgs/PointCloud2`` (``height = 1``, ``width = N``).

    Args:
        points: ``float[N, 3]`` metres in ``header.frame_id`` (stored as float32).
        header: copied into the message (an empty header when None).
        colors: ``uint8[N, 3]`` RGB, stored as field ``rgb``: a float32 whose bits
            are ``0x00RRGGBB``, as RViz's RGB8 colour transformer expects.
        labels: ``int[N]`` (or one int for all points) in ``[0, 2**32)``, stored
            as field ``label`` (uint32), e.g. the instance id per point.

    Returns:
        Fields ``x, y, z`` at offsets 0, 4, 8, then ``rgb`` and ``label`` when
        given, packed without padding; ``is_dense`` is True when every
        coordinate is finite; host byte order.

    Raises:
        InvalidFrameError: shapes disagree, or colours/labels are out of range.

    Example:
        >>> cloud = points_to_cloud(np.zeros((4, 3), np.float32), colors=np.zeros((4, 3), np.uint8))
        >>> [f.name for f in cloud.fields], cloud.point_step, cloud.row_step
        (['x', 'y', 'z', 'rgb'], 16, 64)
    """
    return cloud_message(cloud_payload(points, colors, labels), header)


def cloud_message(payload: CloudPayload, header: Header | None = None) -> PointCloud2:
    """The PointCloud2 of ``payload`` (its data array taken as it is, not copied)."""
    return bare_message(PointCloud2, {
        "header": copy_header(header), "height": 1, "width": payload.width,
        "fields": [bare_message(PointField, {"name": name, "offset": offset,
                                             "datatype": datatype, "count": 1})
                   for name, offset, datatype in payload.fields],
        "is_bigendian": _HOST_BIG_ENDIAN, "point_step": payload.point_step,
        "row_step": payload.point_step * payload.width, "data": payload.data,
        "is_dense": payload.is_dense})


def cloud_payload(points: np.ndarray, colors: np.ndarray | None = None,
                  labels: np.ndarray | int | None = None) -> CloudPayload:
    """The data and layout :func:`points_to_cloud` describes (same arguments and checks)."""
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise InvalidFrameError(f"points must be float[N, 3], got shape {pts.shape}")
    n = pts.shape[0]
    packed = label_values = None
    if colors is not None:
        c = np.asarray(colors)
        if c.shape != (n, 3):
            raise InvalidFrameError(
                f"colors must be uint8[{n}, 3] like points, got shape {c.shape}")
        if c.dtype != np.uint8 and (c.size and (c.min() < 0 or c.max() > 255)):
            raise InvalidFrameError(f"colors must be in [0, 255], got {c.dtype} values "
                                    f"{c.min()}..{c.max()}")
        packed = pack_rgb(c)
    if labels is not None:
        lab = np.asarray(labels)
        if lab.ndim == 0:
            lab = np.full(n, lab)
        if lab.shape != (n,):
            raise InvalidFrameError(f"labels must be int[{n}] like points, got shape {lab.shape}")
        if lab.size and (lab.min() < 0 or lab.max() >= 2**32):
            raise InvalidFrameError(f"labels must be in [0, 2**32), got {lab.min()}..{lab.max()}")
        label_values = lab
    record, fields = _cloud_layout(packed is not None, label_values is not None)
    # Fill the message's own buffer through a structured view: no temporary cloud copy.
    data = array.array("B", b"\0") * (record.itemsize * n)
    structured = np.frombuffer(data, dtype=record)
    structured["x"], structured["y"], structured["z"] = pts[:, 0], pts[:, 1], pts[:, 2]
    if packed is not None:
        structured["rgb"] = packed
    if label_values is not None:
        structured["label"] = label_values
    del structured  # release the buffer export before the message takes the array
    return CloudPayload(data, int(n), record.itemsize, fields, bool(np.isfinite(pts).all()))


@lru_cache(maxsize=None)
def _cloud_layout(rgb: bool, label: bool) -> tuple[np.dtype, tuple[tuple[str, int, int], ...]]:
    """The point record (x, y, z float32, then rgb, label uint32) and its PointFields.

    rgb is written as uint32 so the bits are copied exactly; its field says FLOAT32
    for RViz."""
    columns = [("x", "f4", PointField.FLOAT32), ("y", "f4", PointField.FLOAT32),
               ("z", "f4", PointField.FLOAT32)]
    if rgb:
        columns.append(("rgb", "u4", PointField.FLOAT32))
    if label:
        columns.append(("label", "u4", PointField.UINT32))
    record = np.dtype({"names": [c[0] for c in columns], "formats": [c[1] for c in columns]})
    return record, tuple((name, 4 * i, datatype) for i, (name, _, datatype) in enumerate(columns))


def cloud_to_points(msg: PointCloud2) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The points, colours and labels of any ``sensor_msgs/PointCloud2``.

    Fields are found by name (``x``, ``y``, ``z``; ``rgb`` or ``rgba``; ``label``)
    at their declared offsets and datatypes, so any field order, extra fields,
    padding inside ``point_step``, padding at row ends (``row_step``) and either
    byte order work. Organised clouds are flattened row by row; invalid (NaN)
    points are kept.

    Returns:
        points: ``float32[N, 3]``, ``N = height * width``.
        colors: ``uint8[N, 3]`` RGB unpacked from ``0x00RRGGBB``, or None without an rgb field.
        labels: ``int64[N]``, or None without a ``label`` field.

    Raises:
        InvalidFrameError: x/y/z missing, a field outside ``point_step``,
            ``row_step`` or the data length inconsistent (the numbers are named).
    """
    height, width = int(msg.height), int(msg.width)
    point_step, row_step = int(msg.point_step), int(msg.row_step)
    by_name = {f.name: f for f in msg.fields}
    missing = [axis for axis in "xyz" if axis not in by_name]
    if missing:
        raise InvalidFrameError(
            f"PointCloud2 has no field(s) {', '.join(missing)}; its fields are "
            f"{[f.name for f in msg.fields]}")
    order = _byte_order(msg.is_bigendian)
    wanted = [("x", "x"), ("y", "y"), ("z", "z")]
    color_name = next((name for name in ("rgb", "rgba") if name in by_name), None)
    if color_name is not None:
        wanted.append(("rgb", color_name))
    if "label" in by_name:
        wanted.append(("label", "label"))
    names, formats, offsets = [], [], []
    for key, name in wanted:
        field = by_name[name]
        code = _FIELD_TYPES.get(int(field.datatype))
        if code is None:
            raise InvalidFrameError(
                f"PointCloud2 field '{name}' has unknown datatype {field.datatype}")
        if key == "rgb":
            if int(np.dtype(code).itemsize) != 4:
                raise InvalidFrameError(
                    f"PointCloud2 field '{name}' must be a 4-byte packed 0x00RRGGBB "
                    f"(FLOAT32 or UINT32), got datatype {field.datatype}")
            code = "u4"  # read the packed bits, whatever the declared 4-byte type
        itemsize = np.dtype(code).itemsize
        if field.offset + itemsize > point_step:
            raise InvalidFrameError(
                f"PointCloud2 field '{name}' at offset {field.offset} ({itemsize} bytes) "
                f"does not fit in point_step {point_step}")
        names.append(key)
        formats.append(order + code)
        offsets.append(int(field.offset))
    if point_step * width > row_step:
        raise InvalidFrameError(
            f"PointCloud2 row_step {row_step} is smaller than point_step * width = "
            f"{point_step} * {width} = {point_step * width}")
    raw = _byte_view(msg.data)
    if raw.size != row_step * height:
        raise InvalidFrameError(
            f"PointCloud2 data has {raw.size} bytes but row_step * height = "
            f"{row_step} * {height} = {row_step * height}")
    if row_step != point_step * width:  # padded rows: drop the padding (one copy)
        raw = np.ascontiguousarray(raw.reshape(height, row_step)[:, :point_step * width])
        raw = raw.reshape(-1)
    records = raw.view(np.dtype({"names": names, "formats": formats, "offsets": offsets,
                                 "itemsize": point_step}))
    n = height * width
    points = np.empty((n, 3), np.float32)
    points[:, 0], points[:, 1], points[:, 2] = records["x"], records["y"], records["z"]
    colors = unpack_rgb(records["rgb"]) if color_name is not None else None
    labels = records["label"].astype(np.int64) if "label" in by_name else None
    return points, colors, labels


# --------------------------------------------------------------------------- objects

def geometry_status_name(obj_msg: Any) -> str:
    """An ``ObjectInstance``'s ``geometry_status`` as ``SceneObject.geometry_status`` names
    it (``"ok"``, ``"out_of_range"``, ...; ``"unknown"`` for a value it does not know)."""
    return _status_names(type(obj_msg)).get(int(obj_msg.geometry_status), "unknown")


@lru_cache(maxsize=None)
def _status_names(msg_type: Any) -> dict[int, str]:
    return {getattr(msg_type, name): name[len("GEOMETRY_"):].lower()
            for name in dir(msg_type) if name.startswith("GEOMETRY_")}


def objects_msg_to_dicts(msg: Any) -> dict[str, Any]:
    """Plain Python/numpy view of a ``seg_perception/ObjectInstanceArray`` (for tests and tools).

    Returns:
        ``{"stamp_ns", "frame_id", "image_width", "image_height", "support_plane"
        (float64[4] or None), "backend", "device", "objects": [...]}``; each object
        is a dict with the message's scalar fields plus ``roi`` ``(x, y, w, h)``,
        ``box_2d`` ``float32[4]`` xyxy, ``mask_roi`` ``bool[h, w]``, ``mask``
        ``bool[H, W]`` (pasted back into the image), ``centroid``, ``box_center``,
        ``box_size``, ``top_normal``, ``grasp_point``, ``grasp_approach``,
        ``grasp_axis`` (``float64[3]``), ``box_orientation`` ``float64[4]`` xyzw,
        ``box_rotation`` ``float64[3, 3]``, ``grasp_width``, and ``points``,
        ``colors`` from the cloud, ``has_3d`` and ``geometry_status`` (the name, as
        ``SceneObject.geometry_status``: ``"ok"``, ``"out_of_range"``, ...).
    """

    img_w, img_h = int(msg.image_width), int(msg.image_height)
    objects = []
    for inst in msg.objects:
        roi = inst.roi
        x, y, w, h = int(roi.x_offset), int(roi.y_offset), int(roi.width), int(roi.height)
        mask_roi = image_to_numpy(inst.mask).reshape(h, w) > 0
        mask = np.zeros((img_h, img_w), bool)
        mask[y:y + h, x:x + w] = mask_roi
        q = inst.box_pose.orientation
        orientation = np.array([q.x, q.y, q.z, q.w], np.float64)
        points, colors, _ = cloud_to_points(inst.cloud)

        def v(m: Any) -> np.ndarray:
            return np.array([m.x, m.y, m.z], np.float64)

        objects.append({
            "id": int(inst.id), "track_id": int(inst.track_id), "track_age": int(inst.track_age),
            "class_id": int(inst.class_id), "class_name": inst.class_name,
            "score": float(inst.score), "roi": (x, y, w, h),
            "has_3d": bool(inst.has_3d),
            "geometry_status": geometry_status_name(inst),
            "box_2d": np.array([x, y, x + w, y + h], np.float32),
            "mask_roi": mask_roi, "mask": mask,
            "centroid": v(inst.centroid), "box_center": v(inst.box_pose.position),
            "box_orientation": orientation,
            "box_rotation": (quaternion_to_rotation_matrix(orientation)
                             if np.any(orientation) else np.eye(3)),
            "box_size": v(inst.box_size), "top_normal": v(inst.top_normal),
            "grasp_point": v(inst.grasp_point), "grasp_approach": v(inst.grasp_approach),
            "grasp_axis": v(inst.grasp_axis), "grasp_width": float(inst.grasp_width),
            "points": points, "colors": colors,
        })
    return {
        "stamp_ns": stamp_to_ns(msg.header.stamp), "frame_id": msg.header.frame_id,
        "image_width": img_w, "image_height": img_h,
        "support_plane": (np.asarray(msg.support_plane, np.float64).copy()
                          if msg.has_support_plane else None),
        "backend": msg.backend, "device": msg.device, "objects": objects,
    }
