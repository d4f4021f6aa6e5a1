"""Guard for refactors of the geometric segmenters (issue 21): the default pipeline's
instance labels, layout labels and support plane on a few simulated frames are
bit-identical to a stored reference.

The frames are rendered here (analytic scenes, a few with seeded depth noise, and
two pybullet scenes when pybullet is installed): nothing outside the repository is
read. A change that is *meant* to change the labels regenerates the reference:

    python test/core/test_labels_unchanged.py --regenerate

(or ``SEG_REGENERATE_LABELS=1 pytest test/core/test_labels_unchanged.py``) and says
in its commit message why the labels changed. The reference also stores a hash of
each input frame: if the simulator changes, the test says so instead of blaming the
segmenter (regenerate from a commit whose labels are known good).
"""
from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from seg_perception.config import PipelineConfig
from seg_perception.frames import RGBDFrame
from seg_perception.pipeline import Pipeline
from seg_perception.sim.synthetic import look_at, preset_objects, render_scene

REFERENCE = Path(__file__).parent / "data" / "labels_reference.npz"
FAR = look_at((0.0, -1.3, 0.6), (0.0, 0.1, 0.0))  # table, floor and wall in view


def _noisy(frame: RGBDFrame, seed: int) -> RGBDFrame:
    # Kinect-like z**2 noise and 2 % dropouts: the noise-scaled thresholds and hole filling.
    rng = np.random.default_rng(seed)
    depth = frame.depth.copy()
    valid = depth > 0
    depth[valid] += (rng.normal(0, 1, valid.sum()) * 0.0015 * depth[valid] ** 2).astype(np.float32)
    depth[rng.random(depth.shape) < 0.02] = 0
    return RGBDFrame.create(frame.rgb, depth, frame.intrinsics)


def _pybullet(module: str, case: str, seed: int, width: int, height: int) -> RGBDFrame:
    from seg_perception.sim.scenes import TabletopSim

    if module == "clutter":
        from seg_perception.sim.clutter_cases import clutter_case_config as config
    else:
        from seg_perception.sim.live_room import live_room_config as config
    cfg = replace(config(case, width, height), shadows=False)
    with TabletopSim(cfg, seed=seed) as sim:
        return sim.render().to_rgbd_frame()


# name -> frame maker. One pipeline runs them in this order (a stream: the support
# plane of one frame is tried on the next), so the order is part of the reference.
FRAMES: dict[str, Callable[[], RGBDFrame]] = {
    "separated": lambda: render_scene(preset_objects("separated")).frame,
    "touching": lambda: render_scene(preset_objects("touching")).frame,
    "stacked_noisy": lambda: _noisy(render_scene(preset_objects("stacked")).frame, 1),
    "flat_noisy": lambda: _noisy(render_scene(preset_objects("flat")).frame, 2),
    "textured": lambda: render_scene(preset_objects("textured")).frame,
    "far_640_noisy": lambda: _noisy(render_scene(preset_objects("separated"), 640, 480,
                                                 camera=FAR).frame, 3),
}
PYBULLET_FRAMES: dict[str, Callable[[], RGBDFrame]] = {
    "clutter_box_against_box": lambda: _pybullet("clutter", "clutter_box_against_box", 0,
                                                 320, 240),
    "live_room_640": lambda: _pybullet("live", "live_room", 3, 640, 480),
}


def _have_pybullet() -> bool:
    import importlib.util

    return importlib.util.find_spec("pybullet") is not None


def _input_hash(frame: RGBDFrame) -> str:
    h = hashlib.sha256()
    for a in (frame.rgb, frame.depth):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def compute(names: list[str]) -> dict[str, np.ndarray]:
    """The reference arrays for frames ``names`` (in ``FRAMES`` / ``PYBULLET_FRAMES`` order)."""
    makers = {**FRAMES, **PYBULLET_FRAMES}
    pipeline = Pipeline(PipelineConfig(), layout_thread=False)
    out: dict[str, np.ndarray] = {}
    for name in names:
        frame = makers[name]()
        scene = pipeline.process(frame)
        out[f"{name}/input_sha256"] = np.array(_input_hash(frame))
        out[f"{name}/instances"] = scene.instances.label_image().astype(np.uint16)
        out[f"{name}/layout"] = scene.semantic.labels
        plane = scene.support_plane
        out[f"{name}/plane"] = (np.array([*plane.normal, plane.offset], np.float64)
                                if plane is not None else np.zeros(0))
    return out


def _names() -> list[str]:
    return list(FRAMES) + (list(PYBULLET_FRAMES) if _have_pybullet() else [])


def regenerate() -> None:
    if not _have_pybullet():
        raise SystemExit("pybullet is needed to regenerate the full reference")
    arrays = compute(_names())
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(REFERENCE, **arrays)
    print(f"wrote {REFERENCE} ({REFERENCE.stat().st_size} bytes, {len(_names())} frames)")


def test_labels_unchanged():
    if os.environ.get("SEG_REGENERATE_LABELS"):
        regenerate()
    ref = np.load(REFERENCE)
    names = _names()
    got = compute(names)
    problems = []
    for name in names:
        if str(got[f"{name}/input_sha256"]) != str(ref[f"{name}/input_sha256"]):
            problems.append(f"{name}: the INPUT frame changed (simulator edited?); the labels "
                            "cannot be compared: regenerate from a known-good commit")
            continue
        for part in ("instances", "layout", "plane"):
            a, b = got[f"{name}/{part}"], ref[f"{name}/{part}"]
            if a.shape != b.shape:
                problems.append(f"{name}/{part}: shape {a.shape} != reference {b.shape}")
            elif not np.array_equal(a, b):
                n = int((a != b).sum())
                problems.append(f"{name}/{part}: {n} of {a.size} values differ")
    assert not problems, "labels changed:\n" + "\n".join(problems)


if __name__ == "__main__":
    if "--regenerate" in sys.argv[1:]:
        regenerate()
    else:
        print(__doc__)
