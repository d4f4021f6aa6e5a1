"""Training loops for the learned backends, on COCO RGB-D data (no ROS).

Two tasks, each producing weights the registered builders load as they are:

* ``"maskrcnn"``: instance segmentation with a torchvision Mask R-CNN built by
  the project's builders (default architecture ``"maskrcnn_mobilenet"``;
  ``arch="maskrcnn"`` for the ResNet-50 one), class-agnostic ("object") or
  with the dataset's categories. Validation: COCO mask AP / AP50
  (:func:`seg_perception.metrics.coco.mask_ap`).
* ``"unet"``: the scene-layout U-Net (:data:`~seg_perception.results.LAYOUT_CLASSES`).
  Validation: mIoU and pixel accuracy (:mod:`seg_perception.metrics.semantic`).

Training data is a :class:`~seg_perception.sim.dataset.CocoRGBDDataset` (or its
folder), or any sequence of samples with ``frame`` (an
:class:`~seg_perception.frames.RGBDFrame`), ``instances``
(:class:`~seg_perception.results.InstanceMasks`) and ``semantic``
(:class:`~seg_perception.results.SemanticMap` or None). Every training image is
augmented on the fly, identically on colour, depth, masks and labels
(:func:`augment`): random horizontal flip, scale jitter with a random crop to
``image_size``, colour jitter (brightness, contrast, saturation, hue).

What a run writes to ``out_dir``::

    checkpoints/last.pt        model + optimizer + epoch + step + metrics + RNG state,
                               rewritten every epoch and when the time budget stops
                               the run (``resume=`` continues from it)
    history.json               per-step losses and per-epoch metrics
    loss_curve.png             training loss and validation metric
    model.safetensors(.json)   the final weights and their meta (save_weights):
                               arch, categories, in_channels, metrics, transforms,
                               config and the training command

The model's input conventions are the inference backends' own
(:mod:`seg_perception.segmenters._learned`), and the preprocessing preset is
stored in the meta: a Mask R-CNN resizes inputs so the shorter side is the
training height, the U-Net's segmenter resizes frames to it first.

Mask R-CNN is trained from scratch (nothing is downloaded): the backbone's
frozen batch norms are made trainable ``BatchNorm2d`` during training and saved
back in the frozen layout (the same tensors), so
``build_instance_segmenter("maskrcnn_mobilenet", weights=path)`` loads them.

Runs are deterministic for a given seed and thread count: the epoch order
and each image's augmentation come from ``(seed, epoch, index)``, and the
torch RNG is saved in the checkpoint, so a resumed run takes the same steps
as an uninterrupted one.

Example:
    >>> from seg_perception.training import TrainConfig, train  # doctest: +SKIP
    >>> result = train("unet", "out/sim_train", "out/unet", val_data="out/sim_val",
    ...                config=TrainConfig(epochs=20, batch_size=8, image_size=(320, 240)))  # doctest: +SKIP
    >>> build_semantic_segmenter("unet", weights=result.weights.path)  # doctest: +SKIP
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from .errors import ConfigError, InvalidFrameError

if TYPE_CHECKING:
    import torch

    from .segmenters._weights import Weights

__all__ = [
    "ARCHS",
    "IGNORE_LABEL",
    "TASKS",
    "AugmentConfig",
    "TrainConfig",
    "TrainResult",
    "augment",
    "load_checkpoint",
    "plot_history",
    "train",
    "train_maskrcnn",
    "train_unet",
]

TASKS = ("maskrcnn", "unet")
#: Architectures each task can train (the registered builder names).
ARCHS: dict[str, tuple[str, ...]] = {"maskrcnn": ("maskrcnn_mobilenet", "maskrcnn", "maskrcnn_v2"),
                                     "unet": ("unet",)}
#: Semantic target value of pixels without a label (padding of a crop); the loss skips them.
IGNORE_LABEL = 255
CHECKPOINT_FORMAT = "seg_perception.checkpoint/1"
_MIN_MASK_PIXELS = 16  # smaller crop leftovers are not objects a detector can learn
_MAX_NONFINITE = 10    # consecutive NaN/inf losses before giving up


# --------------------------------------------------------------------------- configuration

@dataclass(frozen=True)
class AugmentConfig:
    """Random augmentation of a training image (see :func:`augment`).

    Attributes:
        hflip: probability of a horizontal flip.
        scale: ``(low, high)`` factor range of the scale jitter (log-uniform),
            relative to the scale that makes the image cover ``image_size``.
        brightness, contrast, saturation: maximum relative change (0 = off),
            each factor drawn uniformly in ``[1 - x, 1 + x]``.
        hue: maximum hue shift as a fraction of the colour circle (0 = off).
    """

    hflip: float = 0.5
    scale: tuple[float, float] = (0.75, 1.35)
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    hue: float = 0.03

    def __post_init__(self) -> None:
        low, high = self.scale
        if not 0 < low <= high:
            raise ConfigError(f"augment scale={self.scale} must be 0 < low <= high")
        if not 0.0 <= self.hflip <= 1.0:
            raise ConfigError(f"augment hflip={self.hflip} is a probability in [0, 1]")
        for name in ("brightness", "contrast", "saturation"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"augment {name}={getattr(self, name)} must be in [0, 1)")
        if not 0.0 <= self.hue <= 0.5:
            raise ConfigError(f"augment hue={self.hue} must be in [0, 0.5]")


@dataclass(frozen=True)
class TrainConfig:
    """Options of a training run (both tasks unless noted).

    Attributes:
        arch: the builder to train: ``"maskrcnn_mobilenet"`` (default for
            ``"maskrcnn"``), ``"maskrcnn"``, ``"maskrcnn_v2"``, or ``"unet"``.
        epochs: total epochs (a resumed run continues up to this many).
        batch_size: images per optimiser step.
        lr: peak learning rate of AdamW (linear warm-up, then cosine decay to 5 %).
        weight_decay: AdamW weight decay.
        warmup_steps: steps of the linear warm-up.
        image_size: ``(width, height)`` pixels of the training crops; None: the
            size of the first training image. The inference preset follows it
            (Mask R-CNN ``min_size``/``max_size``, U-Net ``resize_size``).
        in_channels: 3 (RGB) or 4 (RGB + depth in metres).
        seed: seeds the initialisation, epoch order and augmentation.
        num_threads: torch CPU threads.
        max_minutes: wall-clock budget of this run; when it is spent the run
            stops after the current step, saves a checkpoint and the weights.
        anneal_by_time: with ``max_minutes``, the cosine decay follows the
            share of the budget spent whenever that is ahead of the share of
            steps done, so the rate is low when the budget stops the run (on a
            slow or shared CPU). Such runs depend on the machine's speed, so
            they are not bit-reproducible.
        augment: augmentation, or None for none (crops are then centred).
        class_agnostic: Mask R-CNN: one class "object"; False: the dataset's categories.
        val_fraction: share of the training data held out for validation when
            no validation data is given (0: no validation).
        val_max_frames: validate on at most this many frames (None: all).
        grad_clip: maximum gradient norm (None: no clipping).
        trainable_bn: Mask R-CNN: train the backbone's batch norms (needed from scratch).
        rpn_proposals: Mask R-CNN: proposals kept per image during training
            (torchvision's 2000 is slow on a CPU; inference keeps the builder's).
        roi_batch: Mask R-CNN: sampled RoIs per image during training (torchvision: 512).
        class_weights: U-Net: weight the loss by inverse square-root class
            frequency (measured on up to 64 training images), for small classes.
        model_config: extra builder options, e.g. ``{"backbone": "mobilenet_v3_small",
            "fpn_channels": 64}`` or ``{"base_channels": 8}``.
        device: ``"cpu"`` or ``"cuda[:N]"``.
    """

    arch: str | None = None
    epochs: int = 10
    batch_size: int = 4
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    image_size: tuple[int, int] | None = None
    in_channels: int = 4
    seed: int = 0
    num_threads: int = 2
    max_minutes: float | None = None
    anneal_by_time: bool = False
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)
    class_agnostic: bool = True
    val_fraction: float = 0.1
    val_max_frames: int | None = None
    grad_clip: float | None = 10.0
    trainable_bn: bool = True
    rpn_proposals: int = 500
    roi_batch: int = 128
    class_weights: bool = True
    model_config: Mapping[str, Any] = field(default_factory=dict)
    device: str = "cpu"

    def check(self, task: str) -> "TrainConfig":
        """This config with ``arch`` filled in; ConfigError names a bad value."""
        if task not in TASKS:
            raise ConfigError(f"task {task!r} is not one of {', '.join(TASKS)}")
        arch = self.arch or ARCHS[task][0]
        if arch not in ARCHS[task]:
            raise ConfigError(f"arch={arch!r} cannot be trained as {task!r}; choose one of "
                              f"{', '.join(ARCHS[task])}")
        for name in ("epochs", "batch_size", "num_threads"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name}={getattr(self, name)} must be at least 1")
        if not self.lr > 0:
            raise ConfigError(f"lr={self.lr} must be positive")
        if self.in_channels not in (3, 4):
            raise ConfigError(f"in_channels={self.in_channels} must be 3 (RGB) or 4 (RGB-D)")
        if self.image_size is not None:
            w, h = self.image_size
            if min(w, h) < 32:
                raise ConfigError(f"image_size={self.image_size} must be at least 32x32 pixels")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction={self.val_fraction} must be in [0, 1)")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ConfigError(f"max_minutes={self.max_minutes} must be positive")
        return replace(self, arch=arch)


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` produced.

    Attributes:
        weights: the final weights (``out_dir/model.safetensors``) and their meta.
        history: ``{"steps": [...], "epochs": [...]}`` as in ``history.json``.
        checkpoint: ``out_dir/checkpoints/last.pt``.
        out_dir: the run's folder.
        epochs_completed: full epochs trained (over all resumed runs).
        stopped_early: the time budget stopped the run before ``epochs``.
        seconds: wall-clock time of this run.
        model: the trained torch module in eval mode (for Mask R-CNN with
            trainable batch norms: the training layout; the file holds the
            frozen one).
    """

    weights: "Weights"
    history: dict[str, Any]
    checkpoint: Path
    out_dir: Path
    epochs_completed: int
    stopped_early: bool
    seconds: float
    model: Any = field(default=None, repr=False, compare=False)


