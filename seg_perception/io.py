"""Files in and out: RGB-D image folders, PLY clouds, scene summaries as JSON."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .errors import InvalidFrameError
from .frames import CameraIntrinsics, RGBDFrame
from .results import InstanceMasks, Scene, SemanticMap

__all__ = ["LabeledFrame", "iter_image_folder", "iter_labeled_folder", "save_ply", "scene_summary",
           "write_json"]

_RGB_NAMES = re.compile(r"^(?P<stem>.+?)[_-]?(rgb|color|colour)$", re.IGNORECASE)


@dataclass(frozen=True)
class FolderFrame:
    name: str
    frame: RGBDFrame


def _read_png(path: Path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InvalidFrameError(f"cannot read image {path}")
    return image


_COLOUR_SUFFIXES = (".png", ".jpg", ".jpeg")  # depth must be lossless: PNG only


def _colour_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in _COLOUR_SUFFIXES)


def _pairs(folder: Path) -> list[tuple[str, Path, Path]]:
    """(name, rgb, depth) pairs: rgb/X.{png,jpg} + depth/X.png, or X_rgb.{png,jpg} + X_depth.png."""
    if (folder / "rgb").is_dir() and (folder / "depth").is_dir():
        return [(p.stem, p, folder / "depth" / f"{p.stem}.png")
                for p in _colour_files(folder / "rgb") if (folder / "depth" / f"{p.stem}.png").is_file()]
    pairs = []
    for p in _colour_files(folder):
        m = _RGB_NAMES.match(p.stem)
        if not m:
            continue
        for depth_name in (f"{m['stem']}_depth.png", f"{m['stem']}-depth.png", f"{m['stem']}depth.png"):
            if (folder / depth_name).is_file():
                pairs.append((m["stem"], p, folder / depth_name))
                break
    return pairs


def iter_image_folder(folder: str | Path, intrinsics: CameraIntrinsics | None = None,
                      depth_scale: float = 0.001) -> Iterator[FolderFrame]:
    """Frames of a folder of colour PNG/JPG + 16-bit depth PNG (millimetres by default).

    Intrinsics come from the argument or ``intrinsics.json`` in the folder
    (keys fx, fy, cx, cy; width/height default to the image's).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    pairs = _pairs(folder)
    if not pairs:
        raise InvalidFrameError(f"no RGB-D pairs in {folder}: expected rgb/*.png (or .jpg) + "
                                "depth/*.png, or NAME_rgb.png (or .jpg) + NAME_depth.png")
    meta = {}
    if intrinsics is None:
        path = folder / "intrinsics.json"
        if not path.is_file():
            raise InvalidFrameError(f"no intrinsics: pass fx/fy/cx/cy or write {path}")
        meta = json.loads(path.read_text())
    for index, (name, rgb_path, depth_path) in enumerate(pairs):
        bgr = _read_png(rgb_path)
        rgb = bgr[:, :, 2::-1] if bgr.ndim == 3 else bgr
        depth = _read_png(depth_path)
        h, w = depth.shape[:2]
        intr = intrinsics or CameraIntrinsics(int(meta.get("width", w)), int(meta.get("height", h)),
                                              float(meta["fx"]), float(meta["fy"]),
                                              float(meta["cx"]), float(meta["cy"]))
        frame = RGBDFrame.create(rgb, depth, intr, stamp_ns=index,
                                 depth_scale=depth_scale if depth.dtype == np.uint16 else None)
        yield FolderFrame(name, frame)


@dataclass(frozen=True, eq=False)
class LabeledFrame:
    """One frame of a labelled RGB-D folder (see :func:`iter_labeled_folder`).

    Carries the attributes :func:`seg_perception.evaluation.evaluate_dataset` reads, with
    the same meaning as on :class:`~seg_perception.sim.dataset.CocoRGBDSample`.

    Attributes:
        name: the frame's name in ``frames.json``.
        frame: RGB-D input (depth in metres, 0 = no measurement).
        instances: ground truth, one mask per non-zero label value (ascending), class
            ``object``, score 1.
        instance_ids: ``int64[N]`` each mask's value in ``instance_labels``.
        kinds: object kind per mask (``"object"``: the folder format has no kinds).
        instance_labels: ``uint16[H, W]`` 0 = background / table / no depth, else an object.
        semantic: always None (no semantic ground truth in this format).
        depth_gt: always None (the depth is the sensor's).
        case_tags: ``(category,)`` from ``frames.json`` (e.g. ``"stacked_boxes"``), or ``()``.
        annotations: always ``()`` (no per-object annotations).
        meta: the frame's entry of ``frames.json``.
    """

    name: str
    frame: RGBDFrame
    instances: InstanceMasks
    instance_ids: np.ndarray
    kinds: tuple[str, ...]
    instance_labels: np.ndarray
    semantic: SemanticMap | None
    depth_gt: np.ndarray | None
    case_tags: tuple[str, ...]
    annotations: tuple[dict[str, Any], ...]
    meta: dict[str, Any]


def _meta_value(entry: dict[str, Any], top: dict[str, Any], key: str, path: Path) -> Any:
    if key in entry:
        return entry[key]
    if key in top:
        return top[key]
    raise InvalidFrameError(f"{path}: frame {entry.get('name', '?')!r} has no {key!r} and the "
                            f"file has no top-level {key!r}; add the camera intrinsics "
                            "(fx, fy, cx, cy) to frames.json")


def iter_labeled_folder(folder: str | Path) -> Iterator[LabeledFrame]:
    """Frames with instance ground truth from a ``frames.json`` folder (the format of
    ``../shared/data/osd_dev``, real mOSD frames).

    ``frames.json`` holds ``{"frames": [entry, ...]}``; each entry names its files relative
    to the folder and its camera::

        {"name": "osd_learn2", "category": "boxes", "rgb": "osd_learn2_rgb.png",
         "depth": "osd_learn2_depth.png", "label": "osd_learn2_label.png",
         "fx": 525.0, "fy": 525.0, "cx": 319.5, "cy": 239.5, "depth_scale": 0.001}

    ``rgb``: 8-bit colour; ``depth``: uint16, ``z = value * depth_scale`` metres (default
    0.001), 0 = no measurement; ``label``: uint16 instance ids, 0 = background. ``fx, fy,
    cx, cy`` (pixels) and ``depth_scale`` may instead be given once at the top level.
    ``category`` becomes the frame's case tag. Files are read lazily, one frame at a time.

    Raises:
        FileNotFoundError: no folder or no ``frames.json``.
        InvalidFrameError: malformed ``frames.json``, missing keys, unreadable images or
            label / depth images of different sizes.

    Example:
        >>> for f in iter_labeled_folder("../shared/data/osd_dev"):   # doctest: +SKIP
        ...     print(f.name, f.case_tags, len(f.instances))
        osd_learn0 ('boxes',) 2
    """
    folder = Path(folder)
    path = folder / "frames.json"
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: a labelled folder needs frames.json "
                                "listing each frame's rgb, depth and label files")
    try:
        top = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise InvalidFrameError(f"{path} is not valid JSON: {e}") from None
    entries = top.get("frames") if isinstance(top, dict) else None
    if not isinstance(entries, list):
        raise InvalidFrameError(f"{path} has no 'frames' list")
    for index, entry in enumerate(entries):
        name = str(entry.get("name", f"frame{index:04d}"))
        missing = [k for k in ("rgb", "depth", "label") if not entry.get(k)]
        if missing:
            raise InvalidFrameError(f"{path}: frame {name!r} names no {', '.join(missing)} file")
        bgr = _read_png(folder / entry["rgb"])
        rgb = bgr[:, :, 2::-1] if bgr.ndim == 3 else bgr
        depth = _read_png(folder / entry["depth"])
        labels = _read_png(folder / entry["label"])
        if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
            raise InvalidFrameError(f"{folder / entry['label']} must be a single-channel integer "
                                    f"label image, got {labels.dtype}{list(labels.shape)}")
        if labels.shape != depth.shape[:2]:
            raise InvalidFrameError(f"frame {name!r}: label {labels.shape[::-1]} and depth "
                                    f"{depth.shape[:2][::-1]} differ in size")
        h, w = depth.shape[:2]
        intr = CameraIntrinsics(int(entry.get("width", w)), int(entry.get("height", h)),
                                *(float(_meta_value(entry, top, k, path))
                                  for k in ("fx", "fy", "cx", "cy")))
        scale = float(entry.get("depth_scale", top.get("depth_scale", 0.001)))
        frame = RGBDFrame.create(rgb, depth, intr, stamp_ns=index,
                                 depth_scale=scale if depth.dtype == np.uint16 else None)
        labels = labels.astype(np.uint16)
        ids = np.unique(labels)
        ids = ids[ids != 0]
        instances = InstanceMasks.from_masks(labels[None] == ids[:, None, None].astype(np.uint16))
        category = entry.get("category")
        yield LabeledFrame(
            name=name, frame=frame, instances=instances, instance_ids=ids.astype(np.int64),
            kinds=("object",) * int(ids.size), instance_labels=labels, semantic=None,
            depth_gt=None, case_tags=(str(category),) if category else (), annotations=(),
            meta=dict(entry))


