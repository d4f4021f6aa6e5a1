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

Modules, each with one job: :mod:`.config` (options and result), :mod:`.data`
(datasets, hold-out split), :mod:`.augmentation`, :mod:`.tasks` with :mod:`.maskrcnn`
and :mod:`.unet` (model, batch, loss, validation per task), :mod:`.loop` (:func:`train`
as named steps), :mod:`.state` (the run's state), :mod:`.checkpoints`,
:mod:`.history` and :mod:`.plots` (``history.json``, the curve), :mod:`.shipping` (the
final weights and their meta).
"""
from __future__ import annotations

from .augmentation import augment
from .checkpoints import CHECKPOINT_FORMAT, load_checkpoint
from .config import ARCHS, IGNORE_LABEL, TASKS, AugmentConfig, TrainConfig, TrainResult
from .loop import train, train_maskrcnn, train_unet
from .plots import plot_history

__all__ = [
    "ARCHS",
    "CHECKPOINT_FORMAT",
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
