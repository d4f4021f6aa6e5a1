"""What differs between the trainable tasks (model, batch, loss, validation, identity) and
the model input they share with the inference backends."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .config import TrainConfig

if TYPE_CHECKING:
    import torch

__all__ = ["Task", "to_input"]


class Task:
    """What differs between the two tasks: model, batch, loss, validation, meta."""

    name = ""
    metric = ""  # the validation number plotted and reported

    def __init__(self, cfg: TrainConfig, size: tuple[int, int], train_data: Any) -> None:
        self.cfg, self.size = cfg, size
        self.seg: Any = None
        self.model: Any = None

    def batch(self, samples: Sequence[Any], rngs: Sequence[np.random.Generator]) -> Any:
        """An augmented batch of ``samples`` (one generator per sample), on the device."""
        raise NotImplementedError

    def loss(self, batch: Any) -> tuple["torch.Tensor", dict[str, float]]:
        """``(total loss, {part: value})`` of a batch, in training mode."""
        raise NotImplementedError

    def validate(self, val: Any) -> dict[str, float]:
        """Validation metrics on ``val`` (the model back in training mode afterwards)."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, "torch.Tensor"]:
        """The tensors to ship, in the layout the inference builder loads."""
        return dict(self.model.state_dict())

    def identity(self) -> dict[str, Any]:
        """What a checkpoint must match to be resumed by this run."""
        return {"arch": self.seg.meta["arch"], "categories": list(self.seg.meta["categories"]),
                "in_channels": self.seg.meta["in_channels"],
                "config": dict(self.seg.meta.get("config") or {})}


def to_input(rgb: np.ndarray, depth: np.ndarray, in_channels: int,
              normalise: bool) -> np.ndarray:
    """``float32[C, H, W]`` as the inference backends build it (see ``_learned``)."""
    from ..segmenters._learned import channel_stats

    planes = [rgb.astype(np.float32).transpose(2, 0, 1) / np.float32(255.0)]
    if in_channels == 4:
        planes.append(depth[None].astype(np.float32))
    x = np.concatenate(planes, axis=0)
    if normalise:
        mean, std = channel_stats(in_channels)
        x -= np.asarray(mean, np.float32)[:, None, None]
        x /= np.asarray(std, np.float32)[:, None, None]
    return np.ascontiguousarray(x)
