"""Mask R-CNN instance segmentation (torchvision models), RGB or RGB-D input.

Three architectures, registered as instance segmenters:

* ``"maskrcnn"``: torchvision's ``maskrcnn_resnet50_fpn`` (44 M parameters);
* ``"maskrcnn_v2"``: ``maskrcnn_resnet50_fpn_v2`` (46 M, better COCO mask AP);
* ``"maskrcnn_mobilenet"``: a Mask R-CNN head on a MobileNetV3 FPN backbone
  with slim heads (5.6 M parameters with ``mobilenet_v3_large``), built from
  torchvision's parts for CPU robots. torchvision publishes no weights for it;
  ``weights="DEFAULT"`` is the project's class-agnostic RGB-D model trained on
  simulation (docs/training.md), a starting point to fine-tune on your objects.

The model (torchvision's ``GeneralizedRCNNTransform``) resizes and normalises
internally; this module only turns an :class:`~seg_perception.frames.RGBDFrame`
into a ``float32[C, H, W]`` tensor (RGB in [0, 1], depth in metres as a 4th
channel when ``in_channels=4``) and the model's output into
:class:`~seg_perception.results.InstanceMasks` at the frame's full size.

Classes: ``categories`` include ``"__background__"`` at index 0 (torchvision's
convention, and what the weights' meta stores); ``class_names`` of a
segmenter and ``class_ids`` of its results exclude it. Without weights or
``class_names`` the model is class-agnostic: one class, ``"object"``.

Example:
    >>> from seg_perception.segmenters import build_instance_segmenter
    >>> seg = build_instance_segmenter("maskrcnn_mobilenet", weights="my_objects.safetensors")  # doctest: +SKIP
    >>> out = seg.segment(frame)  # doctest: +SKIP
    >>> out.masks.shape == (len(out), frame.height, frame.width)  # doctest: +SKIP
    True
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from ..devices import resolve_device
from ..errors import ConfigError, WeightsError
from ..frames import RGBDFrame
from ..results import InstanceMasks
from ._api import register_instance_segmenter
from ._learned import (
    adapt_first_conv,
    autocast,
    channel_stats,
    check_in_channels,
    frame_tensor,
    num_params,
    parse_class_list,
    pick,
    use_fp16,
)
from ._weights import (
    Weights,
    WeightsEnum,
    bundled_weights,
    fetch_torchvision_weights,
    load_into,
    load_state_dict,
    parse_torchvision_spec,
    resolve_weights,
)

if TYPE_CHECKING:
    import torch

__all__ = [
    "MaskRCNNSegmenter",
    "MaskRCNN_MobileNet_Weights",
    "MaskRCNN_ResNet50_FPN_V2_Weights",
    "MaskRCNN_ResNet50_FPN_Weights",
    "build_maskrcnn",
    "build_maskrcnn_mobilenet",
    "build_maskrcnn_v2",
    "check_unit",
    "detections_to_instances",
    "graspable_labels",
]

_LOG = logging.getLogger(__name__)

BACKGROUND = "__background__"
# torchvision's own Mask R-CNN inner threshold; ours filters on top, so a lower
# user threshold must lower the model's too.
_MODEL_SCORE_FLOOR = 0.05


class MaskRCNN_ResNet50_FPN_Weights(WeightsEnum):
    """Bundled checkpoints of ``"maskrcnn"``: none ship; pass a file or ``torchvision:DEFAULT``."""


class MaskRCNN_ResNet50_FPN_V2_Weights(WeightsEnum):
    """Bundled checkpoints of ``"maskrcnn_v2"``: none ship; pass a file or ``torchvision:DEFAULT``."""


class MaskRCNN_MobileNet_Weights(WeightsEnum):
    """Bundled checkpoints of ``"maskrcnn_mobilenet"``.

    ``SIM_RGBD_V1`` (= ``DEFAULT``): class-agnostic ("object"), RGB-D input,
    trained from scratch on 300 simulated 320x240 tabletop frames on a 2-core
    CPU (docs/training.md has the commands and its scores).
    """

    SIM_RGBD_V1 = bundled_weights("maskrcnn_mobilenet_sim_v1.safetensors")
    DEFAULT = SIM_RGBD_V1


# --------------------------------------------------------------------------- post-processing

def detections_to_instances(boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray,
                            masks: np.ndarray, *, height: int, width: int,
                            categories: Sequence[str], score_threshold: float,
                            mask_threshold: float,
                            keep_labels: np.ndarray | None = None) -> InstanceMasks:
    """torchvision-style detections of one image as :class:`InstanceMasks`.

    Args:
        boxes: ``float[N, 4]`` xyxy pixels of the full frame.
        labels: ``int[N]`` indices into ``categories`` (0 = background).
        scores: ``float[N]`` in [0, 1].
        masks: ``float[N, 1, H, W]`` or ``float[N, H, W]`` soft masks in [0, 1]
            pasted at the frame size, or already thresholded ``bool``.
        categories: class names, ``categories[0]`` the background.
        keep_labels: labels to keep (the graspable classes); None keeps all.

    Instances scoring below ``score_threshold`` and those whose mask is empty
    after ``mask >= mask_threshold`` are dropped; the rest keep the model's
    order (decreasing score). ``class_ids`` are ``labels - 1``.
    """
    scores = np.asarray(scores, np.float32).reshape(-1)
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    masks = np.asarray(masks)
    if masks.size == 0:  # no detections: shapes may be (0,) or (0, 1, H, W)
        masks = np.zeros((0, height, width), bool)
    if masks.ndim == 4:
        masks = masks[:, 0]
    if masks.shape[1:] != (height, width):
        raise ValueError(f"masks of shape {masks.shape[1:]} are not at the frame size "
                         f"{(height, width)}")
    keep = scores >= score_threshold
    if keep_labels is not None:
        keep &= np.isin(labels, keep_labels)
    masks = masks[keep]
    binary = masks if masks.dtype == bool else masks >= mask_threshold
    keep_idx = np.flatnonzero(keep)
    nonempty = binary.any(axis=(1, 2))
    keep_idx, binary = keep_idx[nonempty], binary[nonempty]
    out_boxes = np.asarray(boxes, np.float32).reshape(-1, 4)[keep_idx]
    out_boxes[:, 0::2] = out_boxes[:, 0::2].clip(0, width)
    out_boxes[:, 1::2] = out_boxes[:, 1::2].clip(0, height)
    out_labels = labels[keep_idx]
    return InstanceMasks(masks=np.ascontiguousarray(binary), scores=scores[keep_idx],
                         class_ids=(out_labels - 1).astype(np.int32),
                         class_names=tuple(categories[i] for i in out_labels),
                         boxes=out_boxes)


def graspable_labels(categories: Sequence[str], graspable_classes: Sequence[str] | str | None,
                     ) -> tuple[tuple[str, ...] | None, np.ndarray | None]:
    """The graspable class names and their model labels (indices into ``categories``)."""
    names = parse_class_list(graspable_classes, "graspable_classes")
    if names is None:
        return None, None
    known = tuple(categories[1:])
    unknown = [c for c in names if c not in known]
    if unknown:
        raise ConfigError(f"graspable_classes {unknown} are not classes of this model "
                          f"({', '.join(known[:10])}{', ...' if len(known) > 10 else ''})")
    return names, np.array([list(categories).index(c) for c in names], np.int64)


def check_unit(name: str, value: Any) -> float:
    if not 0.0 <= float(value) <= 1.0:
        raise ConfigError(f"{name}={value} must be in [0, 1]")
    return float(value)


class MaskRCNNSegmenter:
    """Instance segmentation with a torchvision Mask R-CNN.

    ``segment(frame)`` returns :class:`~seg_perception.results.InstanceMasks`:
    masks ``bool[N, H, W]`` in the frame's (colour camera's) pixel grid, boxes
    ``float32[N, 4]`` xyxy frame pixels, scores ``float32[N]`` in [0, 1] in
    decreasing order, ``class_ids`` ``int32[N]`` into :attr:`class_names`.

    Attributes:
        name: the registered backend name.
        device: ``"cpu"`` or ``"cuda[:N]"``.
        class_names: the object classes (no background).
        categories: ``("__background__",) + class_names``: model label -> name.
        in_channels: 3 (RGB) or 4 (RGB + depth in metres).
        model: the torchvision ``MaskRCNN`` module (eval mode).
        meta: what :func:`~seg_perception.segmenters._weights.save_weights`
            stores with the weights so the builder can rebuild the model.
        score_threshold, mask_threshold: may be changed between calls.
    """

    def __init__(self, model: "torch.nn.Module", *, name: str, categories: Sequence[str],
                 device: str, in_channels: int, score_threshold: float = 0.5,
                 mask_threshold: float = 0.5,
                 graspable_classes: Sequence[str] | str | None = None,
                 fp16: bool = False, meta: Mapping[str, Any] | None = None) -> None:
        self.model = model
        self.name = name
        self.device = device
        self.categories = tuple(categories)
        self.class_names = self.categories[1:]
        self.in_channels = in_channels
        self.fp16 = fp16
        self.meta = dict(meta or {})
        self.mask_threshold = check_unit("mask_threshold", mask_threshold)
        self.score_threshold = score_threshold
        self.graspable_classes, self._keep_labels = graspable_labels(self.categories,
                                                                     graspable_classes)

    @property
    def score_threshold(self) -> float:
        return self._score_threshold

    @score_threshold.setter
    def score_threshold(self, value: float) -> None:
        self._score_threshold = check_unit("score_threshold", value)
        roi_heads = getattr(self.model, "roi_heads", None)
        if roi_heads is not None:
            roi_heads.score_thresh = min(self._score_threshold, _MODEL_SCORE_FLOOR)

    def segment(self, frame: RGBDFrame) -> InstanceMasks:
        """Instances in ``frame`` (see the class docstring)."""
        return self.segment_batch([frame])[0]

    def segment_batch(self, frames: Sequence[RGBDFrame]) -> list[InstanceMasks]:
        """All frames in one forward pass (sizes may differ)."""
        import torch

        if not frames:
            return []
        images = [frame_tensor(f, self.in_channels, self.device) for f in frames]
        with torch.inference_mode(), autocast(self.fp16):
            outputs = self.model(images)
        return [self._to_instances(out, frame) for out, frame in zip(outputs, frames)]

    def _to_instances(self, out: Mapping[str, "torch.Tensor"], frame: RGBDFrame) -> InstanceMasks:
        import torch

        keep = out["scores"] >= self.score_threshold
        if self._keep_labels is not None:
            keep &= torch.isin(out["labels"], torch.as_tensor(self._keep_labels,
                                                              device=out["labels"].device))
        # Threshold on the device: bool masks are 4x less to copy than float.
        masks = out["masks"][keep, 0] >= self.mask_threshold
        return detections_to_instances(
            out["boxes"][keep].float().cpu().numpy(), out["labels"][keep].cpu().numpy(),
            out["scores"][keep].float().cpu().numpy(), masks.cpu().numpy(),
            height=frame.height, width=frame.width, categories=self.categories,
            score_threshold=self.score_threshold, mask_threshold=self.mask_threshold,
            keep_labels=self._keep_labels)

    def __repr__(self) -> str:
        return (f"MaskRCNNSegmenter(name={self.name!r}, device={self.device!r}, "
                f"classes={len(self.class_names)}, in_channels={self.in_channels}, "
                f"score_threshold={self.score_threshold})")


# --------------------------------------------------------------------------- architectures

def _resnet50_v1(num_classes: int, **kwargs: Any) -> "torch.nn.Module":
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
    from torchvision.ops import misc

    # Frozen batch norm, as torchvision builds it for its COCO weights, so their
    # state dicts load as they are.
    backbone = resnet_fpn_backbone(backbone_name="resnet50", weights=None,
                                   norm_layer=misc.FrozenBatchNorm2d, trainable_layers=5)
    return MaskRCNN(backbone, num_classes=num_classes, **kwargs)


def _resnet50_v2(num_classes: int, **kwargs: Any) -> "torch.nn.Module":
    from torchvision.models.detection import maskrcnn_resnet50_fpn_v2

    return maskrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None,
                                    num_classes=num_classes, **kwargs)


_MOBILENETS = ("mobilenet_v3_large", "mobilenet_v3_small")


def _mobilenet(num_classes: int, backbone: str = "mobilenet_v3_large", fpn_channels: int = 128,
               **kwargs: Any) -> "torch.nn.Module":
    from torchvision import models
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
    from torchvision.ops import misc

    if backbone not in _MOBILENETS:
        raise ConfigError(f"backbone={backbone!r} is not one of {', '.join(_MOBILENETS)}")
    features = getattr(models, backbone)(weights=None, norm_layer=misc.FrozenBatchNorm2d).features
    # The last two stride stages feed the FPN, as torchvision's MobileNet Faster R-CNN.
    stages = [0] + [i for i, b in enumerate(features) if getattr(b, "_is_cn", False)]
    stages.append(len(features) - 1)
    returned = [len(stages) - 2, len(stages) - 1]
    fpn = BackboneWithFPN(features, {str(stages[k]): str(v) for v, k in enumerate(returned)},
                          [features[stages[k]].out_channels for k in returned], fpn_channels)
    anchors = AnchorGenerator(((32, 64, 128, 256, 512),) * 3, ((0.5, 1.0, 2.0),) * 3)
    # Slim heads: the default 1024-wide box MLP alone would be 14 M parameters.
    representation, mask_width = 256, fpn_channels
    return MaskRCNN(
        fpn, num_classes=None, rpn_anchor_generator=anchors,
        box_head=TwoMLPHead(fpn_channels * 7 * 7, representation),
        box_predictor=FastRCNNPredictor(representation, num_classes),
        mask_head=MaskRCNNHeads(fpn_channels, [mask_width, mask_width], 1),
        mask_predictor=MaskRCNNPredictor(mask_width, mask_width, num_classes), **kwargs)


def _torchvision_enum(arch: str) -> Any:
    from torchvision.models import detection

    return {"maskrcnn": detection.MaskRCNN_ResNet50_FPN_Weights,
            "maskrcnn_v2": detection.MaskRCNN_ResNet50_FPN_V2_Weights}.get(arch)


def _set_frozen_bn_eps(model: "torch.nn.Module", eps: float) -> None:
    from torchvision.ops import misc

    for module in model.modules():
        if isinstance(module, misc.FrozenBatchNorm2d):
            module.eps = eps


def _categories(class_names: Sequence[str] | str | None, num_classes: int | None,
                from_weights: Sequence[str] | None) -> tuple[str, ...]:
    names = parse_class_list(class_names, "class_names")
    if num_classes is not None and num_classes < 2:
        raise ConfigError(f"num_classes={num_classes} counts the background (torchvision's "
                          "convention), so it must be at least 2")
    if names is not None and num_classes is not None and len(names) + 1 != num_classes:
        raise ConfigError(f"num_classes={num_classes} counts the background, so it must be "
                          f"len(class_names) + 1 = {len(names) + 1}")
    if from_weights is not None:
        count = len(from_weights)
        for param, value in (("class_names", None if names is None else len(names) + 1),
                             ("num_classes", num_classes)):
            if value is not None and value != count:
                raise ConfigError(
                    f"{param} gives {value - 1} object classes but the weights have {count - 1} "
                    f"({', '.join(list(from_weights)[1:6])}, ...); drop {param} or pass weights "
                    "trained for your classes")
        if names is not None:  # same count: renaming the classes is fine
            return (BACKGROUND,) + names
        return tuple(from_weights)
    if names is not None:
        return (BACKGROUND,) + names
    if num_classes is not None:
        return (BACKGROUND,) + tuple(f"class_{i}" for i in range(1, num_classes))
    return (BACKGROUND, "object")


def _build(arch: str, make_model: Callable[..., Any], enum: type[WeightsEnum], *,
           weights: Any, device: str, num_classes: int | None,
           class_names: Sequence[str] | str | None, graspable_classes: Any,
           score_threshold: float, mask_threshold: float, fp16: bool, in_channels: int | None,
           min_size: int | None, max_size: int | None, default_size: tuple[int, int],
           arch_config: Mapping[str, Any], arch_defaults: Mapping[str, Any],
           model_kwargs: Mapping[str, Any]) -> MaskRCNNSegmenter:
    device = resolve_device(device)
    tv_name = parse_torchvision_spec(weights)
    local: Weights | None = None
    tv_state = None
    if tv_name is not None:
        tv_enum = _torchvision_enum(arch)
        if tv_enum is None:
            raise WeightsError(f"torchvision publishes no Mask R-CNN weights for the {arch!r} "
                               "architecture; train it and pass the local weights file, or use "
                               "'maskrcnn' / 'maskrcnn_v2' with weights='torchvision:DEFAULT'")
        member, tv_state = fetch_torchvision_weights(tv_enum, tv_name)
        meta: dict[str, Any] = {
            "categories": list(member.meta["categories"]), "in_channels": 3,
            "transforms": {"min_size": 800, "max_size": 1333},  # torchvision's defaults
            "metrics": dict(member.meta.get("_metrics", {})),
            # torchvision's v1 COCO weights were trained with eps=0 frozen batch norm.
            "config": {"frozen_bn_eps": 0.0} if member.name == "COCO_V1" and arch == "maskrcnn"
            else {},
            "source": f"torchvision:{type(member).__name__}.{member.name}"}
    else:
        local = resolve_weights(weights, arch=arch, enum=enum)
        meta = dict(local.meta) if local is not None else {}
    # Read (and verify) the file before building the model: a bad file fails fast.
    local_state = load_state_dict(local) if local is not None else None
    saved_config = dict(meta.get("config") or {})
    config = {k: pick(k, v, saved_config.get(k), arch_defaults[k]) for k, v in arch_config.items()}
    categories = _categories(class_names, num_classes, meta.get("categories"))
    if tv_state is not None:
        channels = check_in_channels(3 if in_channels is None else in_channels)
    else:
        channels = check_in_channels(pick("in_channels", in_channels, meta.get("in_channels"), 3))
    transforms = dict(meta.get("transforms") or {})
    # The input size is preprocessing, not architecture: the user may override the weights'.
    sizes = {"min_size": min_size or transforms.get("min_size") or default_size[0],
             "max_size": max_size or transforms.get("max_size") or default_size[1]}
    for key, value in sizes.items():
        if not isinstance(value, int) or value < 32:
            raise ConfigError(f"{key}={value!r} must be an integer >= 32 (pixels)")
    mean, std = channel_stats(channels)
    kwargs = dict(model_kwargs)
    kwargs.update(sizes, image_mean=list(mean), image_std=list(std))
    model = make_model(num_classes=len(categories), **config, **kwargs)
    if tv_state is not None:  # the RGB checkpoint first, then widen the input for depth
        load_into(model, tv_state)
        adapt_first_conv(model.backbone, channels)
    else:
        adapt_first_conv(model.backbone, channels)
        if local is not None:
            load_into(model, local_state, source=str(local.file))  # type: ignore[arg-type]
        else:
            _LOG.warning("%s: no weights given; the model is randomly initialised and its "
                         "output is meaningless until trained", arch)
    eps = saved_config.get("frozen_bn_eps")
    if eps is not None:
        _set_frozen_bn_eps(model, float(eps))
        config["frozen_bn_eps"] = float(eps)
    model.eval().requires_grad_(False).to(device)
    out_meta = {"arch": arch, "categories": list(categories), "in_channels": channels,
                "num_params": num_params(model), "metrics": dict(meta.get("metrics") or {}),
                "transforms": sizes, "config": config}
    if "source" in meta:  # e.g. torchvision:MaskRCNN_ResNet50_FPN_Weights.COCO_V1
        out_meta["source"] = meta["source"]
    return MaskRCNNSegmenter(model, name=arch, categories=categories, device=device,
                             in_channels=channels, score_threshold=score_threshold,
                             mask_threshold=mask_threshold, graspable_classes=graspable_classes,
                             fp16=use_fp16(fp16, device, arch), meta=out_meta)


_ARGS_DOC = """
    Args:
        weights: None (random initialisation: only for training or tests), a
            local ``.safetensors``/``.pt``/``.pth`` file (its JSON sidecar written
            by ``save_weights`` supplies classes, input channels and sizes), a
            ``Weights``/weights enum member, or ``"torchvision:DEFAULT"`` (named
            torchvision weights, fetched through the torch hub cache; needs the
            network the first time).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``; an absent GPU
            falls back to the CPU with a warning.
        num_classes: model outputs *including the background* (torchvision's
            convention); default from the weights, else 2 (background, object).
        class_names: the object classes, without the background; may rename the
            weights' classes but not change their number.
        graspable_classes: keep only instances of these classes (names, or one
            comma-separated string); None keeps all.
        score_threshold: drop instances scoring below this, [0, 1].
        mask_threshold: soft-mask probability at which a pixel is in the mask, [0, 1].
        fp16: float16 autocast on CUDA; warned about and ignored on the CPU.
        in_channels: 3 (RGB) or 4 (RGB + depth in metres as a 4th channel; the
            first convolution is widened); default from the weights, else 3.
        min_size, max_size: the model resizes each image so its shorter side is
            ``min_size`` unless the longer would exceed ``max_size`` (pixels);
            default from the weights, else {sizes}.
        **kwargs: passed on to ``torchvision.models.detection.MaskRCNN`` (e.g.
            ``box_detections_per_img``, ``rpn_post_nms_top_n_test``).

    Raises:
        WeightsError: the weights are missing, unreadable, corrupt, unsafe, or
            of another architecture.
        ConfigError: an option out of range or in conflict with the weights.
