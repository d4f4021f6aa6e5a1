"""Exported models run with onnxruntime: no torch at inference time.

* ``"onnx"`` (instance): a Mask R-CNN exported by :func:`export_maskrcnn_onnx`.
  Contract: input ``image`` ``float32[C, H, W]`` (RGB in [0, 1], then depth in
  metres when ``C == 4``; any ``H, W`` when exported with ``dynamic_size``);
  outputs ``boxes float32[N, 4]`` xyxy input pixels, ``labels int64[N]``
  (0 = background), ``scores float32[N]`` and ``masks float32[N, 1, H, W]``
  soft masks pasted at the input size: torchvision's Mask R-CNN output. The
  model resizes and normalises inside, as in torch.
* ``"onnx_semantic"``: a semantic model exported by :func:`export_semantic_onnx`.
  Contract: input ``input`` ``float32[B, C, h, w]`` normalised as
  :func:`~seg_perception.segmenters._learned.semantic_input` makes it; output
  ``logits float32[B, K, h, w]``.

The exporters store the meta (classes, input channels, preprocessing preset)
in the ONNX file's metadata and in a JSON sidecar with the file's SHA-256, so
the builders need only the path. Post-processing is the torch backends' own
(:func:`~seg_perception.segmenters.mask_rcnn.detections_to_instances`,
:func:`~seg_perception.segmenters._learned.logits_to_semantic`), so the two
agree: on the CPU the ``"onnx"`` backend reproduces the torch Mask R-CNN's
detections to 1e-4 in scores and boxes and its masks to a few boundary pixels
(tested).

Providers: on ``device="cuda"`` TensorRT (engines cached in
``~/.cache/seg_perception/tensorrt``) and CUDA when onnxruntime has them, else
the CPU with a warning; ``providers=[...]`` picks them explicitly.

Example:
    >>> seg = build_instance_segmenter("maskrcnn_mobilenet", weights="objects.safetensors")  # doctest: +SKIP
    >>> export_maskrcnn_onnx(seg, "objects.onnx")  # doctest: +SKIP
    >>> onnx_seg = build_instance_segmenter("onnx", weights="objects.onnx", device="cuda")  # doctest: +SKIP
"""
from __future__ import annotations

import copy
import io
import json
import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from ..errors import ConfigError, WeightsError
from ..frames import RGBDFrame
from ..results import InstanceMasks, SemanticMap
from ._api import register_instance_segmenter, register_semantic_segmenter
from ._learned import (
    TorchSemanticSegmenter,
    channel_stats,
    check_in_channels,
    frame_array,
    logits_to_semantic,
    parse_class_list,
    same_shape_groups,
    semantic_input,
    use_fp16,
)
from ._weights import Weights, resolve_weights, verify_checksum, write_sidecar
from .mask_rcnn import (
    BACKGROUND,
    MaskRCNNSegmenter,
    check_unit,
    detections_to_instances,
    graspable_labels,
)

if TYPE_CHECKING:
    import torch

__all__ = [
    "DEFAULT_OPSET",
    "OnnxInstanceSegmenter",
    "OnnxSemanticSegmenter",
    "build_onnx",
    "build_onnx_semantic",
    "export_maskrcnn_onnx",
    "export_semantic_onnx",
    "onnx_providers",
    "open_session",
]

_LOG = logging.getLogger(__name__)

DEFAULT_OPSET = 17
META_KEY = "seg_perception"  # ONNX metadata_props entry holding the meta JSON
_SUFFIXES = (".onnx",)
_INSTANCE_OUTPUTS = ("boxes", "labels", "scores", "masks")
_EXPORT_HINT = {"onnx": "export one with export_maskrcnn_onnx(segmenter, 'model.onnx')",
                "onnx_semantic": "export one with export_semantic_onnx(segmenter, 'model.onnx')"}


# --------------------------------------------------------------------------- sessions

