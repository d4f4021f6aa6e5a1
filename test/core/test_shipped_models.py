"""The checkpoints that ship in seg_perception/weights/ load by name and do their job.

Scored on simulated frames from seeds the training and validation sets never
used (training: 0-299, validation: 100000+). The bars are far below what the
models reach (README, docs/training.md) and far above what the same
architectures do untrained (0 here), so a broken file, a wrong preprocessing
preset or a loader regression fails, while retraining does not.
"""
from __future__ import annotations

import numpy as np
import pytest

from seg_perception.frames import RGBDFrame
from seg_perception.segmenters import build_instance_segmenter, build_semantic_segmenter
from seg_perception.sim.scenes import SceneConfig, TabletopSim

SEEDS = (300001, 300002, 300003)


@pytest.fixture(scope="module")
def sim_frames() -> list:
    out = []
    for seed in SEEDS:
        with TabletopSim(SceneConfig(width=320, height=240), seed=seed) as sim:
            out.append(sim.render())
    return out


def _frame(f) -> RGBDFrame:  # noqa: ANN001
    return RGBDFrame.create(f.rgb, f.depth, f.intrinsics)


def test_unet_default_labels_the_layout(sim_frames: list) -> None:
    seg = build_semantic_segmenter("unet", weights="DEFAULT", device="cpu")
    assert seg.in_channels == 4 and seg.class_names[1] == "support_surface"
    n = len(seg.class_names)
    confusion = np.zeros((n, n), np.int64)  # [truth, predicted] over labelled pixels
    for f in sim_frames:
        labels = seg.segment(_frame(f)).labels
        known = f.semantic > 0  # table sides and legs are "unknown" in the truth
        np.add.at(confusion, (f.semantic[known], labels[known]), 1)
    accuracy = np.trace(confusion) / confusion.sum()
    # The trivial model, the most frequent class everywhere ("support_surface", ~71 %):
    # the U-Net must remove at least half of its errors...
    trivial = confusion.sum(axis=1).max() / confusion.sum()
    assert accuracy > trivial + (1 - trivial) / 2, (accuracy, trivial)
    # ... and find every class, not only the big one (the trivial model: 1 / classes).
    present = confusion.sum(axis=1) > 0
    recall = np.diag(confusion)[present] / confusion.sum(axis=1)[present]
    assert present.sum() >= 3 and recall.mean() > 0.8, recall


def test_maskrcnn_mobilenet_default_finds_objects(sim_frames: list) -> None:
    seg = build_instance_segmenter("maskrcnn_mobilenet", weights="DEFAULT", device="cpu")
    assert list(seg.class_names) == ["object"]
    best_ious = []
    for f in sim_frames:
        found = seg.segment(_frame(f))
        assert found.masks.shape[1:] == f.depth.shape
        for i in np.unique(f.instance_labels[f.instance_labels > 0]):
            truth = f.instance_labels == i
            ious = [(m & truth).sum() / (m | truth).sum() for m in found.masks]
            best_ious.append(max(ious, default=0.0))
    assert np.mean(np.array(best_ious) > 0.5) > 0.3
