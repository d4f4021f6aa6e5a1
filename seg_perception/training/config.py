"""What a training run is told and what it returns: tasks, architectures, options, result."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..segmenters._weights import Weights

__all__ = ["ARCHS", "IGNORE_LABEL", "TASKS", "AugmentConfig", "TrainConfig", "TrainResult",
           "config_json"]

TASKS = ("maskrcnn", "unet")
#: Architectures each task can train (the registered builder names).
ARCHS: dict[str, tuple[str, ...]] = {"maskrcnn": ("maskrcnn_mobilenet", "maskrcnn", "maskrcnn_v2"),
                                     "unet": ("unet",)}
#: Semantic target value of pixels without a label (padding of a crop); the loss skips them.
IGNORE_LABEL = 255


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



def config_json(cfg: TrainConfig) -> dict[str, Any]:
    """``cfg`` as plain JSON values (stored in checkpoints, history and the weights' meta)."""
    out = asdict(cfg)
    out["image_size"] = list(cfg.image_size) if cfg.image_size else None
    out["model_config"] = dict(cfg.model_config)
    return json.loads(json.dumps(out))
