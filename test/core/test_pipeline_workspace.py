"""The workspace rule for backends that do not apply it themselves (learned models):
the pipeline keeps only instances whose footprint lies on the workspace surface."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pytest

from seg_perception.config import PipelineConfig
from seg_perception.frames import RGBDFrame
from seg_perception.geometry.plane import estimate_support_plane
from seg_perception.geometry.workspace import instances_on_workspace
from seg_perception.pipeline import Pipeline
from seg_perception.results import InstanceMasks

CABINET, OTHER_TABLE, ON_OTHER_TABLE = 4, 5, 6  # labels of the room's extra primitives


class EverythingSegmenter:
    """A stand-in learned model that calls every true instance an object, furniture
    included (what a detector trained on clutter does in a room)."""

    name, device = "everything", "cpu"
    class_names = ("object",)

    def __init__(self, labels: np.ndarray, ids: Sequence[int]) -> None:
        self.ids = list(ids)
        self._masks = labels[None] == np.asarray(self.ids)[:, None, None]

    def segment(self, frame: RGBDFrame) -> InstanceMasks:
        n = len(self.ids)
        return InstanceMasks.from_masks(self._masks, np.linspace(0.99, 0.9, n), np.zeros(n, int),
                                        ("object",) * n)

    def segment_batch(self, frames: Sequence[RGBDFrame]) -> list[InstanceMasks]:
        return [self.segment(f) for f in frames]


def _kept_truth(room, workspace: str) -> list[int]:
    ids = [1, 2, 3, CABINET, ON_OTHER_TABLE]
    pipe = Pipeline(PipelineConfig(semantic_backend="none", workspace=workspace,
                                   compute_geometry=False),
                    instance_segmenter=EverythingSegmenter(room.instance_labels, ids))
    scene = pipe.process(room.frame)
    kept = []
    for obj in scene.objects:
        kept.append(int(np.bincount(room.instance_labels[obj.mask]).argmax()))
    return sorted(kept)


def test_a_learned_backend_keeps_only_objects_on_the_largest_surface(room):
    assert np.bincount(room.instance_labels.ravel())[[CABINET, ON_OTHER_TABLE]].min() > 500
    assert _kept_truth(room, "largest_surface") == [1, 2, 3]


def test_all_surfaces_keeps_the_other_tables_object_but_not_furniture(room):
    assert _kept_truth(room, "all_surfaces") == [1, 2, 3, ON_OTHER_TABLE]


def test_the_setting_changes_at_run_time(room):
    pipe = Pipeline(PipelineConfig(semantic_backend="none", compute_geometry=False),
                    instance_segmenter=EverythingSegmenter(room.instance_labels,
                                                           [1, 2, 3, ON_OTHER_TABLE]))
    assert len(pipe.process(room.frame).objects) == 3
    pipe.update_config(workspace="all_surfaces")
    assert len(pipe.process(room.frame).objects) == 4


def test_instances_that_cannot_be_judged_are_kept(room):
    frame = room.frame
    plane = estimate_support_plane(frame)
    assert plane is not None
    labels = room.instance_labels.astype(np.uint16)
    # No depth at all under instance 1, and a label 7 drawn on nothing: both kept.
    depth = frame.depth.copy()
    depth[labels == 1] = 0.0
    blind = RGBDFrame(frame.rgb, depth, frame.intrinsics)
    keep = instances_on_workspace(blind, np.where(labels <= 3, labels, 0), 7, plane)
    assert keep.all()
    # Without any support in view every instance is kept.
    away = plane.__class__(normal=plane.normal, offset=plane.offset + 5.0)
    assert instances_on_workspace(frame, labels, 6, away).all()
    assert instances_on_workspace(frame, labels, 0, plane).shape == (0,)


def test_an_unknown_workspace_is_refused(room):
    plane = estimate_support_plane(room.frame)
    with pytest.raises(ValueError, match="largest_surface"):
        instances_on_workspace(room.frame, room.instance_labels, 6, plane, workspace="table")


def test_a_strip_without_depth_does_not_cut_the_table_in_two(room):
    # A cable's or shadow's strip of missing depth between the objects: both halves
    # are still one surface, so no object is dropped.
    frame = room.frame
    plane = estimate_support_plane(frame)
    labels = np.where(room.instance_labels <= 3, room.instance_labels, 0).astype(np.uint16)
    cols = np.flatnonzero((labels == 1).any(axis=0))
    depth = frame.depth.copy()
    depth[:, cols.max() + 3:cols.max() + 9] = 0.0
    cut = RGBDFrame(frame.rgb, depth, frame.intrinsics)
    assert instances_on_workspace(cut, labels, 3, plane).all()
