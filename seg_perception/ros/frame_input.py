"""Checks and conversion of one synchronised colour/depth/camera_info set into an RGBDFrame.

Every problem raises an error whose message names it and the fix; the node
turns that into a throttled warning and a diagnostics entry and skips the frame.
"""
from __future__ import annotations

from typing import Any

from ..errors import InvalidFrameError
from ..frames import RGBDFrame
from .conversions import camera_info_to_intrinsics, image_to_depth_m, image_to_rgb, stamp_to_ns

__all__ = ["frame_from_messages"]


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
    return RGBDFrame.create(image_to_rgb(color), image_to_depth_m(depth), intrinsics,
                            stamp_ns=stamp_to_ns(color.header.stamp),
                            frame_id=color.header.frame_id)
