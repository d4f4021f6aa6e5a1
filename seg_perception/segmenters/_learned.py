"""Plumbing shared by the learned backends: frames to arrays, meta, precision, semantic I/O.

The pre- and post-processing of the semantic backends lives here, outside the
models, so the torch and onnxruntime backends feed a model the same input and
read its logits the same way. torch is imported inside the functions that need
it; numpy-only helpers serve the onnxruntime backends.

Input conventions of every learned backend:

* colour: RGB scaled to [0, 1], then normalised with the ImageNet mean/std;
* depth (``in_channels=4``): metres, 0 = no measurement, normalised with
  ``DEPTH_MEAN_M``/``DEPTH_STD_M`` (a tabletop working range), so "no depth"
  becomes -2, far from any valid value.
"""
from __future__ import annotations

import contextlib
import logging
import warnings
from typing import TYPE_CHECKING, Any, ContextManager, Mapping, Sequence

import numpy as np

from ..devices import resolve_device
from ..errors import ConfigError, InvalidFrameError
from ..frames import RGBDFrame
from ..results import SemanticMap
from ._weights import (
    Weights,
    WeightsEnum,
    fetch_torchvision_weights,
    load_into,
    load_state_dict,
    parse_torchvision_spec,
    resolve_weights,
)

if TYPE_CHECKING:
    import torch

__all__ = [
    "DEPTH_MEAN_M",
    "DEPTH_STD_M",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "TorchSemanticSegmenter",
    "adapt_first_conv",
    "autocast",
    "build_torch_semantic",
    "channel_stats",
    "check_in_channels",
    "frame_array",
    "frame_tensor",
    "logits_to_semantic",
    "num_params",
    "parse_class_list",
    "pick",
    "same_shape_groups",
    "semantic_input",
    "use_fp16",
]

_LOG = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEPTH_MEAN_M = 1.0  # metres: middle of a tabletop camera's 0.3-1.7 m working range
DEPTH_STD_M = 0.5


def channel_stats(in_channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel normalisation ``(mean, std)`` for 3 (RGB) or 4 (RGB-D) channels."""
    check_in_channels(in_channels)
    if in_channels == 3:
        return IMAGENET_MEAN, IMAGENET_STD
    return IMAGENET_MEAN + (DEPTH_MEAN_M,), IMAGENET_STD + (DEPTH_STD_M,)


def check_in_channels(in_channels: Any) -> int:
    if in_channels not in (3, 4):
        raise ConfigError(f"in_channels={in_channels!r} must be 3 (RGB) or 4 (RGB + depth)")
    return int(in_channels)


def _check_frame(frame: Any) -> RGBDFrame:
    if not isinstance(frame, RGBDFrame):
        raise InvalidFrameError(f"expected an RGBDFrame, got {type(frame).__name__}; build one "
                                "with RGBDFrame.create(rgb, depth, intrinsics)")
    return frame


def frame_array(frame: RGBDFrame, in_channels: int) -> np.ndarray:
    """``float32[C, H, W]``: RGB in [0, 1], then depth in metres when ``in_channels == 4``."""
    _check_frame(frame)
    rgb = frame.rgb.astype(np.float32) / np.float32(255.0)
    planes = [rgb.transpose(2, 0, 1)]
    if in_channels == 4:
        planes.append(frame.depth[None].astype(np.float32))
    return np.ascontiguousarray(np.concatenate(planes, axis=0))


def frame_tensor(frame: RGBDFrame, in_channels: int, device: str) -> "torch.Tensor":
    """:func:`frame_array` as a tensor on ``device`` (converted there: uint8 is 4x smaller)."""
    import torch

    _check_frame(frame)
    rgb = torch.from_numpy(frame.rgb).to(device).permute(2, 0, 1).float() / 255.0
    if in_channels == 3:
        return rgb.contiguous()
    depth = torch.from_numpy(frame.depth).to(device)[None].float()
    return torch.cat([rgb, depth], dim=0)


def pick(name: str, user: Any, from_weights: Any, default: Any) -> Any:
    """The user's value, else the weights', else ``default``; a conflict is a ConfigError.

    Like torchvision's ``_ovewrite_value_param``: an option the weights fix (an
    architecture choice) cannot be overridden.
    """
    if user is not None and from_weights is not None and user != from_weights:
        raise ConfigError(f"{name}={user!r} conflicts with the weights, which need "
                          f"{name}={from_weights!r}; drop the {name} argument or pass weights "
                          f"trained with {name}={user!r}")
    if user is not None:
        return user
    return from_weights if from_weights is not None else default


def parse_class_list(value: Sequence[str] | str | None, what: str) -> tuple[str, ...] | None:
    """A list of class names, or one comma-separated string; None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    names = tuple(str(v) for v in value)
    if not names:
        raise ConfigError(f"{what} is empty; give at least one class name or leave it unset")
    return names


