"""Physically simulated tabletop RGB-D scenes (pybullet): the public entry point.

The implementation lives in :mod:`seg_perception.sim.tabletop` (one module per
job: config, objects, layout, placement, table, camera, ground truth, world);
this module re-exports its API, so ``from seg_perception.sim.scenes import
SceneConfig, TabletopSim`` keeps working. Importing it loads no pybullet.

Example:
    >>> with TabletopSim(SceneConfig(width=160, height=120), seed=3) as sim:
    ...     frame = sim.render()
    >>> frame.rgb.shape, frame.depth.dtype, frame.instance_labels.dtype
    ((120, 160, 3), dtype('float32'), dtype('uint16'))
"""
from .tabletop import (
    CLUTTER_MODES,
    HARD_CASES,
    OBJECT_KINDS,
    ObjectPose,
    SceneConfig,
    SimFrame,
    TabletopSim,
    look_at_transform,
)

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
