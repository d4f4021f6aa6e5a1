"""YOLOv8 / YOLO11 instance segmentation from an ONNX export, run with onnxruntime.

The model is the user's own: export it once with ultralytics on any machine
(``yolo export model=yolo11n-seg.pt format=onnx imgsz=640``, see
``docs/yolo_seg.md``) and point ``instance_weights`` at the ``.onnx`` file.
Nothing here imports ultralytics or torch; onnxruntime and OpenCV are imported
when a segmenter is built.

Model contract (what ultralytics writes for ``task=segment``):

* input ``float32[B, 3, h, w]``: RGB in [0, 1], letterboxed (resized keeping the
  aspect ratio, centred, padded with grey 114), ``h, w`` multiples of the stride (32);
* ``output0`` ``float32[B, 4 + nc + nm, A]``: per anchor ``cx, cy, w, h`` in
  letterboxed input pixels, ``nc`` class scores (already sigmoid, in [0, 1]) and
  ``nm`` mask coefficients (usually 32);
* ``output1`` ``float32[B, nm, h / 4, w / 4]``: mask prototypes.

The outputs are told apart by rank, not by name or order. Class names come
from the ``names`` entry of the ONNX metadata (read with ``ast.literal_eval``,
never ``eval``) unless ``class_names`` is given.

Post-processing follows ultralytics: best class per anchor, ``score >
conf_threshold``, class-aware NMS, then per kept instance
``mask = sigmoid(coeffs @ protos)``, cropped to its box in prototype space,
bilinearly upsampled, the letterbox undone, ``> mask_threshold``. Masks come
back at the frame's resolution and are exactly cropped to the box there.

Example:
    >>> seg = build_yolo_seg(weights="yolo11n-seg.onnx",
    ...                      graspable_classes=["cup", "bottle"])  # doctest: +SKIP
    >>> out = seg.segment(frame)  # doctest: +SKIP
    >>> out.masks.shape == (len(out), frame.height, frame.width)  # doctest: +SKIP
    True
"""
from __future__ import annotations

import ast
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from ..errors import ConfigError, WeightsError
from ..results import InstanceMasks
from ._api import register_instance_segmenter

if TYPE_CHECKING:
    from ..frames import RGBDFrame

__all__ = [
    "Letterbox",
    "YoloSegSegmenter",
    "batched_nms",
    "build_yolo_seg",
    "letterbox",
]

_LOG = logging.getLogger(__name__)

PAD_VALUE = 114  # grey ultralytics pads with; the model was trained on it
DEFAULT_IMGSZ = 640
DEFAULT_STRIDE = 32
MAX_NMS_CANDIDATES = 30000  # as ultralytics: bounds NMS time on a degenerate frame
_EXPORT_HINT = ("export a segmentation model with ultralytics: "
                "`yolo export model=yolo11n-seg.pt format=onnx imgsz=640` (see docs/yolo_seg.md)")


# --------------------------------------------------------------------------- letterbox

@dataclass(frozen=True)
class Letterbox:
    """How a frame was fitted into the model input.

    Input pixel coordinates (continuous, pixel ``j`` covers ``[j, j + 1)``) are
    ``x_in = x_frame * scale_x + pad_x`` and ``y_in = y_frame * scale_y + pad_y``.
    ``scale_x`` and ``scale_y`` differ only by the rounding of the resized size.

    Attributes:
        scale_x, scale_y: resized size / frame size.
        pad_x, pad_y: left and top padding, input pixels (integers).
        frame_size: ``(height, width)`` of the frame.
        input_size: ``(height, width)`` of the model input.
    """

    scale_x: float
    scale_y: float
    pad_x: int
    pad_y: int
    frame_size: tuple[int, int]
    input_size: tuple[int, int]

    def boxes_to_frame(self, boxes: np.ndarray) -> np.ndarray:
        """``float32[N, 4]`` xyxy frame pixels, clipped to the frame, of xyxy input-pixel boxes."""
        boxes = np.asarray(boxes, np.float64)
        out = np.empty_like(boxes)
        out[:, 0::2] = (boxes[:, 0::2] - self.pad_x) / self.scale_x
        out[:, 1::2] = (boxes[:, 1::2] - self.pad_y) / self.scale_y
        h, w = self.frame_size
        np.clip(out[:, 0::2], 0, w, out=out[:, 0::2])
        np.clip(out[:, 1::2], 0, h, out=out[:, 1::2])
        return out.astype(np.float32)


