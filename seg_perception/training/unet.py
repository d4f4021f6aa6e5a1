"""Training the scene-layout U-Net: class-weighted cross-entropy, mIoU validation."""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..errors import ConfigError, InvalidFrameError
from .augmentation import augment
from .config import IGNORE_LABEL, TrainConfig
from .tasks import Task, to_input

if TYPE_CHECKING:
    import torch

__all__ = ["UNetTask"]


class UNetTask(Task):
    """The scene-layout U-Net: cross-entropy (optionally class-weighted) with padding
    ignored; validated by mIoU and pixel accuracy."""
    name = "unet"
    metric = "miou"

    def __init__(self, cfg: TrainConfig, size: tuple[int, int], train_data: Any) -> None:
        import torch

        from ..segmenters import build_semantic_segmenter

        super().__init__(cfg, size, train_data)
        first = train_data[0]
        if first.semantic is None:
            raise ConfigError("the U-Net trains on semantic labels, but the training data has "
                              "none (export it with seg-perception export-dataset)")
        self.class_names = tuple(first.semantic.class_names)
        options = dict(cfg.model_config)
        options.setdefault("resize_size", min(size))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.seg = build_semantic_segmenter(cfg.arch, weights=None, device=cfg.device,
                                                class_names=list(self.class_names),
                                                in_channels=cfg.in_channels, **options)
        multiple = int(self.seg.size_multiple)
        if size[0] % multiple or size[1] % multiple:
            raise ConfigError(f"image_size {size[0]}x{size[1]} must be a multiple of {multiple} "
                              "for the U-Net (2**depth); e.g. 320x240")
        self.model = self.seg.model.to(cfg.device).requires_grad_(True).train()
        weight = self._class_weights(train_data) if cfg.class_weights else None
        self.weight = weight
        self.criterion = torch.nn.CrossEntropyLoss(
            weight=None if weight is None else torch.as_tensor(weight, dtype=torch.float32,
                                                               device=cfg.device),
            ignore_index=IGNORE_LABEL)

    def _class_weights(self, data: Any) -> list[float]:
        k = len(self.class_names)
        counts = np.zeros(k, np.float64)
        step = max(1, len(data) // 64)
        for i in range(0, len(data), step):
            labels = data[i].semantic.labels
            counts += np.bincount(labels[labels < k].ravel(), minlength=k)[:k]
        freq = counts / max(counts.sum(), 1.0)
        weight = np.where(freq > 0, 1.0 / np.sqrt(np.maximum(freq, 1e-12)), 0.0)
        weight /= max((weight * freq).sum(), 1e-12)  # the average pixel keeps weight 1
        return [round(float(w), 4) for w in np.clip(weight, 0.0, 10.0)]

    def batch(self, samples: Sequence[Any], rngs: Sequence[np.random.Generator]) -> Any:
        import torch

        xs, ys = [], []
        for sample, rng in zip(samples, rngs):
            if sample.semantic is None:
                raise InvalidFrameError("a training sample has no semantic labels")
            rgb, depth, _, sem = augment(sample.frame.rgb, sample.frame.depth, None,
                                         sample.semantic.labels, size=self.size, rng=rng,
                                         config=self.cfg.augment)
            assert sem is not None
            xs.append(to_input(rgb, depth, self.cfg.in_channels, True))
            ys.append(sem.astype(np.int64))
        return (torch.from_numpy(np.stack(xs)).to(self.cfg.device),
                torch.from_numpy(np.stack(ys)).to(self.cfg.device))

    def loss(self, batch: Any) -> tuple["torch.Tensor", dict[str, float]]:
        x, y = batch
        loss = self.criterion(self.model(x), y)
        return loss, {"loss_ce": float(loss.detach())}

    def validate(self, val: Any) -> dict[str, float]:
        from ..metrics.semantic import confusion_matrix, per_class_iou
        from ..segmenters._learned import TorchSemanticSegmenter

        self.model.eval()
        try:
            seg = TorchSemanticSegmenter(self.model, name=self.seg.name,
                                         class_names=self.class_names, device=self.cfg.device,
                                         in_channels=self.cfg.in_channels,
                                         resize_size=self.seg.resize_size,
                                         size_multiple=self.seg.size_multiple, fp16=False, meta={})
            k = len(self.class_names)
            confusion = np.zeros((k, k), np.int64)
            for i in range(len(val)):
                sample = val[i]
                if sample.semantic is None:
                    continue
                pred = seg.segment(sample.frame).labels
                confusion += confusion_matrix(pred, sample.semantic.labels, k)
        finally:
            self.model.train()
        iou = per_class_iou(confusion)
        out = {"miou": float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan"),
               "pixel_accuracy": float(np.trace(confusion) / max(confusion.sum(), 1))}
        out.update({f"iou_{name}": float(v) for name, v in zip(self.class_names, iou)})
        out["num_frames"] = float(len(val))
        return out
