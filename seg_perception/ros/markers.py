"""RViz markers for a processed scene: a box, a label and a grasp arrow per object."""
from __future__ import annotations

from typing import Any

import numpy as np
from geometry_msgs.msg import Point
from visualization_msgs.msg import Marker, MarkerArray

from ..geometry.transforms import rotation_matrix_to_quaternion
from ..results import Scene
from ..scene_cloud import display_id
from ..visualize import color_for_id

__all__ = ["scene_to_markers"]


def scene_to_markers(scene: Scene, header: Any, namespace: str = "seg_perception",
                     lifetime_s: float = 0.0) -> MarkerArray:
    """Box (CUBE), text (id, class, score) and top-down grasp arrow for each object with 3D.

    Starts with a DELETEALL marker so objects that vanished disappear in RViz.
    Objects without 3D (``has_3d`` false: depth missing, out of range, too few
    points) get no marker at all: they have no place in 3D, and a box or arrow at
    the frame's origin would show an obstacle that is not there.
    """
    out = MarkerArray()
    clear = Marker(header=header, ns=namespace, action=Marker.DELETEALL)
    out.markers.append(clear)
    with_3d = [obj for obj in scene.objects if obj.has_3d]
    if not with_3d:
        return out
    # One batched conversion: per-object calls cost more than the markers themselves.
    quaternions = rotation_matrix_to_quaternion(np.stack([o.geometry.box_rotation
                                                          for o in with_3d]))
    for obj, (qx, qy, qz, qw) in zip(with_3d, quaternions.tolist()):
        g = obj.geometry
        ident = display_id(obj)
        r, gr, b = (c / 255.0 for c in color_for_id(ident))
        box = Marker(header=header, ns=f"{namespace}/boxes", id=ident, type=Marker.CUBE,
                     action=Marker.ADD)
        box.pose.position.x, box.pose.position.y, box.pose.position.z = map(float, g.box_center)
        box.pose.orientation.x, box.pose.orientation.y = float(qx), float(qy)
        box.pose.orientation.z, box.pose.orientation.w = float(qz), float(qw)
        box.scale.x, box.scale.y, box.scale.z = (max(float(v), 1e-3) for v in g.box_extent)
        box.color.r, box.color.g, box.color.b, box.color.a = r, gr, b, 0.45
        box.lifetime.sec = int(lifetime_s)
        out.markers.append(box)

        text = Marker(header=header, ns=f"{namespace}/labels", id=ident,
                      type=Marker.TEXT_VIEW_FACING, action=Marker.ADD)
        top = np.asarray(g.box_center) + np.asarray(g.top_normal) * (float(np.max(g.box_extent)) / 2 + 0.03)
        text.pose.position.x, text.pose.position.y, text.pose.position.z = map(float, top)
        text.pose.orientation.w = 1.0
        text.scale.z = 0.03
        text.color.r = text.color.g = text.color.b = text.color.a = 1.0
        text.text = f"{ident}: {obj.class_name} {obj.score:.2f}"
        out.markers.append(text)

        if obj.grasp is not None:
            arrow = Marker(header=header, ns=f"{namespace}/grasps", id=ident, type=Marker.ARROW,
                           action=Marker.ADD)
            tip = np.asarray(obj.grasp.point, float)
            tail = tip - np.asarray(obj.grasp.approach, float) * 0.08
            arrow.points = [Point(x=float(tail[0]), y=float(tail[1]), z=float(tail[2])),
                            Point(x=float(tip[0]), y=float(tip[1]), z=float(tip[2]))]
            arrow.scale.x, arrow.scale.y, arrow.scale.z = 0.008, 0.016, 0.02
            arrow.color.r, arrow.color.g, arrow.color.b, arrow.color.a = r, gr, b, 1.0
            out.markers.append(arrow)
    return out
