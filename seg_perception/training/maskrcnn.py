"""Training Mask R-CNN: trainable batch norms, augmented boxes and masks, mask AP validation."""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .augmentation import augment
from .config import TrainConfig
from .data import categories
from .tasks import Task, to_input

if TYPE_CHECKING:
    import torch

__all__ = ["MaskRCNNTask"]

_MIN_MASK_PIXELS = 16  # smaller crop leftovers are not objects a detector can learn


def unfreeze_batchnorm(module: "torch.nn.Module") -> int:
    """Replace every ``FrozenBatchNorm2d`` by a trainable ``BatchNorm2d`` with the same tensors."""
    import torch
    from torchvision.ops import misc

    count = 0
    for name, child in list(module.named_children()):
        if isinstance(child, misc.FrozenBatchNorm2d):
            bn = torch.nn.BatchNorm2d(child.weight.numel(), eps=child.eps)
            with torch.no_grad():
                bn.weight.copy_(child.weight)
                bn.bias.copy_(child.bias)
                bn.running_mean.copy_(child.running_mean)
                bn.running_var.copy_(child.running_var)
            setattr(module, name, bn)
            count += 1
        else:
            count += unfreeze_batchnorm(child)
    return count


class MaskRCNNTask(Task):
    """Mask R-CNN: trainable batch norms, fewer proposals and RoIs than at inference;
    validated by COCO mask AP."""
    name = "maskrcnn"
    metric = "mask_AP50"

    def __init__(self, cfg: TrainConfig, size: tuple[int, int], train_data: Any) -> None:
        from ..segmenters import build_instance_segmenter

        super().__init__(cfg, size, train_data)
        self.categories = categories(train_data, cfg.class_agnostic)
        width, height = size
        options = dict(cfg.model_config)
        options.setdefault("min_size", min(width, height))
        options.setdefault("max_size", max(width, height))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.seg = build_instance_segmenter(cfg.arch, weights=None, device=cfg.device,
                                                class_names=list(self.categories),
                                                in_channels=cfg.in_channels,
                                                score_threshold=0.05, **options)
        model = self.seg.model
        if cfg.trainable_bn:
            unfreeze_batchnorm(model)
        model.rpn._pre_nms_top_n["training"] = int(cfg.rpn_proposals)
        model.rpn._post_nms_top_n["training"] = int(cfg.rpn_proposals)
        model.roi_heads.fg_bg_sampler.batch_size_per_image = int(cfg.roi_batch)
        self.model = model.to(cfg.device).requires_grad_(True).train()
        self.label_of = {name: i + 1 for i, name in enumerate(self.categories)}

    def batch(self, samples: Sequence[Any], rngs: Sequence[np.random.Generator]) -> Any:
        import torch

        images, targets = [], []
        for sample, rng in zip(samples, rngs):
            inst = sample.instances
            rgb, depth, masks, _ = augment(sample.frame.rgb, sample.frame.depth, inst.masks, None,
                                           size=self.size, rng=rng, config=self.cfg.augment)
            assert masks is not None
            keep = masks.sum(axis=(1, 2)) >= _MIN_MASK_PIXELS
            masks = masks[keep]
            if self.cfg.class_agnostic:
                labels = np.ones(len(masks), np.int64)
            else:
                labels = np.array([self.label_of[n] for n, k in zip(inst.class_names, keep) if k],
                                  np.int64)
            rows, cols = masks.any(axis=2), masks.any(axis=1)
            boxes = np.zeros((len(masks), 4), np.float32)
            if len(masks):  # xyxy with exclusive max: a 1-pixel mask has a 1x1 box
                boxes[:, 0] = cols.argmax(axis=1)
                boxes[:, 1] = rows.argmax(axis=1)
                boxes[:, 2] = cols.shape[1] - cols[:, ::-1].argmax(axis=1)
                boxes[:, 3] = rows.shape[1] - rows[:, ::-1].argmax(axis=1)
            images.append(torch.from_numpy(to_input(rgb, depth, self.cfg.in_channels, False)
                                           ).to(self.cfg.device))
            targets.append({"boxes": torch.from_numpy(boxes).to(self.cfg.device),
                            "labels": torch.from_numpy(labels).to(self.cfg.device),
                            "masks": torch.from_numpy(masks.astype(np.uint8)).to(self.cfg.device)})
        return images, targets

    def loss(self, batch: Any) -> tuple["torch.Tensor", dict[str, float]]:
        images, targets = batch
        parts = self.model(images, targets)
        total = sum(parts.values())
        return total, {k: float(v.detach()) for k, v in parts.items()}

    def validate(self, val: Any) -> dict[str, float]:
        import torch

        from ..metrics.coco import mask_ap
        from ..segmenters.mask_rcnn import MaskRCNNSegmenter

        self.model.eval()
        try:
            seg = MaskRCNNSegmenter(self.model, name=self.seg.name, categories=self.seg.categories,
                                    device=self.cfg.device, in_channels=self.cfg.in_channels,
                                    score_threshold=0.05)
            preds, truth = [], []
            for i in range(len(val)):
                sample = val[i]
                preds.append(seg.segment(sample.frame))
                truth.append(sample.instances)
            with torch.no_grad():
                ap = mask_ap(preds, truth, class_agnostic=self.cfg.class_agnostic)
        finally:
            self.model.train()
        return {"mask_AP": ap["AP"], "mask_AP50": ap["AP50"], "mask_AP75": ap["AP75"],
                "mask_AR100": ap["AR100"], "num_frames": float(len(preds))}

    def state_dict(self) -> dict[str, "torch.Tensor"]:
        # The inference model has frozen batch norms, which keep no step counter.
        return {k: v for k, v in self.model.state_dict().items()
                if not k.endswith("num_batches_tracked")}