def letterbox(rgb: np.ndarray, input_size: tuple[int, int],
              pad_value: int = PAD_VALUE) -> tuple[np.ndarray, Letterbox]:
    """Resize ``uint8[H, W, 3]`` keeping the aspect ratio and pad it to ``input_size``.

    Same arithmetic as ultralytics' ``LetterBox(auto=False, center=True)``, so an
    exported model sees what it saw in training.

    Returns:
        ``uint8[h, w, 3]`` padded image (``(h, w) = input_size``) and the
        :class:`Letterbox` that maps its coordinates back to the frame.
    """
    import cv2

    fh, fw = int(rgb.shape[0]), int(rgb.shape[1])
    ih, iw = int(input_size[0]), int(input_size[1])
    r = min(ih / fh, iw / fw)
    nw, nh = min(iw, max(1, round(fw * r))), min(ih, max(1, round(fh * r)))
    resized = rgb if (nw, nh) == (fw, fh) else cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR)
    # ultralytics splits odd padding with round(d -/+ 0.1): the extra pixel goes bottom/right
    left, top = round((iw - nw) / 2 - 0.1), round((ih - nh) / 2 - 0.1)
    out = np.full((ih, iw, 3), pad_value, np.uint8)
    out[top:top + nh, left:left + nw] = resized
    return out, Letterbox(nw / fw, nh / fh, int(left), int(top), (fh, fw), (ih, iw))


# --------------------------------------------------------------------------- NMS

def batched_nms(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray,
                iou_threshold: float, max_output: int | None = None) -> np.ndarray:
    """Class-aware greedy non-maximum suppression in numpy.

    A box is dropped when its IoU with a higher-scoring kept box *of the same
    class* exceeds ``iou_threshold`` (the rule of ``torchvision.ops.batched_nms``).

    Args:
        boxes: ``float[N, 4]`` xyxy.
        scores: ``float[N]``.
        class_ids: ``int[N]``.
        iou_threshold: in [0, 1].
        max_output: stop after this many kept boxes (the same first boxes as a
            full run: greedy NMS keeps in score order); None = all.

    Returns:
        ``int64[K]`` indices of the kept boxes, by decreasing score.
    """
    boxes = np.asarray(boxes, np.float64)
    n = boxes.shape[0]
    if n == 0:
        return np.zeros(0, np.int64)
    # Shift each class to its own region of the plane so boxes of different
    # classes never overlap (torchvision's trick); the span covers negative coordinates too.
    span = float(boxes.max() - boxes.min()) + 1.0
    b = boxes + (np.asarray(class_ids, np.float64) * span)[:, None]
    x1, y1, x2, y2 = b.T
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    keep: list[int] = []
    limit = n if max_output is None else max_output
    while order.size and len(keep) < limit:  # one iteration per kept box, vectorised over the rest
        i, rest = order[0], order[1:]
        keep.append(int(i))
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        union = areas[i] + areas[rest] - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, np.int64)


# --------------------------------------------------------------------------- model loading

def _parse_names(text: str) -> dict[int, str]:
    """ultralytics' ``names`` metadata (``"{0: 'person', ...}"`` or a list) as ``{id: name}``."""
    try:
        value = ast.literal_eval(text)  # a literal only: the model file is untrusted
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        value = None
    if isinstance(value, (list, tuple)):
        value = dict(enumerate(value))
    if not isinstance(value, dict) or not all(isinstance(k, int) for k in value):
        raise WeightsError(
            f"the model's 'names' metadata is not a dict of class names ({text[:80]!r}); "
            "pass class_names=[...] to build_yolo_seg")
    return {int(k): str(v) for k, v in value.items()}


def _parse_size(value: Any, what: str) -> tuple[int, int]:
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise ConfigError(f"{what}={value!r} is not a size; use 640 or [480, 640]") from None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value), int(value))
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, (int, np.integer)) and v > 0 for v in value)):
        raise ConfigError(f"{what}={value!r} is not a size; use 640 or [height, width]")
    return int(value[0]), int(value[1])