# --------------------------------------------------------------------------- augmentation

def _warp(image: np.ndarray, matrix: np.ndarray, size: tuple[int, int], interpolation: int,
          fill: float) -> np.ndarray:
    """``cv2.warpAffine`` of an ``[H, W]`` or ``[H, W, C]`` array, any C (keeps the layout)."""
    import cv2

    if image.ndim == 3 and image.shape[2] == 0:
        return np.zeros((size[1], size[0], 0), image.dtype)
    chunks = [image] if image.ndim == 2 or image.shape[2] <= 256 else \
        [image[:, :, i:i + 256] for i in range(0, image.shape[2], 256)]
    out = []
    for chunk in chunks:
        warped = cv2.warpAffine(chunk, matrix, size, flags=interpolation,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=fill)
        if chunk.ndim == 3 and warped.ndim == 2:  # OpenCV drops a single channel
            warped = warped[:, :, None]
        out.append(warped)
    return out[0] if len(out) == 1 else np.concatenate(out, axis=2)


def _colour_jitter(rgb: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    import cv2

    b = rng.uniform(1 - cfg.brightness, 1 + cfg.brightness)
    c = rng.uniform(1 - cfg.contrast, 1 + cfg.contrast)
    s = rng.uniform(1 - cfg.saturation, 1 + cfg.saturation)
    h = rng.uniform(-cfg.hue, cfg.hue)
    x = rgb.astype(np.float32) * np.float32(b)
    x = (x - x.mean()) * np.float32(c) + x.mean()
    gray = x @ np.array([0.299, 0.587, 0.114], np.float32)
    x = (x - gray[:, :, None]) * np.float32(s) + gray[:, :, None]
    out = np.clip(x, 0, 255).astype(np.uint8)
    shift = round(h * 180)  # OpenCV's 8-bit hue is 0..179
    if shift:
        hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)
        hsv[:, :, 0] = ((hsv[:, :, 0].astype(np.int16) + shift) % 180).astype(np.uint8)
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return out


