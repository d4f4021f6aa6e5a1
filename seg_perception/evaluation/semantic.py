"""Semantic confusion matrices of predicted layout maps against GT semantic maps, by class name."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..metrics.semantic import confusion_matrix, per_class_iou
from .protocol import OTHER_CLASS, VOID_CLASS

__all__ = ["SemanticScorer"]


class SemanticScorer:
    """Confusion matrices of predicted layout maps against GT semantic maps, by class name."""

    def __init__(self) -> None:
        self.gt_names: tuple[str, ...] | None = None
        self.names: tuple[str, ...] = ()
        self.skip_reason: str | None = None

    def confusion(self, pred: Any, gt: Any, ignore: np.ndarray | None) -> np.ndarray | None:
        """``int64[C, C]`` confusion (row GT, column prediction, GT class names plus
        ``<other>``) of one frame, or None when it cannot be scored (``skip_reason`` says why)."""
        if pred is None or gt is None or self.skip_reason:
            return None
        if self.gt_names is None:
            self.gt_names = tuple(gt.class_names)
            self.names = (*self.gt_names, OTHER_CLASS)
        if tuple(gt.class_names) != self.gt_names:
            self.skip_reason = "GT semantic class lists differ between frames; mIoU not scored"
            return None
        index = {n: i for i, n in enumerate(self.gt_names)}
        pred_names = tuple(pred.class_names)
        if not any(n in index for n in pred_names):
            self.skip_reason = (f"the semantic backend's classes {list(pred_names)[:6]} share "
                                f"no name with the GT classes {list(self.gt_names)}; mIoU not "
                                "scored")
            return None
        other = len(self.gt_names)
        lut = np.array([index.get(n, other) for n in pred_names] or [other], np.int64)
        pred_labels = lut[np.clip(pred.labels.astype(np.int64), 0, len(lut) - 1)]
        gt_labels = gt.labels.astype(np.int64)
        void = index.get(VOID_CLASS)
        # GT values outside the class list are unlabelled: treat them as void.
        bad = (gt_labels < 0) | (gt_labels >= len(self.gt_names))
        ignore_all = bad if ignore is None else (bad | ignore)
        return confusion_matrix(pred_labels, np.where(bad, 0, gt_labels), len(self.names),
                                ignore_index=void, ignore=ignore_all)

    def scored(self) -> np.ndarray:
        """Indices of the classes in the mIoU (GT classes except the void one)."""
        assert self.gt_names is not None
        return np.array([i for i, n in enumerate(self.gt_names) if n != VOID_CLASS], np.int64)

    def miou(self, confusion: np.ndarray | None) -> float:
        """Mean IoU over the scored classes of a (pooled) confusion matrix."""
        if confusion is None or self.gt_names is None:
            return math.nan
        iou = per_class_iou(confusion)[self.scored()]
        return float(np.nanmean(iou)) if np.isfinite(iou).any() else math.nan
