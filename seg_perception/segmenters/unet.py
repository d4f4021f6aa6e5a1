"""A small U-Net for scene-layout segmentation (RGB or RGB-D), defined here.

``UNet(in_channels, num_classes, base_channels=16, depth=4)`` is the classic
encoder-decoder with skip connections (Ronneberger et al. 2015): ``depth``
2x2 max-pool downsamplings, each level two 3x3 conv + batch norm + ReLU, width
doubling per level, transposed-conv upsampling. With the defaults it has
1.9 M parameters and runs a 640x480 frame in well under a second on a laptop CPU.

The ``"unet"`` semantic segmenter labels pixels with
:data:`~seg_perception.results.LAYOUT_CLASSES` by default (unknown, support
surface, floor, wall, object). Inputs are zero-padded to a multiple of
``2**depth`` outside the model and the logits cropped back.

torch is imported on first use of :class:`UNet` (PEP 562 module attribute),
so importing this module is cheap.

Example:
    >>> from seg_perception.segmenters.unet import UNet
    >>> import torch
    >>> UNet(in_channels=4, num_classes=5)(torch.zeros(1, 4, 96, 128)).shape
    torch.Size([1, 5, 96, 128])
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Sequence

from ..errors import ConfigError
from ..results import LAYOUT_CLASSES
from ._api import register_semantic_segmenter
from ._learned import TorchSemanticSegmenter, build_torch_semantic
from ._weights import WeightsEnum, bundled_weights

if TYPE_CHECKING:
    import torch

__all__ = ["UNet", "UNet_Weights", "build_unet"]


class UNet_Weights(WeightsEnum):
    """Bundled checkpoints of ``"unet"``.

    ``SIM_LAYOUT_RGBD_V1`` (= ``DEFAULT``): the layout classes, RGB-D input,
    trained on 300 simulated 320x240 tabletop frames on a 2-core CPU
    (docs/training.md has the commands and its scores).
    """

    SIM_LAYOUT_RGBD_V1 = bundled_weights("unet_sim_layout_v1.safetensors")
    DEFAULT = SIM_LAYOUT_RGBD_V1


@functools.cache
def _unet_class() -> type:
    import torch
    from torch import nn

    def block(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True))

    class UNet(nn.Module):
        """U-Net: ``float32[B, in_channels, H, W]`` -> logits ``float32[B, num_classes, H, W]``.

        ``H`` and ``W`` must be multiples of ``2**depth`` (the segmenter pads).
        Input is normalised (ImageNet mean/std for RGB; see ``_learned`` for depth).
        """

        def __init__(self, in_channels: int = 3, num_classes: int = len(LAYOUT_CLASSES),
                     base_channels: int = 16, depth: int = 4) -> None:
            super().__init__()
            if depth < 1 or base_channels < 1 or in_channels < 1 or num_classes < 1:
                raise ConfigError("UNet needs in_channels, num_classes, base_channels and "
                                  "depth >= 1")
            self.depth = depth
            self.size_multiple = 2 ** depth  # read by the segmenter to pad its input
            widths = [base_channels * 2 ** i for i in range(depth + 1)]
            self.encoder = nn.ModuleList(
                [block(in_channels, widths[0])]
                + [block(widths[i - 1], widths[i]) for i in range(1, depth + 1)])
            self.pool = nn.MaxPool2d(2)
            self.up = nn.ModuleList(
                nn.ConvTranspose2d(widths[i], widths[i - 1], 2, stride=2)
                for i in range(depth, 0, -1))
            self.decoder = nn.ModuleList(
                block(widths[i], widths[i - 1]) for i in range(depth, 0, -1))
            self.head = nn.Conv2d(widths[0], num_classes, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            multiple = self.size_multiple
            if not torch.jit.is_tracing() and (x.shape[-2] % multiple or x.shape[-1] % multiple):
                raise ValueError(f"UNet input {tuple(x.shape[-2:])} is not a multiple of "
                                 f"{multiple} (2**depth); pad it")
            skips = []
            for i, enc in enumerate(self.encoder):
                x = enc(x if i == 0 else self.pool(x))
                skips.append(x)
            for up, dec, skip in zip(self.up, self.decoder, reversed(skips[:-1])):
                x = dec(torch.cat([up(x), skip], dim=1))
            return self.head(x)

    UNet.__module__ = __name__
    UNet.__qualname__ = "UNet"
    return UNet


def __getattr__(name: str) -> Any:  # PEP 562: build the nn.Module class on first use
    if name == "UNet":
        return _unet_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _make_model(num_classes: int, in_channels: int, base_channels: int,
                depth: int) -> "torch.nn.Module":
    return _unet_class()(in_channels=in_channels, num_classes=num_classes,
                         base_channels=base_channels, depth=depth)


@register_semantic_segmenter("unet")
def build_unet(*, weights: Any = None, device: str = "cpu",
               class_names: Sequence[str] | str | None = None, num_classes: int | None = None,
               in_channels: int | None = None, resize_size: int | None = None,
               fp16: bool = False, base_channels: int | None = None,
               depth: int | None = None) -> TorchSemanticSegmenter:
    """Scene-layout U-Net (see the module docstring).

    Args:
        weights: None (random initialisation: only for training or tests), a
            :class:`UNet_Weights` member or name, or a local
            ``.safetensors``/``.pt``/``.pth`` file whose sidecar gives the classes,
            input channels, width and depth.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.
        class_names: one name per label value; default from the weights, else
            :data:`~seg_perception.results.LAYOUT_CLASSES`.
        num_classes: number of label values (instead of ``class_names``).
        in_channels: 3 (RGB) or 4 (RGB + depth in metres); default from the weights, else 3.
        resize_size: shorter side in pixels the frame is resized to before the
            model (None: its own size); results are always at frame size.
        fp16: float16 autocast on CUDA; ignored with a warning on the CPU.
        base_channels: width of the first level (default 16); architecture.
        depth: number of downsamplings (default 4); architecture.

    Returns:
        A segmenter whose ``segment(frame)`` gives a ``SemanticMap``: labels
        ``uint8[H, W]``, confidence ``float32[H, W]``, in the frame's pixel grid.
    """
    for name, value in (("base_channels", base_channels), ("depth", depth)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ConfigError(f"{name}={value!r} must be a positive integer")
    return build_torch_semantic(
        "unet", _make_model, weights=weights, device=device, default_classes=LAYOUT_CLASSES,
        class_names=class_names, num_classes=num_classes, in_channels=in_channels,
        resize_size=resize_size, fp16=fp16,
        config={"base_channels": base_channels, "depth": depth},
        config_defaults={"base_channels": 16, "depth": 4}, enum=UNet_Weights)
