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
from .results import Scene

__all__ = ["iter_image_folder", "save_ply", "scene_summary", "write_json"]

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


def _pairs(folder: Path) -> list[tuple[str, Path, Path]]:
    """(name, rgb, depth) pairs: rgb/X.png + depth/X.png, or X_rgb.png + X_depth.png."""
    if (folder / "rgb").is_dir() and (folder / "depth").is_dir():
        return [(p.stem, p, folder / "depth" / p.name)
                for p in sorted((folder / "rgb").glob("*.png")) if (folder / "depth" / p.name).is_file()]
    pairs = []
    for p in sorted(folder.glob("*.png")):
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
        raise InvalidFrameError(f"no RGB-D pairs in {folder}: expected rgb/*.png + depth/*.png "
                                "or NAME_rgb.png + NAME_depth.png")
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
            "mask_pixels": int(obj.mask.sum()),
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