def save_ply(path: str | Path, points: np.ndarray, colors: np.ndarray | None = None,
             labels: np.ndarray | None = None) -> None:
    """Binary little-endian PLY with x, y, z float, optional uchar red/green/blue and int label."""
    points = np.asarray(points, np.float32).reshape(-1, 3)
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if colors is not None:
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    if labels is not None:
        fields += [("label", "<i4")]
    data = np.empty(len(points), dtype=fields)
    data["x"], data["y"], data["z"] = points.T
    if colors is not None:
        data["red"], data["green"], data["blue"] = np.asarray(colors, np.uint8).reshape(-1, 3).T
    if labels is not None:
        data["label"] = labels
    ply_types = {"<f4": "float", "u1": "uchar", "<i4": "int"}
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {len(points)}"]
    header += [f"property {ply_types[t]} {n}" for n, t in fields]
    header += ["end_header"]
    with open(path, "wb") as fh:
        fh.write(("\n".join(header) + "\n").encode("ascii"))
        fh.write(data.tobytes())


def scene_summary(scene: Scene) -> dict[str, Any]:
    """JSON-ready description of a processed frame (metres, camera frame)."""
    objects = []
    for obj in scene.objects:
        item: dict[str, Any] = {
            "index": obj.index, "track_id": obj.track_id, "age": obj.age,
            "class_id": obj.class_id, "class_name": obj.class_name, "score": round(obj.score, 4),
            "box_2d": [round(float(v), 1) for v in obj.box_2d],
            "mask_pixels": int(obj.mask_crop()[0].sum()),
        }
        g = obj.geometry
        if g is not None:
            item.update(centroid=np.round(g.centroid, 4).tolist(),
                        box_center=np.round(g.box_center, 4).tolist(),
                        box_rotation=np.round(g.box_rotation, 5).tolist(),
                        box_size=np.round(g.box_extent, 4).tolist(), num_points=g.num_points)
        if obj.grasp is not None:
            item["grasp"] = {"point": np.round(obj.grasp.point, 4).tolist(),
                             "approach": np.round(obj.grasp.approach, 4).tolist(),
                             "axis": np.round(obj.grasp.axis, 4).tolist(),
                             "width": round(float(obj.grasp.width), 4)}
        objects.append(item)
    plane = scene.support_plane
    return {
        "stamp_ns": scene.frame.stamp_ns, "frame_id": scene.frame.frame_id,
        "size": [scene.frame.width, scene.frame.height],
        "support_plane": None if plane is None else np.round(plane.coefficients, 5).tolist(),
        "timings_ms": {k: round(v, 2) for k, v in scene.timings_ms.items()},
        "objects": objects,
    }


def write_json(path: str | Path, data: Any) -> None:
    Path(path).write_text(json.dumps(data, indent=1))
