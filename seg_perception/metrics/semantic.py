"""Semantic segmentation metrics: confusion matrix, per-class IoU, mIoU, pixel accuracy.

Dataset scores follow the Cityscapes / ADE20K convention: sum the confusion
matrices of all frames, then compute IoU once (not a mean of per-frame mIoUs).

Example:
    >>> import numpy as np
    >>> gt = np.array([[0, 0, 1, 1]]); pred = np.array([[0, 1, 1, 1]])
    >>> r = semantic_metrics(pred, gt, num_classes=2)
    >>> r.iou.round(3).tolist(), round(r.miou, 3)
    ([0.5, 0.667], 0.583)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from ..errors import InvalidFrameError

__all__ = ["SemanticResult", "confusion_matrix", "mean_iou", "per_class_iou", "pool_semantic",
           "semantic_metrics"]


def confusion_matrix(pred: np.ndarray, gt: np.ndarray, num_classes: int, *,
                     ignore_index: int | None = None,
                     ignore: np.ndarray | None = None) -> np.ndarray:
    """``int64[C, C]`` pixel counts, row = GT class, column = predicted class.

    Args:
        pred: integer ``[H, W]`` (or any shape) predicted class per pixel, ``0..C-1``.
        gt: integer array of the same shape, GT class per pixel.
        num_classes: ``C``.
        ignore_index: GT value whose pixels are left out (e.g. 255 = unlabelled).
        ignore: optional ``bool`` mask of pixels to leave out (e.g. no depth).

    Raises:
        InvalidFrameError: shapes differ, or a kept pixel has a class outside ``0..C-1``.
    """
    pred, gt = np.asarray(pred), np.asarray(gt)
    if pred.shape != gt.shape:
        raise InvalidFrameError(f"pred {pred.shape} and gt {gt.shape} differ in size; resize "
                                "the prediction to the GT pixel grid")
    if num_classes < 1:
        raise ValueError(f"num_classes={num_classes} must be >= 1")
    keep = np.ones(gt.shape, bool)
    if ignore_index is not None:
        keep &= gt != ignore_index
    if ignore is not None:
        ignore = np.asarray(ignore, dtype=bool)
        if ignore.shape != gt.shape:
            raise InvalidFrameError(f"ignore mask {ignore.shape} does not match {gt.shape}")
        keep &= ~ignore
    g = gt[keep].astype(np.int64)
    p = pred[keep].astype(np.int64)
    for name, values in (("gt", g), ("pred", p)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise InvalidFrameError(
                f"{name} has class values outside 0..{num_classes - 1} "
                f"(range {values.min()}..{values.max()}); raise num_classes or set "
                "ignore_index for the unlabelled value")
    return np.bincount(g * num_classes + p, minlength=num_classes * num_classes
                       ).reshape(num_classes, num_classes)


def per_class_iou(confusion: np.ndarray) -> np.ndarray:
    """``float64[C]`` ``TP / (TP + FP + FN)`` per class; NaN for a class that is neither
    in the GT nor predicted (it does not count in :func:`mean_iou`)."""
    confusion = np.asarray(confusion, dtype=np.float64)
    tp = np.diag(confusion)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / union, np.nan)


def mean_iou(confusion: np.ndarray) -> float:
    """Mean of :func:`per_class_iou` over classes that occur (NaN when none does)."""
    iou = per_class_iou(confusion)
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")


@dataclass(frozen=True, eq=False)
class SemanticResult:
    """Semantic metrics of one frame or of a summed set of frames.

    Attributes:
        confusion: ``int64[C, C]`` row = GT class, column = predicted class.
        iou: ``float64[C]`` per-class IoU (NaN = class absent from GT and prediction).
        miou: mean of the finite ``iou`` values.
        pixel_accuracy: ``trace / total`` of ``confusion`` (NaN when it is empty).
        class_names: one name per class (``"0"``, ``"1"``, ... when not given).
    """

    confusion: np.ndarray
    iou: np.ndarray
    miou: float
    pixel_accuracy: float
    class_names: tuple[str, ...]

    @classmethod
    def from_confusion(cls, confusion: np.ndarray,
                       class_names: Sequence[str] | None = None) -> "SemanticResult":
        confusion = np.asarray(confusion, dtype=np.int64)
        c = confusion.shape[0]
        names = tuple(str(i) for i in range(c)) if class_names is None else tuple(class_names)
        if len(names) != c:
            raise ValueError(f"{len(names)} class_names for a {c}-class confusion matrix")
        total = confusion.sum()
        acc = float(np.trace(confusion) / total) if total else float("nan")
        return cls(confusion, per_class_iou(confusion), mean_iou(confusion), acc, names)

    def iou_by_name(self) -> dict[str, float]:
        return {n: float(v) for n, v in zip(self.class_names, self.iou)}

    def __add__(self, other: "SemanticResult") -> "SemanticResult":
        """Pool two results (sum of confusion matrices)."""
        return SemanticResult.from_confusion(self.confusion + other.confusion, self.class_names)


def semantic_metrics(pred: np.ndarray, gt: np.ndarray, num_classes: int, *,
                     ignore_index: int | None = None, ignore: np.ndarray | None = None,
                     class_names: Sequence[str] | None = None) -> SemanticResult:
    """:class:`SemanticResult` of one frame (see :func:`confusion_matrix` for the arguments)."""
    conf = confusion_matrix(pred, gt, num_classes, ignore_index=ignore_index, ignore=ignore)
    return SemanticResult.from_confusion(conf, class_names)


def pool_semantic(results: Iterable[SemanticResult]) -> SemanticResult:
    """Dataset result: the summed confusion matrix of all frames."""
    results = list(results)
    if not results:
        raise ValueError("pool_semantic needs at least one SemanticResult")
    total = results[0]
    for r in results[1:]:
        total = total + r
    return total