def onnx_providers(device: str, providers: Sequence[Any] | None, fp16: bool,
                   available: Sequence[str]) -> tuple[list[Any], str]:
    """onnxruntime providers for ``device`` and the device they amount to.

    ``providers`` (names or ``(name, options)`` pairs) overrides ``device`` and
    must all be available. Otherwise ``"cuda[:N]"`` gives TensorRT and CUDA when
    present (then the CPU as fallback), ``"auto"`` CUDA if present, ``"cpu"`` the CPU.
    """
    if providers is not None:
        names = [p[0] if isinstance(p, (tuple, list)) else p for p in providers]
        missing = [n for n in names if n not in available]
        if missing or not names:
            raise ConfigError(f"onnxruntime providers {missing or names} are not available here; "
                              f"available: {', '.join(available)}")
        if not any(n in ("TensorrtExecutionProvider", "CUDAExecutionProvider") for n in names):
            return list(providers), "cpu"
        return list(providers), device if str(device).startswith("cuda") else "cuda"
    dev = str(device).strip().lower()
    if dev == "auto":
        dev = "cuda" if "CUDAExecutionProvider" in available else "cpu"
    if dev == "cpu":
        return ["CPUExecutionProvider"], "cpu"
    if not dev.startswith("cuda"):
        raise ConfigError(f"device={device!r} is not one of auto, cpu, cuda, cuda:N")
    try:
        device_id = int(dev.split(":", 1)[1]) if ":" in dev else 0
    except ValueError:
        raise ConfigError(f"device={device!r} is not one of auto, cpu, cuda, cuda:N") from None
    chosen: list[Any] = []
    if "TensorrtExecutionProvider" in available:
        # Building an engine takes minutes: keep them across runs.
        cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / \
            "seg_perception" / "tensorrt"
        cache.mkdir(parents=True, exist_ok=True)
        chosen.append(("TensorrtExecutionProvider", {
            "device_id": device_id, "trt_fp16_enable": bool(fp16),
            "trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache)}))
    if "CUDAExecutionProvider" in available:
        chosen.append(("CUDAExecutionProvider", {"device_id": device_id}))
    if not chosen:
        warnings.warn(f"device={device!r} requested but onnxruntime has no CUDA provider "
                      "(install onnxruntime-gpu); running on the CPU", RuntimeWarning,
                      stacklevel=3)
        return ["CPUExecutionProvider"], "cpu"
    return chosen + ["CPUExecutionProvider"], f"cuda:{device_id}"


def open_session(path: Path, backend: str, device: str, providers: Sequence[Any] | None,
                 fp16: bool, num_threads: int | None = None, *, hint: str = "",
                 ) -> tuple[Any, str]:
    """An onnxruntime session of the model at ``path`` and the device it really runs on.

    Providers as :func:`onnx_providers` chooses them; a GPU provider that fails to
    start falls back to the CPU with a warning. Errors name the file and ``hint``.
    """
    try:
        import onnxruntime as ort
    except ImportError:
        raise WeightsError(f"the {backend!r} backend needs onnxruntime: pip install onnxruntime "
                           "(or onnxruntime-gpu for CUDA)") from None
    chosen, actual = onnx_providers(device, providers, fp16, ort.get_available_providers())
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: ORT's graph notes are not actionable here
    if num_threads:
        options.intra_op_num_threads = int(num_threads)
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=chosen)
    except Exception as exc:  # ORT's own pybind types: InvalidProtobuf, Fail, InvalidGraph
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"onnxruntime cannot load {path}: {first}; is it a complete ONNX "
                           f"file? {hint}") from None
    if actual != "cpu" and session.get_providers()[0] == "CPUExecutionProvider":
        warnings.warn(f"onnxruntime could not start {chosen[0]}; {backend} runs on the CPU",
                      RuntimeWarning, stacklevel=3)
        actual = "cpu"
    return session, actual


def _session(arch: str, weights: Any, device: str, providers: Sequence[Any] | None, fp16: bool,
             num_threads: int | None) -> tuple[Any, Path, str, dict[str, Any]]:
    """An inference session for ``weights``, the resolved path, device and meta."""
    if weights is None or (isinstance(weights, str) and not weights.strip()):
        raise WeightsError(f"the {arch!r} backend needs weights=<path to an .onnx file>; "
                           f"{_EXPORT_HINT[arch]}")
    spec = resolve_weights(weights, arch=arch, suffixes=_SUFFIXES)
    assert spec is not None  # "no weights" was handled above
    path = spec.file
    if spec.sha256:
        verify_checksum(path, spec.sha256)
    session, actual = open_session(path, arch, device, providers, fp16, num_threads,
                                   hint=_EXPORT_HINT[arch])
    use_fp16(fp16, actual, arch)  # warns when asked for on the CPU
    meta = dict(spec.meta)
    text = (session.get_modelmeta().custom_metadata_map or {}).get(META_KEY)
    if text:
        try:
            meta = {**json.loads(text), **meta}
        except json.JSONDecodeError:
            raise WeightsError(f"the {META_KEY!r} metadata of {path} is not JSON; "
                               f"re-export the model ({_EXPORT_HINT[arch]})") from None
    saved_for = meta.get("arch")
    if saved_for is not None and saved_for != arch:
        raise WeightsError(f"{path} was exported for the {saved_for!r} backend, not {arch!r}")
    return session, path, actual, meta


def _layout_error(path: Path, arch: str, session: Any, expected: str) -> WeightsError:
    ins = [(i.name, len(i.shape)) for i in session.get_inputs()]
    outs = [(o.name, len(o.shape)) for o in session.get_outputs()]
    return WeightsError(f"{path} does not have the {arch!r} layout ({expected}); it has inputs "
                        f"(name, rank) {ins} and outputs {outs}. {_EXPORT_HINT[arch]}")


def _static(dim: Any) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


# --------------------------------------------------------------------------- instance

class OnnxInstanceSegmenter:
    """Mask R-CNN exported to ONNX, run with onnxruntime (see the module docstring).

    ``segment(frame)`` returns :class:`~seg_perception.results.InstanceMasks`
    exactly as :class:`~seg_perception.segmenters.mask_rcnn.MaskRCNNSegmenter`
    does: masks ``bool[N, H, W]`` at frame size, boxes ``float32[N, 4]`` xyxy
    frame pixels, scores ``float32[N]`` decreasing, ``class_ids`` ``int32[N]``.

    Attributes:
        name: ``"onnx"``.
        device: ``"cpu"`` or ``"cuda:N"``: where the session runs.
        class_names: object classes (no background); ``categories`` adds it at 0.
        providers: the session's providers, in priority order.
        input_size: ``(H, W)`` the model was exported for if static, else None.
    """

    name = "onnx"

    def __init__(self, session: Any, *, path: Path, device: str, categories: Sequence[str],
                 in_channels: int, score_threshold: float, mask_threshold: float,
                 graspable_classes: Sequence[str] | str | None, meta: Mapping[str, Any]) -> None:
        self._session = session
        self.path = path
        self.device = device
        self.providers = tuple(session.get_providers())
        self.categories = tuple(categories)
        self.class_names = self.categories[1:]
        self.in_channels = in_channels
        self.score_threshold = check_unit("score_threshold", score_threshold)
        self.mask_threshold = check_unit("mask_threshold", mask_threshold)
        self.graspable_classes, self._keep_labels = graspable_labels(self.categories,
                                                                     graspable_classes)
        self.meta = dict(meta)
        inputs, outputs = session.get_inputs(), session.get_outputs()
        layout = ("one input float[C, H, W]; outputs boxes[N, 4], labels[N], scores[N], "
                  "masks[N, 1, H, W]")
        if len(inputs) != 1 or len(inputs[0].shape) != 3 or len(outputs) != 4:
            raise _layout_error(path, "onnx", session, layout)
        names = [o.name for o in outputs]
        order = ([names.index(n) for n in _INSTANCE_OUTPUTS]
                 if set(_INSTANCE_OUTPUTS) <= set(names) else [0, 1, 2, 3])
        if [len(outputs[i].shape) for i in order] != [2, 1, 1, 4]:
            raise _layout_error(path, "onnx", session, layout)
        self._order = order
        self._input = inputs[0].name
        channels = _static(inputs[0].shape[0])
        if channels is not None and channels != in_channels:
            raise WeightsError(f"{path} takes {channels} input channels but its meta says "
                               f"{in_channels}; re-export it")
        h, w = _static(inputs[0].shape[1]), _static(inputs[0].shape[2])
        self.input_size = (h, w) if h and w else None

    def segment(self, frame: RGBDFrame) -> InstanceMasks:
        """Instances in ``frame`` (see the class docstring)."""
        return self.segment_batch([frame])[0]

    def segment_batch(self, frames: Sequence[RGBDFrame]) -> list[InstanceMasks]:
        """One session run per frame (the export takes one image)."""
        return [self._segment(f) for f in frames]

    def _segment(self, frame: RGBDFrame) -> InstanceMasks:
        image = frame_array(frame, self.in_channels)
        scale = None
        if self.input_size is not None and self.input_size != (frame.height, frame.width):
            image, scale = self._fit(image)
        outs = self._session.run(None, {self._input: image})
        boxes, labels, scores, masks = (outs[i] for i in self._order)
        if scale is not None:  # back from the static export size to the frame
            masks, boxes = self._unfit(masks, boxes, scale, frame)
        return detections_to_instances(
            boxes, labels, scores, masks, height=frame.height, width=frame.width,
            categories=self.categories, score_threshold=self.score_threshold,
            mask_threshold=self.mask_threshold, keep_labels=self._keep_labels)

    def _fit(self, image: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
        import cv2

        assert self.input_size is not None
        h, w = self.input_size
        hwc = image.transpose(1, 2, 0)
        rgb = cv2.resize(np.ascontiguousarray(hwc[..., :3]), (w, h), interpolation=cv2.INTER_LINEAR)
        planes = [rgb.transpose(2, 0, 1)]
        if image.shape[0] == 4:  # nearest: do not blend "no depth" (0) into valid depth
            planes.append(cv2.resize(image[3], (w, h), interpolation=cv2.INTER_NEAREST)[None])
        return (np.ascontiguousarray(np.concatenate(planes, axis=0)),
                (w / image.shape[2], h / image.shape[1]))

    @staticmethod
    def _unfit(masks: np.ndarray, boxes: np.ndarray, scale: tuple[float, float],
               frame: RGBDFrame) -> tuple[np.ndarray, np.ndarray]:
        import cv2

        resized = np.stack([cv2.resize(m[0], (frame.width, frame.height),
                                       interpolation=cv2.INTER_LINEAR) for m in masks]) \
            if len(masks) else np.zeros((0, frame.height, frame.width), np.float32)
        boxes = boxes / np.array([scale[0], scale[1], scale[0], scale[1]], np.float32)
        return resized, boxes

    def __repr__(self) -> str:
        return (f"OnnxInstanceSegmenter(path={str(self.path)!r}, device={self.device!r}, "
                f"classes={len(self.class_names)}, in_channels={self.in_channels})")


@register_instance_segmenter("onnx")
def build_onnx(*, weights: Any = None, device: str = "cpu",
               providers: Sequence[Any] | None = None,
               class_names: Sequence[str] | str | None = None,
               graspable_classes: Sequence[str] | str | None = None,
               score_threshold: float = 0.5, mask_threshold: float = 0.5, fp16: bool = False,
               num_threads: int | None = None) -> OnnxInstanceSegmenter:
    """Mask R-CNN from an ONNX export (see the module docstring).

    Args:
        weights: the ``.onnx`` file (a ``Weights`` with a checksum also works).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.
        providers: explicit onnxruntime providers, overriding ``device``.
        class_names: object classes without the background; default from the
            model's meta, else ``class_1 ...``; may rename, not change the number.
        graspable_classes: keep only these classes (names or one comma-separated string).
        score_threshold: drop instances scoring below this, [0, 1]. The export
            already dropped those below its model's own threshold (0.05 by default).
        mask_threshold: soft-mask probability at which a pixel is in the mask, [0, 1].
        fp16: float16 TensorRT engines; the CUDA and CPU providers run the
            model at the precision it was exported with.
        num_threads: onnxruntime intra-op threads (None: its default).

    Raises:
        WeightsError: no, missing, corrupt or non-Mask-R-CNN ONNX file.
        ConfigError: an option out of range or in conflict with the model.
    """
    session, path, actual, meta = _session("onnx", weights, device, providers, fp16, num_threads)
    in_channels = check_in_channels(meta.get("in_channels", 3))
    categories = meta.get("categories")
    names = parse_class_list(class_names, "class_names")
    if categories is None:
        num_labels = None  # unknown without meta: trust the user's names
        categories = [BACKGROUND] + (list(names) if names is not None else ["object"])
        if names is None:
            _LOG.warning("%s has no seg_perception meta; its labels are named 'object'. Pass "
                         "class_names, or export with export_maskrcnn_onnx", path)
    else:
        num_labels = len(categories)
    if names is not None:
        if num_labels is not None and len(names) + 1 != num_labels:
            raise ConfigError(f"class_names gives {len(names)} classes but the model has "
                              f"{num_labels - 1}; drop class_names or pass a matching model")
        categories = [BACKGROUND] + list(names)
    return OnnxInstanceSegmenter(session, path=path, device=actual, categories=categories,
                                 in_channels=in_channels, score_threshold=score_threshold,
                                 mask_threshold=mask_threshold,
                                 graspable_classes=graspable_classes, meta=meta)


# --------------------------------------------------------------------------- semantic

class OnnxSemanticSegmenter:
    """A semantic model exported to ONNX, run with onnxruntime.

    Pre- and post-processing are those of the torch semantic backends (numpy
    here): ``segment(frame)`` returns a :class:`~seg_perception.results.SemanticMap`
    with labels ``uint8[H, W]`` and confidence ``float32[H, W]`` at frame size.
    """

    name = "onnx_semantic"

    def __init__(self, session: Any, *, path: Path, device: str, class_names: Sequence[str],
                 in_channels: int, resize_size: int | None, size_multiple: int,
                 meta: Mapping[str, Any]) -> None:
        self._session = session
        self.path = path
        self.device = device
        self.providers = tuple(session.get_providers())
        self.class_names = tuple(class_names)
        self.in_channels = in_channels
        self.resize_size = resize_size
        self.size_multiple = size_multiple
        self.meta = dict(meta)
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or len(outputs) < 1 \
                or len(outputs[0].shape) != 4:
            raise _layout_error(path, "onnx_semantic", session,
                                "one input float[B, C, h, w]; output logits[B, K, h, w]")
        self._input = inputs[0].name
        classes = _static(outputs[0].shape[1])
        if classes is not None and classes != len(self.class_names):
            raise WeightsError(f"{path} outputs {classes} classes but {len(self.class_names)} "
                               "class names are known; pass class_names or re-export")

    def segment(self, frame: RGBDFrame) -> SemanticMap:
        return self.segment_batch([frame])[0]

    def segment_batch(self, frames: Sequence[RGBDFrame]) -> list[SemanticMap]:
        """Frames of equal size run in one session call each."""
        inputs = [semantic_input(f, in_channels=self.in_channels, resize_size=self.resize_size,
                                 size_multiple=self.size_multiple) for f in frames]
        results: list[SemanticMap | None] = [None] * len(frames)
        for indices in same_shape_groups([x for x, _ in inputs]):
            batch = np.stack([inputs[i][0] for i in indices])
            logits = self._session.run(None, {self._input: batch})[0]
            for j, i in enumerate(indices):
                results[i] = logits_to_semantic(logits[j], inputs[i][1], frames[i].height,
                                                frames[i].width, self.class_names)
        return [r for r in results if r is not None]

    def __repr__(self) -> str:
        return (f"OnnxSemanticSegmenter(path={str(self.path)!r}, device={self.device!r}, "
                f"classes={len(self.class_names)}, in_channels={self.in_channels})")


@register_semantic_segmenter("onnx_semantic")
def build_onnx_semantic(*, weights: Any = None, device: str = "cpu",
                        providers: Sequence[Any] | None = None,
                        class_names: Sequence[str] | str | None = None,
                        resize_size: int | None = None, fp16: bool = False,
                        num_threads: int | None = None) -> OnnxSemanticSegmenter:
    """A semantic model from an ONNX export (see the module docstring).

    Args:
        weights: the ``.onnx`` file (or a ``Weights`` with a checksum).
        device, providers, fp16, num_threads: as for :func:`build_onnx`.
        class_names: one name per label value; default from the model's meta.
        resize_size: shorter side the frame is resized to before the model;
            default from the meta (the torch segmenter's setting at export).
    """
    session, path, actual, meta = _session("onnx_semantic", weights, device, providers, fp16,
                                           num_threads)
    in_channels = check_in_channels(meta.get("in_channels", 3))
    names = parse_class_list(class_names, "class_names")
    categories = meta.get("categories")
    if names is not None and categories is not None and len(names) != len(categories):
        raise ConfigError(f"class_names gives {len(names)} classes but the model has "
                          f"{len(categories)}; drop class_names or pass a matching model")
    if names is None and categories is None:
        out_classes = _static(session.get_outputs()[0].shape[1])
        if out_classes is None:
            raise ConfigError(f"{path} has no seg_perception meta and a dynamic class count; "
                              "pass class_names")
        names = tuple(f"class_{i}" for i in range(out_classes))
    transforms = dict(meta.get("transforms") or {})
    size = resize_size if resize_size is not None else transforms.get("resize_size")
    return OnnxSemanticSegmenter(session, path=path, device=actual,
                                 class_names=names or tuple(categories),
                                 in_channels=in_channels, resize_size=size,
                                 size_multiple=int(transforms.get("size_multiple") or 1),
                                 meta=meta)


# --------------------------------------------------------------------------- export

def _export(module: "torch.nn.Module", example: "torch.Tensor", path: str | os.PathLike[str],
            meta: Mapping[str, Any], *, input_names: list[str], output_names: list[str],
            dynamic_axes: dict[str, dict[int, str]], opset_version: int) -> Weights:
    import onnx
    import torch

    if opset_version < 17:
        raise ConfigError(f"opset_version={opset_version} is too old; use 17 or newer")
    path = Path(os.fspath(path)).expanduser()
    if path.suffix != ".onnx":
        raise ConfigError(f"ONNX exports are written to .onnx files, got {path}")
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter: torchvision's detection models are written
        # for it (the dynamo exporter cannot yet trace their data-dependent
        # shapes); its tracer warnings about Python scalars are expected here.
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), buffer, dynamo=False, opset_version=opset_version,
                          input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, do_constant_folding=True)
    model = onnx.load_from_string(buffer.getvalue())
    onnx.helper.set_model_props(model, {META_KEY: json.dumps(dict(meta), sort_keys=True)})
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(path))
    return write_sidecar(path, meta)


