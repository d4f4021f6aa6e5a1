"""Checks and conversion of one synchronised colour/depth/camera_info set into an RGBDFrame.

Every problem raises an error whose message names it and the fix; the node
turns that into a throttled warning and a diagnostics entry and skips the frame.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidFrameError
from ..frames import RGBDFrame, depth_to_metres
from .conversions import (DEPTH_ENCODINGS, camera_info_to_intrinsics, image_to_depth_m,
                          image_to_numpy, image_to_rgb, stamp_to_ns)

__all__ = ["depth_range_hint", "frame_advisories", "frame_from_messages"]

# RGBDFrame.create's default: a depth with fewer valid pixels is no frame.
_MIN_VALID_FRACTION = 1e-4


def frame_from_messages(color: Any, depth: Any, info: Any, max_pixels: int) -> RGBDFrame:
    """Build a validated frame from sensor_msgs Image, Image, CameraInfo."""
    for name, msg in (("colour", color), ("depth", depth)):
        if msg.width * msg.height == 0:
            raise InvalidFrameError(f"empty {name} image (0 pixels)")
        if msg.width * msg.height > max_pixels:
            raise InvalidFrameError(
                f"{name} image {msg.width}x{msg.height} exceeds max_image_pixels={max_pixels}: "
                "lower the camera resolution or raise the parameter")
    if color.header.frame_id != depth.header.frame_id:
        raise InvalidFrameError(
            f"colour frame_id '{color.header.frame_id}' differs from depth frame_id "
            f"'{depth.header.frame_id}': subscribe to the depth stream aligned to colour")
    if info.header.frame_id and info.header.frame_id != color.header.frame_id:
        raise InvalidFrameError(
            f"camera_info frame_id '{info.header.frame_id}' differs from the colour image's "
            f"'{color.header.frame_id}': use the colour stream's camera_info")
    intrinsics = camera_info_to_intrinsics(info)
    rgb = image_to_rgb(color)  # rgb8: a view of color.data
    stamp_ns, frame_id = stamp_to_ns(color.header.stamp), color.header.frame_id
    if depth.encoding in DEPTH_ENCODINGS and depth.encoding != "32FC1":
        # Millimetres: the valid pixels counted on the integers (several times faster
        # than on floats), converted to metres once (RGBDFrame.create would convert the
        # metres again: a copy and a NaN pass over a depth that cannot hold NaN).
        raw = image_to_numpy(depth)
        depth_m = depth_to_metres(raw)
        valid = np.count_nonzero(raw)
    else:
        depth_m = image_to_depth_m(depth)
        valid = np.count_nonzero(depth_m)
    height, width = depth_m.shape
    if (rgb.dtype == np.uint8 and rgb.shape == (height, width, 3) and rgb.flags.c_contiguous
            and (intrinsics.width, intrinsics.height) == (width, height)
            and float(valid) / depth_m.size >= _MIN_VALID_FRACTION):
        # What RGBDFrame.create returns for these arrays, without its second pass.
        return RGBDFrame(rgb=rgb, depth=depth_m, intrinsics=intrinsics, stamp_ns=stamp_ns,
                         frame_id=frame_id, valid_depth_fraction=float(valid) / depth_m.size)
    # Anything else (grey, sizes that differ, no valid depth): create converts it or
    # raises the error naming the problem.
    return RGBDFrame.create(rgb, depth_m, intrinsics, stamp_ns=stamp_ns, frame_id=frame_id,
                            min_valid_fraction=_MIN_VALID_FRACTION)


def frame_advisories(color: Any, info: Any) -> dict[str, str]:
    """Problems that do not stop a frame but make its results less useful:
    category -> message naming the problem and the fix (empty when all is well)."""
    advice: dict[str, str] = {}
    if not color.header.frame_id:
        advice["empty_frame_id"] = (
            "the camera's images have an empty frame_id: objects, clouds and markers are "
            "published in frame '' that tf and RViz cannot place; set the driver's frame id")
    distortion = np.asarray(info.d, np.float64)
    if distortion.size and np.any(np.abs(distortion) > 1e-6):
        advice["distortion_ignored"] = (
            f"camera_info has non-zero {info.distortion_model or 'plumb_bob'} distortion "
            f"({np.round(distortion[:5], 4).tolist()}); the pipeline assumes a pinhole "
            "camera: feed it rectified images (image_proc) or a driver stream without "
            "distortion, or 3D positions are off towards the image edges")
    return advice


def depth_range_hint(depth_m: np.ndarray, min_depth: float, max_depth: float) -> str:
    """Why a frame may have no objects: '' unless almost no depth lies in
    ``[min_depth, max_depth]`` (metres), then a message with the depth actually seen."""
    valid = depth_m[depth_m > 0]
    if valid.size == 0:
        return ("the depth image has no valid pixel: is the depth stream aligned to colour "
                "and the sensor unobstructed?")
    in_range = np.count_nonzero((valid >= min_depth) & (valid <= max_depth))
    if in_range >= 0.01 * depth_m.size:
        return ""
    lo, med, hi = np.percentile(valid, [1, 50, 99])
    return (f"almost no depth in [min_depth={min_depth:g}, max_depth={max_depth:g}] m: the "
            f"depth seen spans {lo:.2f}-{hi:.2f} m (median {med:.2f}); adjust min_depth/"
            "max_depth, or check the depth units (16UC1 is read as millimetres, 32FC1 as "
            "metres)")