def _export_pt(path: Path, imgsz: Any) -> Path:
    """Export an ultralytics ``.pt`` checkpoint to ONNX beside it (needs ultralytics).

    Not covered by the test suite (ultralytics is not a dependency). The
    ``.onnx`` is reused while it is newer than the ``.pt``.
    """
    try:
        from ultralytics import YOLO  # optional; never required
    except ImportError:
        raise WeightsError(
            f"{path} is an ultralytics checkpoint and ultralytics is not installed; "
            f"{_EXPORT_HINT}, then set instance_weights to the .onnx file") from None
    onnx_path = path.with_suffix(".onnx")
    if onnx_path.is_file() and onnx_path.stat().st_mtime >= path.stat().st_mtime:
        return onnx_path
    size = DEFAULT_IMGSZ if imgsz is None else list(_parse_size(imgsz, "imgsz"))
    _LOG.info("exporting %s to ONNX (imgsz=%s) with ultralytics", path, size)
    try:
        exported = YOLO(str(path)).export(format="onnx", imgsz=size)
    except Exception as exc:  # ultralytics raises many types; name the file
        raise WeightsError(f"ultralytics could not export {path} to ONNX: {exc}") from None
    return Path(exported)


# --------------------------------------------------------------------------- segmenter

class YoloSegSegmenter:
    """Instance segmentation with a YOLOv8/11-seg ONNX model (see the module docstring).

    Build it with :func:`build_yolo_seg`. ``segment(frame)`` returns
    :class:`~seg_perception.results.InstanceMasks`: masks ``bool[N, H, W]`` in the
    frame's (colour camera's) pixel grid, boxes ``float32[N, 4]`` xyxy frame
    pixels clipped to the image, scores ``float32[N]`` class confidences in [0, 1],
    sorted by decreasing score. Instances whose mask is empty are dropped.

    Attributes:
        name: ``"yolo_seg"``.
        device: ``"cpu"`` or ``"cuda:N"``, what the session actually runs on.
        class_names: every class the model knows, index = class id.
        input_size: ``(height, width)`` of the model input, pixels.
        providers: onnxruntime providers of the session, in priority order.
        last_timings_ms: ``preprocess``, ``inference``, ``postprocess`` of the last call.
    """

    name = "yolo_seg"

    def __init__(self, session: Any, *, weights_path: Path, device: str,
                 class_names: Sequence[str] | None = None,
                 graspable_classes: Sequence[str] | str | None = None,
                 conf_threshold: float = 0.25, iou_threshold: float = 0.45,
                 mask_threshold: float = 0.5, max_detections: int = 100,
                 imgsz: Any = None) -> None:
        for pname, value in (("conf_threshold", conf_threshold), ("iou_threshold", iou_threshold),
                             ("mask_threshold", mask_threshold)):
            if not 0.0 <= float(value) <= 1.0:
                raise ConfigError(f"{pname}={value} must be in [0, 1]")
        if int(max_detections) < 1:
            raise ConfigError(f"max_detections={max_detections} must be at least 1")
        self._session = session
        self.weights_path = weights_path
        self.device = device
        self.providers = tuple(session.get_providers())
        self.conf_threshold = float(conf_threshold)
        self.iou_threshold = float(iou_threshold)
        self.mask_threshold = float(mask_threshold)
        self.max_detections = int(max_detections)
        self.last_timings_ms: dict[str, float] = {}
        meta: Mapping[str, str] = session.get_modelmeta().custom_metadata_map or {}
        self.metadata = dict(meta)
        self._check_task(meta)
        self._setup_input(meta, imgsz)
        self._setup_outputs()
        self.class_names = self._resolve_names(class_names, meta)
        self._allowed = self._resolve_graspable(graspable_classes)
        self._grid_cache: dict[tuple[Any, ...], tuple[np.ndarray, ...]] = {}

    # ---- construction helpers

    def _layout_error(self, detail: str) -> WeightsError:
        return WeightsError(
            f"{self.weights_path} does not have the YOLO-seg layout (input float[B, 3, h, w]; "
            f"output0 float[B, 4 + nc + nm, A]; output1 float[B, nm, h/4, w/4]): {detail}; "
            + _EXPORT_HINT)

    def _check_task(self, meta: Mapping[str, str]) -> None:
        task = meta.get("task")
        if task is not None and task != "segment":
            raise self._layout_error(f"its metadata says task={task!r}, not 'segment'")
        try:
            args = ast.literal_eval(meta.get("args", "{}"))
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            args = {}
        nms_inside = isinstance(args, dict) and args.get("nms") is True
        if nms_inside or str(meta.get("end2end", "")).lower() == "true":
            raise self._layout_error(
                "its outputs are already post-processed (exported with "
                f"{'nms=True' if nms_inside else 'end2end=True, e.g. a YOLO26 model'}); "
                "re-export with nms=False end2end=False")

    def _setup_input(self, meta: Mapping[str, str], imgsz: Any) -> None:
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise self._layout_error(f"it has {len(inputs)} inputs, expected 1 image input")
        inp = inputs[0]
        shape = list(inp.shape)
        if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
            raise self._layout_error(f"its input {inp.name!r} has shape {shape}")
        if inp.type not in ("tensor(float)", "tensor(float16)"):
            raise self._layout_error(f"its input {inp.name!r} is {inp.type}, expected float")
        self._input_name = inp.name
        self._input_dtype = np.float16 if inp.type == "tensor(float16)" else np.float32
        self._batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
        stride_text = str(meta.get("stride", "")).strip()
        stride = int(stride_text) if stride_text.isdigit() and int(stride_text) > 0 else DEFAULT_STRIDE
        fixed = all(isinstance(d, int) and d > 0 for d in shape[2:])
        if fixed:
            size = (int(shape[2]), int(shape[3]))
            if imgsz is not None and _parse_size(imgsz, "imgsz") != size:
                raise ConfigError(
                    f"imgsz={imgsz!r} conflicts with the model's fixed input {size[0]}x{size[1]}; "
                    "drop imgsz or re-export the model with that imgsz")
        else:
            if imgsz is not None:
                size = _parse_size(imgsz, "imgsz")
            elif "imgsz" in meta:
                size = _parse_size(meta["imgsz"], "the model's imgsz metadata")
            else:
                size = (DEFAULT_IMGSZ, DEFAULT_IMGSZ)
            rounded = tuple(int(math.ceil(s / stride) * stride) for s in size)
            if rounded != size:  # ultralytics does the same; the network downsamples by `stride`
                _LOG.warning("imgsz %s is not a multiple of the stride %d; using %s",
                             size, stride, rounded)
            size = (rounded[0], rounded[1])
        self.input_size: tuple[int, int] = size

    def _setup_outputs(self) -> None:
        outputs = self._session.get_outputs()
        if len(outputs) != 2:
            hint = " (a detection-only model?)" if len(outputs) == 1 else ""
            raise self._layout_error(f"it has {len(outputs)} outputs{hint}, expected 2")
        ranks = [len(o.shape) for o in outputs]
        if sorted(ranks) != [3, 4]:
            raise self._layout_error(
                f"its outputs have shapes {[list(o.shape) for o in outputs]}, expected one of "
                "rank 3 (detections) and one of rank 4 (prototypes)")
        self._det_index = ranks.index(3)
        self._proto_index = ranks.index(4)
        self._output_names = [o.name for o in outputs]
        channels, nm = outputs[self._det_index].shape[1], outputs[self._proto_index].shape[1]
        if not (isinstance(channels, int) and isinstance(nm, int)):
            # Dynamic channel dims: learn them from one dry run.
            det, proto = self._infer(np.zeros((self._batch or 1, 3, *self.input_size), np.float32))
            channels, nm = det.shape[1], proto.shape[1]
        self.num_mask_coefficients = int(nm)
        self.num_classes = int(channels) - 4 - int(nm)
        if self.num_classes < 1:
            raise self._layout_error(
                f"output0 has {channels} channels but output1 has {nm} prototypes, "
                "leaving no class scores")

    def _resolve_names(self, class_names: Sequence[str] | None,
                       meta: Mapping[str, str]) -> tuple[str, ...]:
        nc = self.num_classes
        if class_names is not None:
            names = tuple(str(n) for n in class_names)
            if len(names) != nc:
                raise ConfigError(f"class_names has {len(names)} names but the model "
                                  f"{self.weights_path} has {nc} classes")
            return names
        if "names" not in meta:
            return tuple(f"class_{i}" for i in range(nc))
        parsed = _parse_names(meta["names"])
        if sorted(parsed) != list(range(nc)):
            raise WeightsError(
                f"the model's 'names' metadata has {len(parsed)} classes but its output0 has "
                f"{nc} class scores; is output0 transposed or the metadata stale? "
                "pass class_names=[...] or re-export")
        return tuple(parsed[i] for i in range(nc))

    def _resolve_graspable(self, graspable: Sequence[str] | str | None) -> np.ndarray | None:
        if graspable is None:
            return None
        if isinstance(graspable, str):  # "cup, bottle" from a ROS parameter or a CLI flag
            graspable = [g.strip() for g in graspable.split(",") if g.strip()]
        wanted = list(graspable)
        unknown = [g for g in wanted if g not in self.class_names]
        if unknown:
            raise ConfigError(f"graspable_classes {unknown} are not classes of the model; "
                              f"it knows: {', '.join(self.class_names)}")
        allowed = np.zeros(self.num_classes, bool)
        allowed[[self.class_names.index(g) for g in wanted]] = True
        return allowed

    # ---- inference

    def _infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        feed = {self._input_name: batch.astype(self._input_dtype, copy=False)}
        outs = self._session.run(self._output_names, feed)
        return (np.asarray(outs[self._det_index], np.float32),
                np.asarray(outs[self._proto_index], np.float32))

    def _run(self, images: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Model outputs per image: det ``float32[C, A]``, protos ``float32[nm, mh, mw]``."""
        chunk = self._batch or len(images)
        dets: list[np.ndarray] = []
        protos: list[np.ndarray] = []
        for start in range(0, len(images), chunk):
            part = images[start:start + chunk]
            x = np.zeros((chunk, 3, *self.input_size), np.float32)  # a fixed batch is padded
            for j, img in enumerate(part):
                x[j] = img.transpose(2, 0, 1)
            x *= np.float32(1.0 / 255.0)
            det, proto = self._infer(x)
            expected = 4 + self.num_classes + self.num_mask_coefficients
            if (det.ndim != 3 or proto.ndim != 4 or det.shape[1] != expected
                    or proto.shape[1] != self.num_mask_coefficients or det.shape[0] < len(part)):
                raise self._layout_error(
                    f"it returned output0 {list(det.shape)} and output1 {list(proto.shape)}")
            dets.extend(det[:len(part)])
            protos.extend(proto[:len(part)])
        return dets, protos

    def segment(self, frame: "RGBDFrame") -> InstanceMasks:
        """Instances in ``frame`` (only ``frame.rgb`` is used); see the class docstring."""
        return self.segment_batch([frame])[0]

    def segment_batch(self, frames: Sequence["RGBDFrame"]) -> list[InstanceMasks]:
        """:meth:`segment` for several frames, in batches the model accepts (one run if dynamic)."""
        if not frames:
            return []
        t0 = time.perf_counter()
        boxed = [letterbox(f.rgb, self.input_size) for f in frames]
        t1 = time.perf_counter()
        dets, protos = self._run([b[0] for b in boxed])
        t2 = time.perf_counter()
        results = [self._postprocess(d, p, lb) for d, p, (_, lb) in zip(dets, protos, boxed)]
        t3 = time.perf_counter()
        self.last_timings_ms = {"preprocess": (t1 - t0) * 1e3, "inference": (t2 - t1) * 1e3,
                                "postprocess": (t3 - t2) * 1e3}
        return results

    # ---- post-processing

    def _postprocess(self, det: np.ndarray, protos: np.ndarray, lb: Letterbox) -> InstanceMasks:
        """Decode one image: det ``float32[4 + nc + nm, A]``, protos ``float32[nm, mh, mw]``."""
        nc = self.num_classes
        scores = det[4:4 + nc]
        # One label per anchor, its best class (ultralytics' multi_label=False); the
        # argmax runs on the few anchors above the threshold only.
        idx = np.flatnonzero(scores.max(axis=0) > self.conf_threshold)
        class_ids = scores[:, idx].argmax(axis=0)
        conf = scores[class_ids, idx]
        if self._allowed is not None:
            allowed = self._allowed[class_ids]
            idx, class_ids, conf = idx[allowed], class_ids[allowed], conf[allowed]
        if idx.size > MAX_NMS_CANDIDATES:
            top = np.argsort(-conf, kind="stable")[:MAX_NMS_CANDIDATES]
            idx, class_ids, conf = idx[top], class_ids[top], conf[top]
        cx, cy, w, h = det[:4, idx].astype(np.float64)
        boxes_in = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
        kept = batched_nms(boxes_in, conf, class_ids, self.iou_threshold, self.max_detections)
        idx, class_ids, conf = idx[kept], class_ids[kept].astype(np.int32), conf[kept]
        boxes = lb.boxes_to_frame(boxes_in[kept])
        coeffs = det[4 + nc:, idx].T  # (N, nm)
        masks, nonempty = self._assemble_masks(coeffs, protos, boxes, lb)
        out = InstanceMasks(masks, conf.astype(np.float32), class_ids,
                            tuple(self.class_names[c] for c in class_ids), boxes)
        return out if nonempty.all() else out.select(nonempty)

    def _grid(self, lb: Letterbox, proto_shape: tuple[int, int]) -> tuple[np.ndarray, ...]:
        """Bilinear taps in prototype space of every frame row and column (cached per geometry)."""
        key = (lb.frame_size, lb.input_size, proto_shape, lb.scale_x, lb.scale_y, lb.pad_x, lb.pad_y)
        cached = self._grid_cache.get(key)
        if cached is not None:
            return cached
        (fh, fw), (ih, iw), (mh, mw) = lb.frame_size, lb.input_size, proto_shape

        def taps(n: int, scale: float, pad: int, proto_per_input: float, size: int):
            # frame pixel centre -> input coordinate -> prototype pixel-index coordinate
            c = ((np.arange(n) + 0.5) * scale + pad) * proto_per_input - 0.5
            c = np.clip(c, 0, size - 1)  # replicate the edge, like align_corners=False upsampling
            i0 = np.floor(c).astype(np.intp)
            i1 = np.minimum(i0 + 1, size - 1)
            w1 = (c - i0).astype(np.float32)
            return i0, i1, w1

        grid = (*taps(fh, lb.scale_y, lb.pad_y, mh / ih, mh),
                *taps(fw, lb.scale_x, lb.pad_x, mw / iw, mw))
        self._grid_cache = {key: grid}  # frames rarely change size: keep one geometry
        return grid

    def _assemble_masks(self, coeffs: np.ndarray, protos: np.ndarray, boxes: np.ndarray,
                        lb: Letterbox) -> tuple[np.ndarray, np.ndarray]:
        """``bool[N, H, W]`` masks ``sigmoid(coeffs @ protos)`` inside each frame box, and
        ``bool[N]`` whether each mask has any pixel.

        Each mask is computed only on the prototype pixels under its box (plus the
        neighbours bilinear upsampling reads at the box edge), upsampled straight
        to frame pixels inside the box, so it is cropped exactly to the box.
        """
        fh, fw = lb.frame_size
        n = coeffs.shape[0]
        masks = np.zeros((n, fh, fw), bool)
        nonempty = np.zeros(n, bool)
        if n == 0:
            return masks, nonempty
        nm, mh, mw = protos.shape
        yi0, yi1, yw1, xi0, xi1, xw1 = self._grid(lb, (mh, mw))
        # frame pixels whose centre lies in [x1, x2) x [y1, y2)
        cols = np.ceil(boxes[:, 0::2].astype(np.float64) - 0.5).astype(np.intp)
        rows = np.ceil(boxes[:, 1::2].astype(np.float64) - 0.5).astype(np.intp)
        np.clip(cols, 0, fw, out=cols)
        np.clip(rows, 0, fh, out=rows)
        thr = np.float32(self.mask_threshold)
        for i in range(n):  # per object; everything inside is vectorised over pixels
            (u0, u1), (v0, v1) = cols[i], rows[i]
            if u1 <= u0 or v1 <= v0:
                continue
            r0, r1 = yi0[v0], yi1[v1 - 1] + 1  # prototype rows/cols the box reads
            c0, c1 = xi0[u0], xi1[u1 - 1] + 1
            logits = coeffs[i] @ protos[:, r0:r1, c0:c1].reshape(nm, -1)
            np.clip(logits, -40.0, 40.0, out=logits)  # exp() overflows past ~88 in float32
            p = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32).reshape(r1 - r0, c1 - c0)
            wy = yw1[v0:v1, None]
            p = p[yi0[v0:v1] - r0] * (1 - wy) + p[yi1[v0:v1] - r0] * wy
            wx = xw1[u0:u1]
            p = p[:, xi0[u0:u1] - c0] * (1 - wx) + p[:, xi1[u0:u1] - c0] * wx
            region = p > thr
            masks[i, v0:v1, u0:u1] = region
            nonempty[i] = region.any()
        return masks, nonempty

    def __repr__(self) -> str:
        return (f"YoloSegSegmenter(weights={str(self.weights_path)!r}, device={self.device!r}, "
                f"input_size={self.input_size}, classes={self.num_classes}, "
                f"conf_threshold={self.conf_threshold}, iou_threshold={self.iou_threshold})")


@register_instance_segmenter("yolo_seg")
def build_yolo_seg(*, weights: str | os.PathLike[str] | None = None, device: str = "cpu",
                   class_names: Sequence[str] | None = None,
                   graspable_classes: Sequence[str] | str | None = None,
                   conf_threshold: float = 0.25, iou_threshold: float = 0.45,
                   mask_threshold: float = 0.5, max_detections: int = 100,
                   providers: Sequence[Any] | None = None, imgsz: int | Sequence[int] | None = None,
                   fp16: bool = False) -> YoloSegSegmenter:
    """Build a YOLOv8/11-seg segmenter from an ONNX export (see the module docstring).

    Args:
        weights: path to the ``.onnx`` model. A ``.pt`` ultralytics checkpoint is
            exported to ``.onnx`` beside it when ultralytics is importable (a
            convenience path that the test suite does not cover; ultralytics is
            not a dependency).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``. On CUDA the
            TensorRT and CUDA providers are used when onnxruntime has them
            (``onnxruntime-gpu``), otherwise it falls back to the CPU with a warning.
        class_names: one name per model class; default: the model's ``names``
            metadata, else ``class_0 ...``.
        graspable_classes: keep only instances of these class names
            (a list, or one comma-separated string); None keeps all.
        conf_threshold: keep anchors whose best class score exceeds this, [0, 1].
        iou_threshold: class-aware NMS IoU above which the lower-scoring box goes, [0, 1].
        mask_threshold: mask probability above which a pixel is in the mask, [0, 1].
        max_detections: most instances per frame, highest scores first.
        providers: explicit onnxruntime providers (names or ``(name, options)``),
            overriding ``device``.
        imgsz: model input size ``int`` or ``(height, width)`` for a model exported
            with a dynamic input shape (rounded up to the stride); for a fixed-shape
            model leave it None or give the model's own size.
        fp16: half precision in TensorRT engines; an ONNX model otherwise runs
            at the precision it was exported with.

    Raises:
        WeightsError: no weights, missing or unreadable file, or not a YOLO-seg layout.
        ConfigError: an option out of range or in conflict with the model.
    """
    if weights is None or str(weights) == "":
        raise WeightsError(f"the yolo_seg backend needs an ONNX model: {_EXPORT_HINT}, "
                           "then set instance_weights: /path/model.onnx")
    path = Path(weights).expanduser()
    if not path.is_file():
        raise WeightsError(f"yolo_seg weights {path} do not exist; {_EXPORT_HINT}, "
                           "then set instance_weights to that file")
    if path.suffix == ".pt":
        path = _export_pt(path, imgsz)
    from .onnx_backend import open_session

    session, actual_device = open_session(path, "yolo_seg", device, providers, fp16,
                                          hint=f"{_EXPORT_HINT}, then set instance_weights "
                                               "to the .onnx file")
    return YoloSegSegmenter(session, weights_path=path, device=actual_device,
                            class_names=class_names, graspable_classes=graspable_classes,
                            conf_threshold=conf_threshold, iou_threshold=iou_threshold,
                            mask_threshold=mask_threshold, max_detections=max_detections,
                            imgsz=imgsz)