def _cpu_copy(model: "torch.nn.Module") -> "torch.nn.Module":
    # Export a float32 CPU copy: the live model may sit on a GPU, in use.
    return copy.deepcopy(model).float().cpu().eval()


def export_maskrcnn_onnx(model_or_segmenter: Any, path: str | os.PathLike[str], *,
                         height: int = 480, width: int = 640, dynamic_size: bool = True,
                         opset_version: int = DEFAULT_OPSET,
                         example: RGBDFrame | None = None) -> Weights:
    """Export a Mask R-CNN to ONNX for the ``"onnx"`` backend.

    Args:
        model_or_segmenter: a :class:`~seg_perception.segmenters.mask_rcnn.MaskRCNNSegmenter`
            (its classes and input channels go into the meta) or a torchvision
            ``MaskRCNN`` module (classes named ``class_1 ...``).
        path: the ``.onnx`` file to write; ``<path>.json`` gets the meta and SHA-256.
        height, width: size of the example input the graph is traced with.
        dynamic_size: accept any input size (otherwise only ``height x width``;
            the backend then resizes frames).
        opset_version: ONNX opset, at least 17.
        example: a frame to trace with instead of a random image.

    Returns:
        The :class:`~seg_perception.segmenters._weights.Weights` of the file.

    The exported graph keeps detections scoring at least the model's
    ``roi_heads.score_thresh`` (torchvision's 0.05, or the segmenter's
    ``score_threshold`` if lower); the backend filters further.
    """
    import torch

    if isinstance(model_or_segmenter, MaskRCNNSegmenter):
        model, seg_meta = model_or_segmenter.model, model_or_segmenter.meta
        categories = list(model_or_segmenter.categories)
    else:
        model, seg_meta = model_or_segmenter, {}
        classes = int(model.roi_heads.box_predictor.cls_score.out_features)
        categories = [BACKGROUND] + [f"class_{i}" for i in range(1, classes)]
    in_channels = len(model.transform.image_mean)
    cpu_model = _cpu_copy(model)

    class _Detections(torch.nn.Module):
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
            out = self.net([image])[0]
            return out["boxes"], out["labels"], out["scores"], out["masks"]

    if example is not None:
        x = torch.from_numpy(frame_array(example, in_channels))
    else:
        generator = torch.Generator().manual_seed(0)
        x = torch.rand(in_channels, height, width, generator=generator)
        if in_channels == 4:
            x[3] *= 2.0  # depth in metres
    meta = {"arch": "onnx", "source_arch": seg_meta.get("arch", type(model).__name__),
            "categories": categories, "in_channels": in_channels,
            "num_params": int(sum(p.numel() for p in model.parameters())),
            "metrics": dict(seg_meta.get("metrics") or {}),
            "transforms": dict(seg_meta.get("transforms") or {}),
            "config": {"score_floor": float(cpu_model.roi_heads.score_thresh),
                       "opset_version": opset_version}}
    axes: dict[str, dict[int, str]] = {name: {0: "detections"} for name in _INSTANCE_OUTPUTS}
    if dynamic_size:
        axes["image"] = {1: "height", 2: "width"}
        axes["masks"] = {0: "detections", 2: "height", 3: "width"}
    return _export(_Detections(cpu_model).eval(), x, path, meta, input_names=["image"],
                   output_names=list(_INSTANCE_OUTPUTS), dynamic_axes=axes,
                   opset_version=opset_version)