"""


@register_instance_segmenter("maskrcnn")
def build_maskrcnn(*, weights: Any = None, device: str = "cpu", num_classes: int | None = None,
                   class_names: Sequence[str] | str | None = None,
                   graspable_classes: Sequence[str] | str | None = None,
                   score_threshold: float = 0.5, mask_threshold: float = 0.5, fp16: bool = False,
                   in_channels: int | None = None, min_size: int | None = None,
                   max_size: int | None = None, **kwargs: Any) -> MaskRCNNSegmenter:
    return _build("maskrcnn", _resnet50_v1, MaskRCNN_ResNet50_FPN_Weights, weights=weights,
                  device=device, num_classes=num_classes, class_names=class_names,
                  graspable_classes=graspable_classes, score_threshold=score_threshold,
                  mask_threshold=mask_threshold, fp16=fp16, in_channels=in_channels,
                  min_size=min_size, max_size=max_size, default_size=(800, 1333),
                  arch_config={}, arch_defaults={}, model_kwargs=kwargs)


@register_instance_segmenter("maskrcnn_v2")
def build_maskrcnn_v2(*, weights: Any = None, device: str = "cpu", num_classes: int | None = None,
                      class_names: Sequence[str] | str | None = None,
                      graspable_classes: Sequence[str] | str | None = None,
                      score_threshold: float = 0.5, mask_threshold: float = 0.5,
                      fp16: bool = False, in_channels: int | None = None,
                      min_size: int | None = None, max_size: int | None = None,
                      **kwargs: Any) -> MaskRCNNSegmenter:
    return _build("maskrcnn_v2", _resnet50_v2, MaskRCNN_ResNet50_FPN_V2_Weights, weights=weights,
                  device=device, num_classes=num_classes, class_names=class_names,
                  graspable_classes=graspable_classes, score_threshold=score_threshold,
                  mask_threshold=mask_threshold, fp16=fp16, in_channels=in_channels,
                  min_size=min_size, max_size=max_size, default_size=(800, 1333),
                  arch_config={}, arch_defaults={}, model_kwargs=kwargs)


@register_instance_segmenter("maskrcnn_mobilenet")
def build_maskrcnn_mobilenet(*, weights: Any = None, device: str = "cpu",
                             num_classes: int | None = None,
                             class_names: Sequence[str] | str | None = None,
                             graspable_classes: Sequence[str] | str | None = None,
                             score_threshold: float = 0.5, mask_threshold: float = 0.5,
                             fp16: bool = False, in_channels: int | None = None,
                             min_size: int | None = None, max_size: int | None = None,
                             backbone: str | None = None, fpn_channels: int | None = None,
                             **kwargs: Any) -> MaskRCNNSegmenter:
    return _build("maskrcnn_mobilenet", _mobilenet, MaskRCNN_MobileNet_Weights, weights=weights,
                  device=device, num_classes=num_classes, class_names=class_names,
                  graspable_classes=graspable_classes, score_threshold=score_threshold,
                  mask_threshold=mask_threshold, fp16=fp16, in_channels=in_channels,
                  min_size=min_size, max_size=max_size, default_size=(480, 640),
                  arch_config={"backbone": backbone, "fpn_channels": fpn_channels},
                  arch_defaults={"backbone": "mobilenet_v3_large", "fpn_channels": 128},
                  model_kwargs=kwargs)


build_maskrcnn.__doc__ = (
    "Mask R-CNN, ResNet-50 FPN backbone (torchvision ``maskrcnn_resnet50_fpn``).\n"
    + _ARGS_DOC.format(sizes="800 and 1333"))
build_maskrcnn_v2.__doc__ = (
    "Mask R-CNN v2, ResNet-50 FPN backbone (torchvision ``maskrcnn_resnet50_fpn_v2``).\n"
    + _ARGS_DOC.format(sizes="800 and 1333"))
build_maskrcnn_mobilenet.__doc__ = (
    "Mask R-CNN with slim heads on a MobileNetV3 FPN backbone, for CPUs.\n"
    + _ARGS_DOC.format(sizes="480 and 640 (a VGA frame at its own size)").rstrip()
    + "\n        backbone: ``mobilenet_v3_large`` (default) or ``mobilenet_v3_small``."
    "\n        fpn_channels: width of the FPN and heads (default 128).\n")