def augment(rgb: np.ndarray, depth: np.ndarray, masks: np.ndarray | None,
            semantic: np.ndarray | None, *, size: tuple[int, int], rng: np.random.Generator,
            config: AugmentConfig | None = AugmentConfig(),
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Flip, scale-jitter, crop to ``size`` and colour-jitter one RGB-D image with its labels.

    The image is first scaled so it covers ``size`` (keeping its aspect ratio),
    then by a random factor in ``config.scale``, flipped with probability
    ``config.hflip`` and cropped (or zero-padded) at a random place to ``size``.
    Colour is resized bilinearly; depth, masks and labels nearest-neighbour, so
    no invalid depth (0) or label is blended. With ``config=None`` the image is
    only scaled to cover ``size`` and centre-cropped.

    Args:
        rgb: ``uint8[H, W, 3]``.
        depth: ``float32[H, W]`` metres, 0 = no measurement.
        masks: ``bool[N, H, W]`` instance masks, or None.
        semantic: integer ``[H, W]`` class labels, or None.
        size: ``(width, height)`` of the output.
        rng: the source of randomness (seed it for reproducible runs).

    Returns:
        ``(rgb uint8[h, w, 3], depth float32[h, w], masks bool[N, h, w] | None,
        semantic uint8[h, w] | None)`` with ``(w, h) = size``; padding is depth
        0, mask False and label :data:`IGNORE_LABEL`. Masks may come back
        empty (cropped away); callers drop them.
    """
    import cv2

    h0, w0 = depth.shape
    if rgb.shape[:2] != (h0, w0):
        raise InvalidFrameError(f"rgb {rgb.shape[:2]} and depth {(h0, w0)} differ in size")
    out_w, out_h = int(size[0]), int(size[1])
    scale = max(out_w / w0, out_h / h0)
    flip = False
    if config is not None:
        low, high = config.scale
        scale *= float(np.exp(rng.uniform(np.log(low), np.log(high))))
        flip = bool(rng.random() < config.hflip)
    new_w, new_h = w0 * scale, h0 * scale
    if config is None:
        ox, oy = (new_w - out_w) / 2, (new_h - out_h) / 2
    else:  # a random window; when the scaled image is smaller it lands anywhere inside
        ox = rng.uniform(min(0.0, new_w - out_w), max(0.0, new_w - out_w))
        oy = rng.uniform(min(0.0, new_h - out_h), max(0.0, new_h - out_h))
    # dst = scale * src - offset (pixel centres at integers, as cv2.warpAffine), then the flip.
    m = np.array([[scale, 0.0, -ox + (scale - 1) / 2], [0.0, scale, -oy + (scale - 1) / 2]])
    if flip:
        m[0] = [-scale, 0.0, out_w - 1 - m[0, 2]]
    dsize = (out_w, out_h)
    rgb_out = _warp(np.ascontiguousarray(rgb), m, dsize, cv2.INTER_LINEAR, 0)
    depth_out = _warp(np.ascontiguousarray(depth, np.float32), m, dsize, cv2.INTER_NEAREST, 0)
    masks_out = None
    if masks is not None:
        stack = np.ascontiguousarray(np.asarray(masks, bool).transpose(1, 2, 0).astype(np.uint8))
        masks_out = _warp(stack, m, dsize, cv2.INTER_NEAREST, 0).transpose(2, 0, 1).astype(bool)
    sem_out = None
    if semantic is not None:
        sem_out = _warp(np.ascontiguousarray(semantic, np.uint8), m, dsize, cv2.INTER_NEAREST,
                        IGNORE_LABEL)
    if config is not None and (config.brightness or config.contrast or config.saturation
                               or config.hue):
        rgb_out = _colour_jitter(rgb_out, rng, config)
    return rgb_out, depth_out, masks_out, sem_out


# --------------------------------------------------------------------------- data

def _as_samples(data: Any, what: str) -> Any:
    if data is None:
        return None
    if isinstance(data, (str, os.PathLike)):
        from .sim.dataset import CocoRGBDDataset

        return CocoRGBDDataset(data)
    if not hasattr(data, "__len__") or not hasattr(data, "__getitem__"):
        raise ConfigError(f"{what} must be a dataset folder, a CocoRGBDDataset or a sequence of "
                          f"samples with frame/instances/semantic, got {type(data).__name__}")
    return data


class _Subset:
    """Some frames of ``data``; ``holdout``: held out of the training set by :func:`_split`."""

    def __init__(self, data: Any, indices: Sequence[int], holdout: bool = False) -> None:
        self.data, self.indices, self.holdout = data, list(indices), holdout

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Any:
        return self.data[self.indices[i]]


def _split(train: Any, val: Any, fraction: float, seed: int) -> tuple[Any, Any]:
    if val is not None or fraction <= 0 or len(train) < 2:
        return train, val
    order = np.random.default_rng([seed, 7]).permutation(len(train))
    k = max(1, round(len(train) * fraction))
    return _Subset(train, sorted(order[k:])), _Subset(train, sorted(order[:k]), holdout=True)


def _categories(data: Any, class_agnostic: bool) -> tuple[str, ...]:
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


def _describe(data: Any) -> str:
    """``"out/sim_train (300 images)"``: the folder, or the type of in-memory data."""
    if data is None:
        return "none"
    root = getattr(data, "root", None) or getattr(getattr(data, "data", None), "root", None)
    where = os.fspath(root) if root is not None else type(data).__name__
    part = " subset" if isinstance(data, _Subset) else ""
    return f"{where} ({len(data)} images{part})"


def _dataset_name(data: Any, default: str) -> str:
    """Key of the weights' metrics: the dataset folder's name (``sim_val``)."""
    root = getattr(data, "root", None) or getattr(getattr(data, "data", None), "root", None)
    if root is None:
        return default
    name = Path(os.fspath(root)).name
    return f"{name}_holdout" if getattr(data, "holdout", False) else name


# --------------------------------------------------------------------------- task adapters

class _Task:
    """What differs between the two tasks: model, batch, loss, validation, meta."""

    name = ""
    metric = ""  # the validation number plotted and reported

    def __init__(self, cfg: TrainConfig, size: tuple[int, int], train_data: Any) -> None:
        self.cfg, self.size = cfg, size
        self.seg: Any = None
        self.model: Any = None

    def batch(self, samples: Sequence[Any], rngs: Sequence[np.random.Generator]) -> Any:
        raise NotImplementedError

    def loss(self, batch: Any) -> tuple["torch.Tensor", dict[str, float]]:
        raise NotImplementedError

    def validate(self, val: Any) -> dict[str, float]:
        raise NotImplementedError

    def state_dict(self) -> dict[str, "torch.Tensor"]:
        return dict(self.model.state_dict())

    def identity(self) -> dict[str, Any]:
        """What a checkpoint must match to be resumed by this run."""
        return {"arch": self.seg.meta["arch"], "categories": list(self.seg.meta["categories"]),
                "in_channels": self.seg.meta["in_channels"],
                "config": dict(self.seg.meta.get("config") or {})}


def _to_input(rgb: np.ndarray, depth: np.ndarray, in_channels: int,
              normalise: bool) -> np.ndarray:
    """``float32[C, H, W]`` as the inference backends build it (see ``_learned``)."""
    from .segmenters._learned import channel_stats

    planes = [rgb.astype(np.float32).transpose(2, 0, 1) / np.float32(255.0)]
    if in_channels == 4:
        planes.append(depth[None].astype(np.float32))
    x = np.concatenate(planes, axis=0)
    if normalise:
        mean, std = channel_stats(in_channels)
        x -= np.asarray(mean, np.float32)[:, None, None]
        x /= np.asarray(std, np.float32)[:, None, None]
    return np.ascontiguousarray(x)


def _unfreeze_batchnorm(module: "torch.nn.Module") -> int:
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
            count += _unfreeze_batchnorm(child)
    return count


class _MaskRCNNTask(_Task):
    name = "maskrcnn"
    metric = "mask_AP50"

    def __init__(self, cfg: TrainConfig, size: tuple[int, int], train_data: Any) -> None:
        from .segmenters import build_instance_segmenter

        super().__init__(cfg, size, train_data)
        self.categories = _categories(train_data, cfg.class_agnostic)
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
            _unfreeze_batchnorm(model)
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
            images.append(torch.from_numpy(_to_input(rgb, depth, self.cfg.in_channels, False)
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

        from .metrics.coco import mask_ap
        from .segmenters.mask_rcnn import MaskRCNNSegmenter

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


class _UNetTask(_Task):
    name = "unet"
    metric = "miou"

    def __init__(self, cfg: TrainConfig, size: tuple[int, int], train_data: Any) -> None:
        import torch

        from .segmenters import build_semantic_segmenter

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
            xs.append(_to_input(rgb, depth, self.cfg.in_channels, True))
            ys.append(sem.astype(np.int64))
        return (torch.from_numpy(np.stack(xs)).to(self.cfg.device),
                torch.from_numpy(np.stack(ys)).to(self.cfg.device))

    def loss(self, batch: Any) -> tuple["torch.Tensor", dict[str, float]]:
        x, y = batch
        loss = self.criterion(self.model(x), y)
        return loss, {"loss_ce": float(loss.detach())}

    def validate(self, val: Any) -> dict[str, float]:
        from .metrics.semantic import confusion_matrix, per_class_iou
        from .segmenters._learned import TorchSemanticSegmenter

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


_TASKS: dict[str, Callable[..., _Task]] = {"maskrcnn": _MaskRCNNTask, "unet": _UNetTask}


# --------------------------------------------------------------------------- checkpoints

def _atomic_torch_save(obj: Any, path: Path) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A training checkpoint written by :func:`train` (read with ``weights_only=True``).

    Returns:
        ``{"format", "task", "identity", "model", "optimizer", "epoch", "batch",
        "step", "history", "torch_rng", "config", "stopped"}``: ``epoch`` full
        epochs were done and ``batch`` steps of the next one.

    Raises:
        ConfigError: the file is missing or not a seg_perception training checkpoint.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"checkpoint {path} does not exist; pass OUT/checkpoints/last.pt of "
                          "an earlier run")
    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling refused or a broken file
        raise ConfigError(f"{path} is not a readable training checkpoint ({type(exc).__name__}: "
                          f"{exc})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(f"{path} is not a seg_perception training checkpoint (format "
                          f"{CHECKPOINT_FORMAT}); to start from plain weights, train anew")
    return ckpt


# --------------------------------------------------------------------------- plot

def plot_history(history: Mapping[str, Any], path: str | os.PathLike[str], *,
                 title: str = "") -> Path:
    """Training loss per step (and its moving average) with the validation metric per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = history.get("steps", [])
    epochs = history.get("epochs", [])
    metric = history.get("metric", "")
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    if steps:
        x = np.array([s["step"] for s in steps])
        y = np.array([s["loss"] for s in steps])
        ax.plot(x, y, color="tab:blue", alpha=0.25, lw=0.8, label="loss (step)")
        k = max(1, min(50, len(y) // 10))
        if len(y) >= k:
            smooth = np.convolve(y, np.ones(k) / k, mode="valid")
            ax.plot(x[k - 1:], smooth, color="tab:blue", lw=1.8, label=f"loss ({k}-step mean)")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_yscale("log" if steps and min(s["loss"] for s in steps) > 0 else "linear")
    ax.grid(alpha=0.3)
    lines, labels = ax.get_legend_handles_labels()
    vals = [(e["end_step"], e["val"][metric]) for e in epochs
            if e.get("val") and metric in e["val"] and np.isfinite(e["val"][metric])]
    if vals:
        ax2 = ax.twinx()
        ax2.plot([v[0] for v in vals], [v[1] for v in vals], "o-", color="tab:orange",
                 label=f"val {metric}")
        ax2.set_ylabel(f"validation {metric}")
        ax2.set_ylim(0, 1)
        more_lines, more_labels = ax2.get_legend_handles_labels()
        lines, labels = lines + more_lines, labels + more_labels
    if lines:
        ax.legend(lines, labels, loc="upper right", fontsize=8)
    ax.set_title(title or "training")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- the loop

def _lr_at(step: int, total: int, cfg: TrainConfig, time_fraction: float = 0.0) -> float:
    """Linear warm-up, then cosine decay to 5 % over the steps (or the time budget)."""
    warm = max(1, min(cfg.warmup_steps, total // 2))
    if step < warm:
        return cfg.lr * (0.01 + 0.99 * step / warm)
    t = min(1.0, max((step - warm) / max(1, total - warm), time_fraction))
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))


def _image_size(cfg: TrainConfig, data: Any) -> tuple[int, int]:
    if cfg.image_size is not None:
        return int(cfg.image_size[0]), int(cfg.image_size[1])
    frame = data[0].frame
    return frame.width, frame.height


def train(task: str, data: Any, out_dir: str | os.PathLike[str], *, val_data: Any = None,
          config: TrainConfig | None = None, resume: str | os.PathLike[str] | None = None,
          progress: bool = True, command: str | None = None) -> TrainResult:
    """Train ``task`` (``"maskrcnn"`` or ``"unet"``) and save weights the builders load.

    Args:
        task: ``"maskrcnn"`` (instances) or ``"unet"`` (scene layout).
        data: training data: a COCO RGB-D folder, a
            :class:`~seg_perception.sim.dataset.CocoRGBDDataset`, or a sequence
            of samples with ``frame``, ``instances`` and ``semantic``.
        out_dir: where checkpoints, history, plot and weights go (created).
        val_data: validation data (same kinds); None holds out
            ``config.val_fraction`` of ``data``.
        config: the options (:class:`TrainConfig`; default one if None).
        resume: a checkpoint (``checkpoints/last.pt``) to continue from: model,
            optimizer, epoch, step, history and RNG state are restored; ``config``
            gives the target number of epochs.
        progress: tqdm progress bar and per-epoch lines on stderr.
        command: the command line that started the run, stored in the meta.

    Returns:
        A :class:`TrainResult`; ``result.weights.path`` is the ``.safetensors`` file.

    Raises:
        ConfigError: bad options, data without the labels the task needs, or a
            checkpoint of another task or architecture.
    """
    import torch
    from tqdm import tqdm

    from .segmenters._weights import save_weights

    cfg = (config or TrainConfig()).check(task)
    started = time.monotonic()
    deadline = None if cfg.max_minutes is None else started + 60.0 * cfg.max_minutes
    torch.set_num_threads(int(cfg.num_threads))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    train_set = _as_samples(data, "data")
    val_set = _as_samples(val_data, "val_data")
    if train_set is None or len(train_set) == 0:
        raise ConfigError("the training data is empty")
    train_set, val_set = _split(train_set, val_set, cfg.val_fraction, cfg.seed)
    if val_set is not None and cfg.val_max_frames is not None:
        val_set = _Subset(val_set, range(min(len(val_set), cfg.val_max_frames)))
    size = _image_size(cfg, train_set)

    torch.manual_seed(cfg.seed)  # the initial weights
    job = _TASKS[task](cfg, size, train_set)
    params = [p for p in job.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    n = len(train_set)
    bs = min(cfg.batch_size, n)
    steps_per_epoch = n // bs  # full batches only: batch norm dislikes a batch of one
    total_steps = steps_per_epoch * cfg.epochs
    history: dict[str, Any] = {"task": task, "arch": cfg.arch, "metric": job.metric,
                               "steps": [], "epochs": [], "runs": []}
    epoch, batch_start, step = 0, 0, 0
    ckpt_path = out / "checkpoints" / "last.pt"
    if resume is not None:
        ckpt = load_checkpoint(resume)
        if ckpt.get("task") != task or ckpt.get("identity") != job.identity():
            raise ConfigError(
                f"checkpoint {resume} is of another model ({ckpt.get('task')}: "
                f"{ckpt.get('identity')}) than this run ({task}: {job.identity()}); resume with "
                "the same --arch, --in-channels, classes and model options")
        job.model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        epoch, batch_start, step = int(ckpt["epoch"]), int(ckpt["batch"]), int(ckpt["step"])
        history = json.loads(ckpt["history"])
        torch.set_rng_state(ckpt["torch_rng"])
        if batch_start and ckpt.get("steps_per_epoch") != steps_per_epoch:
            warnings.warn(f"{resume} stopped inside an epoch of another length (data or batch "
                          "size changed); resuming at the next epoch", RuntimeWarning,
                          stacklevel=2)
            epoch, batch_start = epoch + 1, 0
        if progress:
            print(f"[train] resumed {resume}: epoch {epoch} step {step}", file=sys.stderr)
    history["runs"].append({"command": command, "start_epoch": epoch, "start_step": step,
                            "config": _config_json(cfg)})

    def checkpoint(stopped: bool) -> None:
        _atomic_torch_save({
            "format": CHECKPOINT_FORMAT, "task": task, "identity": job.identity(),
            "model": job.model.state_dict(), "optimizer": optimizer.state_dict(),
            "epoch": epoch, "batch": batch_start, "step": step,
            "steps_per_epoch": steps_per_epoch, "history": json.dumps(history),
            "torch_rng": torch.get_rng_state(), "config": json.dumps(_config_json(cfg)),
            "stopped": stopped}, ckpt_path)

    stopped = False
    nonfinite = 0
    while epoch < cfg.epochs and not stopped:
        epoch_started = time.monotonic()
        order = np.random.default_rng([cfg.seed, epoch]).permutation(n)
        losses: list[float] = []
        bar = tqdm(range(batch_start, steps_per_epoch), desc=f"{task} epoch {epoch + 1}/"
                   f"{cfg.epochs}", unit="step", disable=not progress, leave=False,
                   file=sys.stderr, dynamic_ncols=True)
        for b in bar:
            idx = order[b * bs:(b + 1) * bs]
            rngs = [np.random.default_rng([cfg.seed, epoch, int(i)]) for i in idx]
            batch = job.batch([train_set[int(i)] for i in idx], rngs)
            spent = 0.0
            if cfg.anneal_by_time and deadline is not None:
                spent = (time.monotonic() - started) / (deadline - started)
            lr = _lr_at(step, total_steps, cfg, spent)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss, parts = job.loss(batch)
            if not torch.isfinite(loss):
                nonfinite += 1
                if nonfinite >= _MAX_NONFINITE:
                    raise ConfigError(f"the loss was not finite for {nonfinite} steps in a row "
                                      f"(at step {step}); lower the learning rate (lr={cfg.lr})")
                optimizer.zero_grad(set_to_none=True)
            else:
                nonfinite = 0
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip:
                    torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                optimizer.step()
            value = float(loss.detach())
            losses.append(value)
            history["steps"].append({"step": step, "epoch": epoch, "loss": round(value, 6),
                                     "lr": lr, **{k: round(v, 6) for k, v in parts.items()}})
            step += 1
            batch_start = b + 1
            bar.set_postfix(loss=f"{value:.4f}", lr=f"{lr:.2e}")
            if deadline is not None and time.monotonic() > deadline and (
                    batch_start < steps_per_epoch or epoch + 1 < cfg.epochs):
                stopped = True
                break
        bar.close()
        if stopped and batch_start < steps_per_epoch:
            if progress:
                print(f"[train] time budget of {cfg.max_minutes} min spent at epoch {epoch + 1} "
                      f"step {batch_start}/{steps_per_epoch}; checkpoint {ckpt_path}",
                      file=sys.stderr)
            checkpoint(stopped=True)
            break
        val = job.validate(val_set) if val_set is not None and len(val_set) else {}
        history["epochs"].append({
            "epoch": epoch + 1, "end_step": step,
            "train_loss": float(np.mean(losses)) if losses else float("nan"),
            "seconds": round(time.monotonic() - epoch_started, 2), "val": val})
        epoch, batch_start = epoch + 1, 0
        checkpoint(stopped=stopped)
        _write_history(history, out, title=f"{cfg.arch} on {_describe(train_set)}")
        if progress:
            shown = f" val {job.metric}={val[job.metric]:.4f}" if job.metric in val else ""
            print(f"[train] epoch {epoch}/{cfg.epochs} loss={history['epochs'][-1]['train_loss']:.4f}"
                  f"{shown} ({history['epochs'][-1]['seconds']:.0f} s)", file=sys.stderr)
        if stopped and progress:
            print(f"[train] time budget of {cfg.max_minutes} min spent after epoch {epoch}; "
                  f"checkpoint {ckpt_path}", file=sys.stderr)

    seconds = time.monotonic() - started
    # The weights' metrics must describe these weights: validate again if the last
    # recorded validation is older than the last step.
    last_val: dict[str, float] = {}
    if history["epochs"] and history["epochs"][-1]["end_step"] == step:
        last_val = dict(history["epochs"][-1]["val"])
    elif val_set is not None and len(val_set):
        last_val = job.validate(val_set)
        history["final_val"] = {"step": step, "val": last_val}
    history.setdefault("seconds", 0.0)
    history["seconds"] = round(float(history["seconds"]) + seconds, 1)
    _write_history(history, out, title=f"{cfg.arch} on {_describe(train_set)}")

    meta = dict(job.seg.meta)
    if last_val:
        meta["metrics"] = {_dataset_name(val_set, "val"): {
            k: round(v, 4) for k, v in last_val.items() if isinstance(v, float) and np.isfinite(v)}}
    else:
        meta["metrics"] = {}
    meta["training"] = {
        "command": command, "task": task, "data": _describe(train_set),
        "val_data": _describe(val_set),
        "num_train_images": n, "epochs_completed": epoch, "steps": step,
        "seconds": history["seconds"], "stopped_early": stopped, "config": _config_json(cfg),
        "versions": {"torch": torch.__version__, **_versions()}}
    if task == "unet" and getattr(job, "weight", None) is not None:
        meta["training"]["class_weights"] = job.weight
    weights = save_weights(job.state_dict(), out / "model.safetensors", meta)
    return TrainResult(weights=weights, history=history, checkpoint=ckpt_path, out_dir=out,
                       epochs_completed=epoch, stopped_early=stopped, seconds=seconds,
                       model=job.model.eval())


def _config_json(cfg: TrainConfig) -> dict[str, Any]:
    out = asdict(cfg)
    out["image_size"] = list(cfg.image_size) if cfg.image_size else None
    out["model_config"] = dict(cfg.model_config)
    return json.loads(json.dumps(out))


def _versions() -> dict[str, str]:
    versions = {}
    for name in ("torchvision", "numpy"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:  # pragma: no cover - both are dependencies of training
            pass
    return versions


def _write_history(history: Mapping[str, Any], out: Path, *, title: str) -> None:
    tmp = out / "history.json.tmp"
    tmp.write_text(json.dumps(history, indent=1, allow_nan=True) + "\n", encoding="utf-8")
    os.replace(tmp, out / "history.json")
    plot_history(history, out / "loss_curve.png", title=title)


def train_maskrcnn(data: Any, out_dir: str | os.PathLike[str], **kwargs: Any) -> TrainResult:
    """:func:`train` of ``"maskrcnn"`` (same keyword arguments)."""
    return train("maskrcnn", data, out_dir, **kwargs)


def train_unet(data: Any, out_dir: str | os.PathLike[str], **kwargs: Any) -> TrainResult:
    """:func:`train` of ``"unet"`` (same keyword arguments)."""
    return train("unet", data, out_dir, **kwargs)