def export_semantic_onnx(model_or_segmenter: Any, path: str | os.PathLike[str], *,
                         height: int = 480, width: int = 640, dynamic_size: bool = True,
                         opset_version: int = DEFAULT_OPSET, in_channels: int | None = None,
                         class_names: Sequence[str] | None = None) -> Weights:
    """Export a semantic model to ONNX for the ``"onnx_semantic"`` backend.

    Args:
        model_or_segmenter: a :class:`~seg_perception.segmenters._learned.TorchSemanticSegmenter`
            (``"deeplabv3"``, ``"fcn"``, ``"lraspp"``, ``"unet"``: its classes and
            preprocessing preset go into the meta), or a module mapping
            normalised ``float32[B, C, h, w]`` to logits (or ``{"out": logits}``);
            then give ``in_channels`` and ``class_names``.
        path: the ``.onnx`` file to write; ``<path>.json`` gets the meta and SHA-256.
        height, width: size of the example input (rounded up to the model's size multiple).
        dynamic_size: accept any input size and batch (otherwise fixed).
        opset_version: ONNX opset, at least 17.
    """
    import torch

    if isinstance(model_or_segmenter, TorchSemanticSegmenter):
        seg = model_or_segmenter
        model, channels, names = seg.model, seg.in_channels, list(seg.class_names)
        transforms = {"resize_size": seg.resize_size, "size_multiple": seg.size_multiple}
        source, metrics = seg.name, dict(seg.meta.get("metrics") or {})
    else:
        model = model_or_segmenter
        if in_channels is None or class_names is None:
            raise ConfigError("exporting a bare module needs in_channels and class_names")
        channels, names = check_in_channels(in_channels), list(class_names)
        transforms = {"resize_size": None,
                      "size_multiple": int(getattr(model, "size_multiple", 1))}
        source, metrics = type(model).__name__, {}
    mean, std = channel_stats(channels)
    transforms.update(mean=list(mean), std=list(std))
    cpu_model = _cpu_copy(model)

    class _Logits(torch.nn.Module):
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.net(x)
            return out["out"] if isinstance(out, dict) else out

    multiple = int(transforms["size_multiple"] or 1)
    h, w = -(-height // multiple) * multiple, -(-width // multiple) * multiple
    x = torch.zeros(1, channels, h, w)
    meta = {"arch": "onnx_semantic", "source_arch": source, "categories": names,
            "in_channels": channels, "num_params": int(sum(p.numel() for p in model.parameters())),
            "metrics": metrics, "transforms": transforms,
            "config": {"opset_version": opset_version}}
    axes = ({"input": {0: "batch", 2: "height", 3: "width"},
             "logits": {0: "batch", 2: "height", 3: "width"}} if dynamic_size else {})
    return _export(_Logits(cpu_model).eval(), x, path, meta, input_names=["input"],
                   output_names=["logits"], dynamic_axes=axes, opset_version=opset_version)