def use_fp16(fp16: bool, device: str, backend: str) -> bool:
    """Whether to run in half precision: only on CUDA (warns and ignores it elsewhere)."""
    if not fp16:
        return False
    if not str(device).startswith("cuda"):
        warnings.warn(f"fp16 is CUDA only; {backend} runs in float32 on {device}",
                      RuntimeWarning, stacklevel=3)
        return False
    return True


def autocast(enabled: bool) -> ContextManager[Any]:
    """CUDA float16 autocast when ``enabled`` (a no-op context otherwise)."""
    if not enabled:
        return contextlib.nullcontext()
    import torch

    return torch.autocast(device_type="cuda", dtype=torch.float16)


def adapt_first_conv(module: "torch.nn.Module", in_channels: int) -> None:
    """Give the first 3-channel convolution of ``module`` ``in_channels`` inputs, in place.

    The RGB filters are kept; each extra channel (depth) starts as the mean of
    the RGB filters, so pretrained RGB weights are a sensible start for RGB-D
    fine-tuning.
    """
    import torch
    from torch import nn

    if in_channels == 3:
        return
    for name, conv in module.named_modules():
        if isinstance(conv, nn.Conv2d) and conv.in_channels == 3:
            break
    else:
        raise ConfigError(f"{type(module).__name__} has no 3-channel input convolution to adapt "
                          f"to in_channels={in_channels}")
    new = nn.Conv2d(in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                    conv.dilation, conv.groups, conv.bias is not None, conv.padding_mode,
                    device=conv.weight.device, dtype=conv.weight.dtype)
    with torch.no_grad():
        new.weight[:, :3] = conv.weight
        new.weight[:, 3:] = conv.weight.mean(dim=1, keepdim=True)
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    parent_name, _, attr = name.rpartition(".")
    setattr(module.get_submodule(parent_name), attr, new)


def num_params(model: "torch.nn.Module") -> int:
    return int(sum(p.numel() for p in model.parameters()))


# --------------------------------------------------------------------------- semantic I/O

