"""Physically simulated tabletop RGB-D scenes with exact ground truth (pybullet).

:class:`TabletopSim` builds a random scene (floor, wall, a table with legs,
graspable objects dropped under gravity), renders it with pybullet's CPU
TinyRenderer in DIRECT mode (no display, no GPU) and returns a
:class:`SimFrame`: colour, metric depth, intrinsics, instance and layout labels
and every object's pose. Hard cases for segmentation are built on purpose and
then *verified* from the physics and the render, so a frame's tags say what is
really in the image: ``touching``, ``stacked``, ``occluded``, ``thin_flat``
(plus ``truncated`` at the image border).

Modules, one job each:

* :mod:`.config`: :class:`SceneConfig`, :data:`HARD_CASES`, :data:`CLUTTER_MODES`.
* :mod:`.objects`: object kinds (:data:`OBJECT_KINDS`) and their random specs;
  :mod:`.appearance`: colours and procedural textures.
* :mod:`.layout`: which objects a scene holds, hard cases as groups;
  :mod:`.placement`: putting the groups on the table, settling, fallen objects.
* :mod:`.table`: the static world (table, floor, wall, furniture);
  :mod:`.bodies`: pybullet bodies.
* :mod:`.camera`: camera pose, light and the render (colour, depth, body ids).
* :mod:`.ground_truth`: labels, object poses, verified tags;
  :mod:`.frame`: :class:`SimFrame` and :class:`ObjectPose`.
* :mod:`.world`: :class:`TabletopSim`, the simulator that ties them together.
* :mod:`.transforms`: :func:`look_at_transform` and quaternion helpers.

Frames (REP 103):
    world: z up, the table top is the plane z = 0, the table is centred on
    the origin, the wall stands behind it at +y, the camera looks from -y.
    camera: optical (x right, y down, z forward), metres. The pose
    ``SimFrame.camera_pose`` maps world points to camera points:
    ``p_cam = T[:3, :3] @ p_world + T[:3, 3]``.

Determinism: everything random is drawn from ``numpy.random.Generator`` seeded
by the scene seed, and Bullet is single-threaded, so the same seed gives
bit-identical images, depth and labels on the same platform and pybullet build.

pybullet is imported only when a :class:`TabletopSim` is created, so importing
this package stays light. Measured cost per frame on 2 shared CPU cores
(:meth:`TabletopSim.render`, shadows off / on): 160x120 15 / 20 ms, 320x240
50 / 110 ms, 640x480 190 / 350 ms; :meth:`TabletopSim.reset` (build and settle
a scene) 80-200 ms; depth noise adds about 100 ms at 640x480.

Example:
    >>> with TabletopSim(SceneConfig(width=160, height=120), seed=3) as sim:
    ...     frame = sim.render()
    >>> frame.rgb.shape, frame.depth.dtype, frame.instance_labels.dtype
    ((120, 160, 3), dtype('float32'), dtype('uint16'))
"""
from .config import CLUTTER_MODES, HARD_CASES, SceneConfig
from .frame import ObjectPose, SimFrame
from .objects import OBJECT_KINDS
from .transforms import look_at_transform
from .world import TabletopSim

__all__ = [
    "CLUTTER_MODES",
    "HARD_CASES",
    "OBJECT_KINDS",
    "ObjectPose",
    "SceneConfig",
    "SimFrame",
    "TabletopSim",
    "look_at_transform",
]
