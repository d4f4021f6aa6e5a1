"""The training and validation data: samples from folders or sequences, the hold-out split,
categories, the crop size and how the data is named in the meta."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError
from .config import TrainConfig

__all__ = ["Subset", "as_samples", "categories", "dataset_name", "describe", "image_size",
           "split"]


def as_samples(data: Any, what: str) -> Any:
    """``data`` as an indexable dataset: a folder becomes a CocoRGBDDataset; None stays None."""
    if data is None:
        return None
    if isinstance(data, (str, os.PathLike)):
        from ..sim.dataset import CocoRGBDDataset

        return CocoRGBDDataset(data)
    if not hasattr(data, "__len__") or not hasattr(data, "__getitem__"):
        raise ConfigError(f"{what} must be a dataset folder, a CocoRGBDDataset or a sequence of "
                          f"samples with frame/instances/semantic, got {type(data).__name__}")
    return data


class Subset:
    """Some frames of ``data``; ``holdout``: held out of the training set by :func:`split`."""

    def __init__(self, data: Any, indices: Sequence[int], holdout: bool = False) -> None:
        self.data, self.indices, self.holdout = data, list(indices), holdout

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Any:
        return self.data[self.indices[i]]


def split(train: Any, val: Any, fraction: float, seed: int) -> tuple[Any, Any]:
    """``(train, val)``: without ``val``, ``fraction`` of ``train`` held out (seeded)."""
    if val is not None or fraction <= 0 or len(train) < 2:
        return train, val
    order = np.random.default_rng([seed, 7]).permutation(len(train))
    k = max(1, round(len(train) * fraction))
    return Subset(train, sorted(order[k:])), Subset(train, sorted(order[:k]), holdout=True)


def categories(data: Any, class_agnostic: bool) -> tuple[str, ...]:
    """Object classes (no background) of an instance dataset."""
    if class_agnostic:
        return ("object",)
    coco = getattr(data, "coco", None) or getattr(getattr(data, "data", None), "coco", None)
    if coco and coco.get("categories"):
        return tuple(c["name"] for c in sorted(coco["categories"], key=lambda c: c["id"]))
    names: set[str] = set()
    for i in range(len(data)):
        names.update(data[i].instances.class_names)
    if not names:
        raise ConfigError("the training data has no annotated instances")
    return tuple(sorted(names))


def describe(data: Any) -> str:
    """``"out/sim_train (300 images)"``: the folder, or the type of in-memory data."""
    if data is None:
        return "none"
    root = getattr(data, "root", None) or getattr(getattr(data, "data", None), "root", None)
    where = os.fspath(root) if root is not None else type(data).__name__
    part = " subset" if isinstance(data, Subset) else ""
    return f"{where} ({len(data)} images{part})"


def dataset_name(data: Any, default: str) -> str:
    """Key of the weights' metrics: the dataset folder's name (``sim_val``)."""
    root = getattr(data, "root", None) or getattr(getattr(data, "data", None), "root", None)
    if root is None:
        return default
    name = Path(os.fspath(root)).name
    return f"{name}_holdout" if getattr(data, "holdout", False) else name


def image_size(cfg: TrainConfig, data: Any) -> tuple[int, int]:
    """``(width, height)`` of the training crops: the config's, else the first image's."""
    if cfg.image_size is not None:
        return int(cfg.image_size[0]), int(cfg.image_size[1])
    frame = data[0].frame
    return frame.width, frame.height