def same_shape_groups(arrays: Sequence[np.ndarray]) -> list[list[int]]:
    """Indices of ``arrays`` grouped by shape, so each group stacks into one batch."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, x in enumerate(arrays):
        groups.setdefault(x.shape, []).append(i)
    return list(groups.values())


def semantic_input(frame: RGBDFrame, *, in_channels: int, resize_size: int | None,
                   size_multiple: int = 1) -> tuple[np.ndarray, tuple[int, int]]:
    """Normalised model input of one frame.

    Colour is resized bilinearly and depth nearest-neighbour (so no invalid 0
    is blended into valid depth) until the shorter side is ``resize_size``
    (None: keep the frame's size); then the bottom/right edges are zero-padded
    (zero = the mean after normalisation) to a multiple of ``size_multiple``.

    Returns:
        ``float32[C, h_pad, w_pad]`` and ``(h, w)``, the size before padding.
    """
    import cv2

    _check_frame(frame)
    rgb, depth = frame.rgb, frame.depth
    if resize_size is not None:
        scale = resize_size / min(frame.height, frame.width)
        size = (max(1, round(frame.width * scale)), max(1, round(frame.height * scale)))
        if size != (frame.width, frame.height):
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)
            depth = cv2.resize(depth, size, interpolation=cv2.INTER_NEAREST)
    mean, std = channel_stats(in_channels)
    planes = [rgb.astype(np.float32).transpose(2, 0, 1) / np.float32(255.0)]
    if in_channels == 4:
        planes.append(depth[None].astype(np.float32))
    x = np.concatenate(planes, axis=0)
    x -= np.asarray(mean, np.float32)[:, None, None]
    x /= np.asarray(std, np.float32)[:, None, None]
    h, w = x.shape[1:]
    pad_h, pad_w = (-h) % size_multiple, (-w) % size_multiple
    if pad_h or pad_w:
        x = np.pad(x, ((0, 0), (0, pad_h), (0, pad_w)))
    return np.ascontiguousarray(x), (h, w)


def logits_to_semantic(logits: np.ndarray, valid: tuple[int, int], height: int, width: int,
                       class_names: tuple[str, ...]) -> SemanticMap:
    """numpy post-processing of ``float[K, h_pad, w_pad]`` logits into a frame-size map.

    The padding is cropped, logits are resized bilinearly (half-pixel centres,
    as ``torch.nn.functional.interpolate(align_corners=False)``) to the frame,
    then softmax: labels are the argmax, confidence its probability.
    """
    import cv2

    logits = np.asarray(logits, np.float32)[:, :valid[0], :valid[1]]
    if logits.shape[1:] != (height, width):
        hwk = cv2.resize(np.ascontiguousarray(logits.transpose(1, 2, 0)), (width, height),
                         interpolation=cv2.INTER_LINEAR)
        logits = hwk.reshape(height, width, -1).transpose(2, 0, 1)
    labels = logits.argmax(axis=0)
    top = np.take_along_axis(logits, labels[None], axis=0)[0]
    confidence = 1.0 / np.exp(logits - top[None]).sum(axis=0)  # softmax of the top class
    return SemanticMap(labels.astype(np.uint8), class_names, confidence.astype(np.float32))


class TorchSemanticSegmenter:
    """Per-pixel classes from a torch model mapping normalised input to logits.

    The model takes ``float32[B, C, h, w]`` (see :func:`semantic_input`) and
    returns logits ``[B, K, h, w]`` (or a dict with them under ``"out"``, as
    torchvision's segmentation models do). ``segment`` returns a
    :class:`~seg_perception.results.SemanticMap` in the frame's pixel grid:
    labels ``uint8[H, W]`` indexing ``class_names``, confidence ``float32[H, W]``
    the softmax probability of the chosen class.

    Attributes:
        name: the registered backend name.
        device: ``"cpu"`` or ``"cuda[:N]"``.
        class_names: one name per label value.
        model: the torch module (eval mode).
        meta: what :func:`~seg_perception.segmenters._weights.save_weights`
            stores with the model's weights so the builder can rebuild it.
    """

    def __init__(self, model: "torch.nn.Module", *, name: str, class_names: Sequence[str],
                 device: str, in_channels: int, resize_size: int | None, size_multiple: int,
                 fp16: bool, meta: Mapping[str, Any]) -> None:
        self.model = model
        self.name = name
        self.device = device
        self.class_names = tuple(class_names)
        self.in_channels = in_channels
        self.resize_size = resize_size
        self.size_multiple = size_multiple
        self.fp16 = fp16
        self.meta = dict(meta)

    def segment(self, frame: RGBDFrame) -> SemanticMap:
        """Class of every pixel of ``frame`` (see the class docstring)."""
        return self.segment_batch([frame])[0]

    def segment_batch(self, frames: Sequence[RGBDFrame]) -> list[SemanticMap]:
        """Frames of equal size run in one forward pass each."""
        import torch

        inputs = [semantic_input(f, in_channels=self.in_channels, resize_size=self.resize_size,
                                 size_multiple=self.size_multiple) for f in frames]
        results: list[SemanticMap | None] = [None] * len(frames)
        for indices in same_shape_groups([x for x, _ in inputs]):
            batch = torch.from_numpy(np.stack([inputs[i][0] for i in indices])).to(self.device)
            with torch.inference_mode(), autocast(self.fp16):
                out = self.model(batch)
                logits = out["out"] if isinstance(out, Mapping) else out
            for j, i in enumerate(indices):
                results[i] = self._postprocess(logits[j], inputs[i][1], frames[i])
        return [r for r in results if r is not None]

    def _postprocess(self, logits: "torch.Tensor", valid: tuple[int, int],
                     frame: RGBDFrame) -> SemanticMap:
        import torch
        import torch.nn.functional as F

        # On the model's device: the resize and softmax are the costly part on a GPU.
        logits = logits[:, :valid[0], :valid[1]].float()
        if logits.shape[1:] != (frame.height, frame.width):
            logits = F.interpolate(logits[None], size=(frame.height, frame.width),
                                   mode="bilinear", align_corners=False)[0]
        confidence, labels = logits.softmax(dim=0).max(dim=0)
        return SemanticMap(labels.to(torch.uint8).cpu().numpy(), self.class_names,
                           confidence.cpu().numpy().astype(np.float32))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, device={self.device!r}, "
                f"classes={len(self.class_names)}, in_channels={self.in_channels})")


def _categories(class_names: Sequence[str] | str | None, num_classes: int | None,
                from_weights: Sequence[str] | None, default: Sequence[str]) -> tuple[str, ...]:
    names = parse_class_list(class_names, "class_names")
    if names is not None and num_classes is not None and len(names) != num_classes:
        raise ConfigError(f"num_classes={num_classes} but {len(names)} class_names were given")
    if from_weights is not None:
        count = len(from_weights)
        for param, value in (("class_names", None if names is None else len(names)),
                             ("num_classes", num_classes)):
            if value is not None and value != count:
                raise ConfigError(f"{param} gives {value} classes but the weights have {count} "
                                  f"({', '.join(list(from_weights)[:5])}, ...); drop {param} or "
                                  "pass weights trained for your classes")
        return names or tuple(from_weights)  # same count: class_names may rename
    if names is not None:
        return names
    if num_classes is not None:
        if num_classes < 1:
            raise ConfigError(f"num_classes={num_classes} must be at least 1")
        return tuple(f"class_{i}" for i in range(num_classes))
    return tuple(default)


def build_torch_semantic(arch: str, make_model: Any, *, weights: Any, device: str,
                         default_classes: Sequence[str], class_names: Any, num_classes: Any,
                         in_channels: Any, resize_size: Any, fp16: bool,
                         config: Mapping[str, Any], config_defaults: Mapping[str, Any],
                         enum: type[WeightsEnum] | None = None,
                         torchvision_enum: Any = None,
                         ignore_prefixes: Sequence[str] = ()) -> TorchSemanticSegmenter:
    """The builder body shared by the semantic backends.

    ``make_model(num_classes, in_channels, **config)`` builds the randomly
    initialised architecture; ``config`` holds the architecture options the
    user passed (None = unset), reconciled with the weights' ``config`` meta
    and falling back to ``config_defaults``.
    ``torchvision_enum`` (a callable returning the enum class) enables
    ``weights="torchvision:NAME"``. A model with a ``size_multiple`` attribute
    gets inputs padded to multiples of it.
    """
    device = resolve_device(device)
    tv_name = parse_torchvision_spec(weights)
    local: Weights | None = None
    tv_state = None
    if tv_name is not None:
        if torchvision_enum is None:
            resolve_weights(weights, arch=arch)  # raises: no torchvision weights
        member, tv_state = fetch_torchvision_weights(torchvision_enum(), tv_name)
        meta: dict[str, Any] = {
            "categories": list(member.meta["categories"]), "in_channels": 3,
            "transforms": {"resize_size": 520},  # torchvision's SemanticSegmentation preset
            "metrics": dict(member.meta.get("_metrics", {})),
            "source": f"torchvision:{type(member).__name__}.{member.name}"}
    else:
        local = resolve_weights(weights, arch=arch, enum=enum)
        meta = dict(local.meta) if local is not None else {}
    # Read (and verify) the file before building the model: a bad file fails fast.
    local_state = load_state_dict(local) if local is not None else None
    saved_config = dict(meta.get("config") or {})
    arch_config = {k: pick(k, v, saved_config.get(k), config_defaults[k])
                   for k, v in config.items()}
    categories = _categories(class_names, num_classes, meta.get("categories"), default_classes)
    if len(categories) > 256:
        raise ConfigError(f"{len(categories)} classes do not fit uint8 labels (at most 256)")
    if tv_state is not None:
        channels = check_in_channels(3 if in_channels is None else in_channels)
    else:
        channels = check_in_channels(pick("in_channels", in_channels, meta.get("in_channels"), 3))
    transforms = dict(meta.get("transforms") or {})
    size = resize_size if resize_size is not None else transforms.get("resize_size")
    if size is not None and (not isinstance(size, int) or size < 8):
        raise ConfigError(f"resize_size={size!r} must be an integer >= 8 (pixels) or None")

    if tv_state is not None:  # the RGB checkpoint first, then widen the input for depth
        model = make_model(num_classes=len(categories), in_channels=3, **arch_config)
        load_into(model, tv_state, ignore_prefixes=ignore_prefixes)
        adapt_first_conv(model, channels)
    else:
        model = make_model(num_classes=len(categories), in_channels=channels, **arch_config)
    if local is not None:
        load_into(model, local_state, ignore_prefixes=ignore_prefixes,  # type: ignore[arg-type]
                  source=str(local.file))
    elif tv_state is None:
        _LOG.warning("%s: no weights given; the model is randomly initialised and its output "
                     "is meaningless until trained", arch)
    model.eval().requires_grad_(False).to(device)
    # A model whose input sides must be multiples of n (a U-Net) says so.
    size_multiple = int(getattr(model, "size_multiple", 1))
    out_meta = {"arch": arch, "categories": list(categories), "in_channels": channels,
                "num_params": num_params(model), "metrics": dict(meta.get("metrics") or {}),
                "transforms": {"resize_size": size, "mean": list(channel_stats(channels)[0]),
                               "std": list(channel_stats(channels)[1]),
                               "size_multiple": size_multiple},
                "config": arch_config}
    if "source" in meta:  # e.g. torchvision:DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1
        out_meta["source"] = meta["source"]
    return TorchSemanticSegmenter(model, name=arch, class_names=categories, device=device,
                                  in_channels=channels, resize_size=size,
                                  size_multiple=size_multiple,
                                  fp16=use_fp16(fp16, device, arch), meta=out_meta)
