"""Semantic segmentation with torchvision's DeepLabV3, FCN and LR-ASPP models.

Registered semantic segmenters:

* ``"deeplabv3"``: ``backbone="mobilenet_v3_large"`` (11 M parameters, default)
  or ``"resnet50"`` (42 M) / ``"resnet101"``;
* ``"fcn"``: ``backbone="resnet50"`` (default) or ``"resnet101"``;
* ``"lraspp"``: LR-ASPP on ``mobilenet_v3_large`` (3.2 M), the fastest.

Weights: a local file saved with ``save_weights`` (its sidecar gives classes,
input channels and the backbone), or ``"torchvision:DEFAULT"``: torchvision's
21 Pascal VOC classes trained on COCO, fetched through the torch hub cache
when online. The training-only auxiliary head of torchvision's checkpoints is
not built and its weights are ignored.

Pre- and post-processing (resize, normalise, upsample the logits to the frame,
softmax) is done outside the model by
:class:`~seg_perception.segmenters._learned.TorchSemanticSegmenter`.

Example:
    >>> from seg_perception.segmenters import build_semantic_segmenter
    >>> seg = build_semantic_segmenter("lraspp", weights="torchvision:DEFAULT")  # doctest: +SKIP
    >>> seg.segment(frame).mask_of("bottle").sum()  # doctest: +SKIP
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from ..errors import ConfigError
from ._api import register_semantic_segmenter
from ._learned import TorchSemanticSegmenter, adapt_first_conv, build_torch_semantic
from ._weights import WeightsEnum

if TYPE_CHECKING:
    import torch

__all__ = [
    "DeepLabV3_Weights",
    "FCN_Weights",
    "LRASPP_Weights",
    "VOC_CLASSES",
    "build_deeplabv3",
    "build_fcn",
    "build_lraspp",
]

#: torchvision's Pascal VOC label set (index = label), the classes of its weights.
VOC_CLASSES: tuple[str, ...] = (
    "__background__", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep",
    "sofa", "train", "tvmonitor")

# (family, backbone) -> (torchvision builder, torchvision weights enum)
_MODELS = {
    ("deeplabv3", "mobilenet_v3_large"): ("deeplabv3_mobilenet_v3_large",
                                          "DeepLabV3_MobileNet_V3_Large_Weights"),
    ("deeplabv3", "resnet50"): ("deeplabv3_resnet50", "DeepLabV3_ResNet50_Weights"),
    ("deeplabv3", "resnet101"): ("deeplabv3_resnet101", "DeepLabV3_ResNet101_Weights"),
    ("fcn", "resnet50"): ("fcn_resnet50", "FCN_ResNet50_Weights"),
    ("fcn", "resnet101"): ("fcn_resnet101", "FCN_ResNet101_Weights"),
    ("lraspp", "mobilenet_v3_large"): ("lraspp_mobilenet_v3_large",
                                       "LRASPP_MobileNet_V3_Large_Weights"),
}
_DEFAULT_BACKBONE = {"deeplabv3": "mobilenet_v3_large", "fcn": "resnet50",
                     "lraspp": "mobilenet_v3_large"}


class DeepLabV3_Weights(WeightsEnum):
    """Bundled checkpoints of ``"deeplabv3"``: none ship; pass a file or ``torchvision:DEFAULT``."""


class FCN_Weights(WeightsEnum):
    """Bundled checkpoints of ``"fcn"``: none ship; pass a file or ``torchvision:DEFAULT``."""


class LRASPP_Weights(WeightsEnum):
    """Bundled checkpoints of ``"lraspp"``: none ship; pass a file or ``torchvision:DEFAULT``."""


def _check_backbone(family: str, backbone: str | None) -> str:
    backbone = backbone or _DEFAULT_BACKBONE[family]
    if (family, backbone) not in _MODELS:
        options = [b for f, b in _MODELS if f == family]
        raise ConfigError(f"backbone={backbone!r} is not available for {family}; "
                          f"choose one of {', '.join(options)}")
    return backbone


def _make(family: str) -> Any:
    def make_model(num_classes: int, in_channels: int, backbone: str) -> "torch.nn.Module":
        from torchvision.models import segmentation

        builder = getattr(segmentation, _MODELS[(family, _check_backbone(family, backbone))][0])
        # weights_backbone=None: torchvision would otherwise download ImageNet weights.
        extra = {} if family == "lraspp" else {"aux_loss": False}
        model = builder(weights=None, weights_backbone=None, num_classes=num_classes, **extra)
        adapt_first_conv(model.backbone, in_channels)
        return model
    return make_model


def _torchvision_enum(family: str, backbone: str | None) -> Any:
    def get() -> Any:
        from torchvision.models import segmentation

        return getattr(segmentation, _MODELS[(family, _check_backbone(family, backbone))][1])
    return get


def _build(family: str, enum: type[WeightsEnum], *, weights: Any, device: str,
           class_names: Any, num_classes: Any, in_channels: Any, resize_size: Any, fp16: bool,
           backbone: str | None) -> TorchSemanticSegmenter:
    if backbone is not None:
        _check_backbone(family, backbone)
    return build_torch_semantic(
        family, _make(family), weights=weights, device=device, default_classes=VOC_CLASSES,
        class_names=class_names, num_classes=num_classes, in_channels=in_channels,
        resize_size=resize_size, fp16=fp16, config={"backbone": backbone},
        config_defaults={"backbone": _DEFAULT_BACKBONE[family]}, enum=enum,
        torchvision_enum=_torchvision_enum(family, backbone),
        ignore_prefixes=("aux_classifier.",))


_ARGS_DOC = """
    Args:
        weights: None (random initialisation: only for training or tests), a
            local ``.safetensors``/``.pt``/``.pth`` file (its sidecar supplies the
            classes, input channels and backbone), or ``"torchvision:DEFAULT"``.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.
        class_names: one name per label value; default from the weights, else
            the 21 VOC classes.
        num_classes: number of label values (instead of ``class_names``).
        in_channels: 3 (RGB) or 4 (RGB + depth in metres); default from the weights, else 3.
        resize_size: resize frames so the shorter side has this many pixels
            before the model (None: the frame's own size); default from the
            weights (520 for torchvision's). Results are always at frame size.
        fp16: float16 autocast on CUDA; ignored with a warning on the CPU.
        backbone: {backbones}.

    Returns:
        A segmenter whose ``segment(frame)`` gives a ``SemanticMap``: labels
        ``uint8[H, W]``, confidence ``float32[H, W]``, in the frame's pixel grid.

    Raises:
        WeightsError: missing, corrupt, unsafe or mismatched weights.
        ConfigError: an option out of range or in conflict with the weights.
"""


@register_semantic_segmenter("deeplabv3")
def build_deeplabv3(*, weights: Any = None, device: str = "cpu",
                    class_names: Sequence[str] | str | None = None,
                    num_classes: int | None = None, in_channels: int | None = None,
                    resize_size: int | None = None, fp16: bool = False,
                    backbone: str | None = None) -> TorchSemanticSegmenter:
    return _build("deeplabv3", DeepLabV3_Weights, weights=weights, device=device,
                  class_names=class_names, num_classes=num_classes, in_channels=in_channels,
                  resize_size=resize_size, fp16=fp16, backbone=backbone)


@register_semantic_segmenter("fcn")
def build_fcn(*, weights: Any = None, device: str = "cpu",
              class_names: Sequence[str] | str | None = None, num_classes: int | None = None,
              in_channels: int | None = None, resize_size: int | None = None,
              fp16: bool = False, backbone: str | None = None) -> TorchSemanticSegmenter:
    return _build("fcn", FCN_Weights, weights=weights, device=device, class_names=class_names,
                  num_classes=num_classes, in_channels=in_channels, resize_size=resize_size,
                  fp16=fp16, backbone=backbone)


@register_semantic_segmenter("lraspp")
def build_lraspp(*, weights: Any = None, device: str = "cpu",
                 class_names: Sequence[str] | str | None = None, num_classes: int | None = None,
                 in_channels: int | None = None, resize_size: int | None = None,
                 fp16: bool = False, backbone: str | None = None) -> TorchSemanticSegmenter:
    return _build("lraspp", LRASPP_Weights, weights=weights, device=device,
                  class_names=class_names, num_classes=num_classes, in_channels=in_channels,
                  resize_size=resize_size, fp16=fp16, backbone=backbone)


build_deeplabv3.__doc__ = "DeepLabV3 (torchvision).\n" + _ARGS_DOC.format(
    backbones="``mobilenet_v3_large`` (default), ``resnet50`` or ``resnet101``")
build_fcn.__doc__ = "FCN (torchvision).\n" + _ARGS_DOC.format(
    backbones="``resnet50`` (default) or ``resnet101``")
build_lraspp.__doc__ = "LR-ASPP (torchvision), the lightest.\n" + _ARGS_DOC.format(
    backbones="``mobilenet_v3_large`` (the only one)")
