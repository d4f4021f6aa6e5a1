"""The benchmark's input: frames rendered once, as a camera driver delivers them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..frames import CameraIntrinsics, RGBDFrame, depth_to_millimetres

__all__ = ["CAMERA_PERIOD_NS", "BenchFrame", "render_bench_frames"]

CAMERA_PERIOD_NS = 66_666_667  # stamps as from a 15 Hz camera


@dataclass(frozen=True, eq=False)
class BenchFrame:
    """One rendered frame as a camera driver delivers it.

    Attributes:
        rgb: ``uint8[H, W, 3]`` RGB.
        depth_mm: ``uint16[H, W]`` depth in millimetres, 0 = no measurement (16UC1).
        intrinsics: pinhole model of the colour camera, ``W x H``.
        objects_true: visible objects in the frame (-1 when unknown).
    """

    rgb: np.ndarray
    depth_mm: np.ndarray
    intrinsics: CameraIntrinsics
    objects_true: int = -1

    @property
    def size(self) -> tuple[int, int]:
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])

    def to_frame(self, stamp_ns: int = 0) -> RGBDFrame:
        """A fresh :class:`RGBDFrame` (depth converted to metres, validated)."""
        return RGBDFrame.create(self.rgb, self.depth_mm, self.intrinsics, stamp_ns=stamp_ns)


def render_bench_frames(width: int, height: int, *, scenes: int = 2, frames_per_scene: int = 3,
                        source: str = "tabletop", seed: int = 0,
                        progress: Any = None) -> list[BenchFrame]:
    """Render ``scenes * frames_per_scene`` frames once, for reuse in every timed pass.

    ``"tabletop"``: random cluttered tables (3-8 objects, hard cases, shadows,
    sensor depth noise) with objects nudged between the frames of a scene
    (0.2-0.5 s per 640x480 frame on 2 cores). ``"synthetic"``: the numpy
    ray-cast presets of :mod:`seg_perception.sim.synthetic` (milliseconds).
    ``progress`` is called once per rendered frame.
    """
    out: list[BenchFrame] = []
    if source == "synthetic":
        from ..sim.synthetic import preset_objects, render_scene

        presets = ("separated", "touching", "stacked", "flat", "textured")
        for k in range(scenes * frames_per_scene):
            scene = render_scene(preset_objects(presets[k % len(presets)]), width=width,
                                 height=height)
            f = scene.frame
            out.append(BenchFrame(f.rgb, depth_to_millimetres(f.depth), f.intrinsics,
                                  len(scene.objects)))
            if progress:
                progress()
        return out
    if source != "tabletop":
        raise ValueError(f"source={source!r}: use 'tabletop' or 'synthetic'")
    from ..sim.scenes import SceneConfig, TabletopSim

    cfg = SceneConfig(width=width, height=height, depth_noise=True)
    for s in range(scenes):
        with TabletopSim(cfg, seed=seed + s) as sim:
            for sf in sim.frames(frames_per_scene, move=True):
                visible = sum(1 for p in sf.object_poses if p.visible_pixels > 0)
                out.append(BenchFrame(np.ascontiguousarray(sf.rgb), depth_to_millimetres(sf.depth),
                                      sf.intrinsics, visible))
                if progress:
                    progress()
    return out
