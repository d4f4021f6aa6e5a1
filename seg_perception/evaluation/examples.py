"""Example frames: overlays of prediction and ground truth, the worst frames kept for the report."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..results import InstanceMasks, Scene, SceneObject
from .formatting import safe_name
from .records import ExampleFrame

__all__ = ["WorstFrames", "example_frame", "write_overlay"]


def _gt_overlay_scene(scene: Scene, gt: InstanceMasks) -> Scene:
    objects = [SceneObject(index=i, class_id=0, class_name="gt", score=1.0, box_2d=gt.boxes[i],
                           mask=gt.masks[i], geometry=None) for i in range(len(gt))]
    return Scene(frame=scene.frame, instances=gt, semantic=None, objects=objects)


def example_frame(scene: Scene, gt: InstanceMasks, name: str, overlap_f: float, *,
                  width: int) -> ExampleFrame:
    """Overlays of ``scene``'s instances and of the GT instances on the frame, which is
    ``width`` pixels wide."""
    from ..visualize import overlay_scene

    # Labels would cover small images; boxes and outlines still show the instances.
    labels = width >= 320
    return ExampleFrame(name, overlap_f, overlay_scene(scene, draw_labels=labels),
                        overlay_scene(_gt_overlay_scene(scene, gt), draw_labels=False))


def write_overlay(folder: Path, example: ExampleFrame) -> None:
    """``folder/<frame>.png``: prediction | ground truth side by side."""
    import cv2

    side_by_side = np.concatenate([example.prediction, example.ground_truth], axis=1)
    name = safe_name(str(Path(example.name).with_suffix("")))
    cv2.imwrite(str(folder / f"{name}.png"), side_by_side[:, :, ::-1])


class WorstFrames:
    """The ``size`` frames with the lowest overlap F seen so far (bounded memory on large
    sets), worst first; ties keep the earlier frame."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._kept: list[tuple[float, int, ExampleFrame]] = []

    def wants(self, overlap_f: float) -> bool:
        """Whether a frame with this overlap F would be kept."""
        return self.size > 0 and (len(self._kept) < self.size or overlap_f < self._kept[-1][0])

    def add(self, index: int, example: ExampleFrame) -> None:
        """Keep ``example`` (frame ``index``), dropping the best one beyond ``size``."""
        self._kept.append((example.overlap_f, index, example))
        self._kept.sort(key=lambda t: (t[0], t[1]))
        del self._kept[self.size:]

    def examples(self) -> tuple[ExampleFrame, ...]:
        """The kept frames, worst first."""
        return tuple(e for _, _, e in self._kept)
