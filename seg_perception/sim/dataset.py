"""Simulated RGB-D datasets in COCO instance-segmentation format, and their loader.

Layout written by :func:`export_coco` (``NNNNNN`` = zero-based frame index)::

    out_dir/
      annotations.json        COCO instances + RGB-D extras (below)
      rgb/NNNNNN.png          uint8 RGB
      depth/NNNNNN.png        uint16 millimetres, 0 = no measurement (sensor-noisy
                              when the config has depth_noise; written by
                              frames.depth_to_millimetres: beyond 65.535 m -> 0)
      depth_gt/NNNNNN.png     uint16 millimetres, exact (only with depth_noise)
      semantic/NNNNNN.png     uint8 indices into LAYOUT_CLASSES
      instances/NNNNNN.png    uint16 instance ids, 0 = not an object

``annotations.json`` is standard COCO (``images``, ``annotations`` with RLE
``segmentation``, ``bbox`` ``[x, y, w, h]``, ``area``, ``iscrowd`` 0,
``categories`` = ``[{"id": 1, "name": "object"}]``), so pycocotools and
torchvision read it. Each image also has ``depth_file``, ``depth_scale``,
``intrinsics`` (``fx, fy, cx, cy``), ``camera_pose`` (world-to-camera 4x4),
``table_plane`` (camera frame ``a, b, c, d``), ``case_tags`` and ``seed``; each
annotation has ``instance_id`` (its value in the instance PNG), ``kind``,
``tags``, ``occlusion`` and the object pose in the camera frame. Objects that
are fully hidden in a frame get no annotation.

Example:
    >>> import tempfile
    >>> from seg_perception.sim.scenes import SceneConfig
    >>> out = tempfile.mkdtemp()
    >>> _ = export_coco(out, 2, seed=0, config=SceneConfig(width=160, height=120), progress=False)
    >>> [s.frame.depth.shape for s in load_coco_rgbd(out)]
    [(120, 160), (120, 160)]
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Iterator, Sequence

import numpy as np

from ..errors import InvalidFrameError
from ..frames import CameraIntrinsics, RGBDFrame, depth_to_millimetres
from ..results import LAYOUT_CLASSES, InstanceMasks, SemanticMap
from .scenes import SceneConfig, SimFrame, TabletopSim

__all__ = ["CocoRGBDDataset", "CocoRGBDSample", "export_coco", "frame_seed", "load_coco_rgbd"]

CATEGORIES = [{"id": 1, "name": "object", "supercategory": "object"}]


def frame_seed(seed: int, index: int) -> int:
    """The scene seed of frame ``index`` of a dataset exported with ``seed``.

    Independent streams per frame, so any frame can be re-rendered alone:
    ``TabletopSim(config, seed=frame_seed(seed, i)).render()``.
    """
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


def _write_png(path: str, image: np.ndarray) -> None:
    import cv2

    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(path, image):
        raise OSError(f"could not write {path}: is the output directory writable?")


def _annotations(frame: SimFrame, image_id: int, next_id: int) -> list[dict[str, Any]]:
    from pycocotools import mask as mask_utils

    out = []
    for pose in frame.object_poses:
        if pose.visible_pixels == 0:
            continue
        mask = np.asfortranarray((frame.instance_labels == pose.instance_id).astype(np.uint8))
        with warnings.catch_warnings():  # pycocotools' own NumPy 2 copy= notice
            warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
            rle = mask_utils.encode(mask)
            area = int(mask_utils.area(rle))
            bbox = [float(v) for v in mask_utils.toBbox(rle)]
        rle["counts"] = rle["counts"].decode("ascii")
        out.append({
            "id": next_id + len(out), "image_id": image_id, "category_id": 1,
            "segmentation": rle, "area": area, "bbox": bbox, "iscrowd": 0,
            "instance_id": pose.instance_id, "kind": pose.kind, "name": pose.name,
            "tags": list(pose.tags), "occlusion": round(pose.occlusion, 4),
            "position_camera": list(pose.position_camera),
            "quaternion_camera": list(pose.quaternion_camera),
            "box_center_camera": list(pose.box_center_camera),
            "extents": list(pose.extents),
        })
    return out


def export_coco(out_dir: str | os.PathLike[str], num_frames: int, seed: int = 0,
                config: SceneConfig | Sequence[SceneConfig] | None = None,
                progress: bool = True) -> dict[str, Any]:
    """Render ``num_frames`` random scenes and write them as a COCO RGB-D dataset.

    Args:
        out_dir: output directory (created; existing files are overwritten).
        num_frames: number of frames, one new scene each.
        seed: dataset seed; frame ``i`` uses scene seed ``frame_seed(seed, i)``.
        config: scene parameters (default: 640x480 with sensor depth noise); a
            sequence of configs is used in turn (frame ``i`` renders with
            ``config[i % len(config)]``), e.g. one per eval case.
        progress: show a tqdm progress bar on stderr.

    Returns:
        The COCO dictionary that was written to ``annotations.json``.
    """
    if num_frames < 0:
        raise ValueError(f"num_frames={num_frames} must be >= 0")
    configs = [config or SceneConfig(depth_noise=True)] if not isinstance(config, Sequence) \
        else list(config)
    if not configs:
        raise ValueError("export_coco needs at least one SceneConfig")
    root = os.fspath(out_dir)
    subdirs = ["rgb", "depth", "semantic", "instances"]
    if any(c.depth_noise for c in configs):
        subdirs.append("depth_gt")
    for sub in subdirs:
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    from tqdm import tqdm

    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    sims: dict[int, TabletopSim] = {}
    try:
        for i in tqdm(range(num_frames), desc="rendering", unit="frame", disable=not progress):
            k = i % len(configs)
            config = configs[k]
            if k not in sims:
                sims[k] = TabletopSim(config, seed=frame_seed(seed, i))
            else:
                sims[k].reset(frame_seed(seed, i))
            frame = sims[k].render()
            name = f"{i:06d}.png"
            _write_png(os.path.join(root, "rgb", name), frame.rgb)
            _write_png(os.path.join(root, "depth", name), depth_to_millimetres(frame.depth))
            if config.depth_noise:
                _write_png(os.path.join(root, "depth_gt", name),
                           depth_to_millimetres(frame.depth_gt))
            _write_png(os.path.join(root, "semantic", name), frame.semantic)
            _write_png(os.path.join(root, "instances", name), frame.instance_labels)
            K = frame.intrinsics
            image_id = i + 1
            images.append({
                "id": image_id, "file_name": f"rgb/{name}", "width": K.width, "height": K.height,
                "depth_file": f"depth/{name}", "depth_scale": 0.001,
                "depth_gt_file": f"depth_gt/{name}" if config.depth_noise else f"depth/{name}",
                "semantic_file": f"semantic/{name}", "instance_file": f"instances/{name}",
                "intrinsics": {"fx": K.fx, "fy": K.fy, "cx": K.cx, "cy": K.cy},
                "camera_pose": frame.camera_pose.tolist(),
                "table_plane": [*frame.table_plane.normal, frame.table_plane.offset],
                "case_tags": list(frame.case_tags), "seed": frame.seed,
            })
            annotations.extend(_annotations(frame, image_id, len(annotations) + 1))
    finally:
        for sim in sims.values():
            sim.close()
    info_config = asdict(configs[0]) if len(configs) == 1 else [asdict(c) for c in configs]
    coco = {
        "info": {"description": "seg_perception simulated tabletop RGB-D (pybullet)",
                 "version": "1.0", "seed": int(seed), "config": info_config},
        "images": images, "annotations": annotations, "categories": CATEGORIES,
        "layout_classes": list(LAYOUT_CLASSES),
    }
    text = json.dumps(coco)
    with open(os.path.join(root, "annotations.json"), "w") as f:
        f.write(text)
    return json.loads(text)  # exactly what a reader sees (lists, not tuples)


@dataclass(frozen=True, eq=False)
class CocoRGBDSample:
    """One image of a COCO RGB-D dataset with its ground truth.

    Attributes:
        image_id: COCO image id.
        frame: RGB-D input (``depth`` as stored: sensor-noisy if exported so).
        instances: ``InstanceMasks`` decoded from the annotations' RLE, in
            annotation order, class ``object``.
        instance_ids: ``int32[N]`` each mask's value in ``instance_labels``.
        kinds: object kind of each mask (``"object"`` if the file has none).
        instance_labels: ``uint16[H, W]`` or None if the dataset has no instance PNGs.
        semantic: layout labels or None if the dataset has no semantic PNGs.
        depth_gt: ``float32[H, W]`` exact depth in metres, or None.
        case_tags: verified hard cases in the image.
        annotations: the raw COCO annotation dicts.
        image: the raw COCO image dict.
    """

    image_id: int
    frame: RGBDFrame
    instances: InstanceMasks
    instance_ids: np.ndarray
    kinds: tuple[str, ...]
    instance_labels: np.ndarray | None
    semantic: SemanticMap | None
    depth_gt: np.ndarray | None
    case_tags: tuple[str, ...]
    annotations: tuple[dict[str, Any], ...]
    image: dict[str, Any]


class CocoRGBDDataset:
    """Random access to a directory written by :func:`export_coco` (or any COCO
    file whose images carry ``depth_file`` and ``intrinsics``).

    ``len(ds)`` images; ``ds[i]`` is a :class:`CocoRGBDSample`; iterating
    yields them in order. Works as a ``torch.utils.data.Dataset`` as is.

    Args:
        root: dataset directory holding ``annotations.json``.
        annotation_file: another JSON file name inside ``root``.
        intrinsics: used for images without an ``intrinsics`` entry.
    """

    def __init__(self, root: str | os.PathLike[str], annotation_file: str = "annotations.json",
                 intrinsics: CameraIntrinsics | None = None) -> None:
        self.root = os.fspath(root)
        path = os.path.join(self.root, annotation_file)
        try:
            with open(path) as f:
                self.coco: dict[str, Any] = json.load(f)
        except FileNotFoundError:
            raise FileNotFoundError(
                f"{path} does not exist: is {self.root!r} a dataset written by "
                "seg_perception.sim.dataset.export_coco?") from None
        except json.JSONDecodeError as e:
            raise InvalidFrameError(f"{path} is not valid JSON: {e}") from None
        self.images: list[dict[str, Any]] = sorted(self.coco.get("images", []),
                                                   key=lambda im: im["id"])
        self._anns: dict[int, list[dict[str, Any]]] = {im["id"]: [] for im in self.images}
        for ann in self.coco.get("annotations", []):
            self._anns.setdefault(ann["image_id"], []).append(ann)
        self._categories = {c["id"]: c["name"] for c in self.coco.get("categories", CATEGORIES)}
        self._intrinsics = intrinsics
        layout = self.coco.get("layout_classes")
        self.layout_classes: tuple[str, ...] = tuple(layout) if layout else LAYOUT_CLASSES

    def __len__(self) -> int:
        return len(self.images)

    def __iter__(self) -> Iterator[CocoRGBDSample]:
        for i in range(len(self)):
            yield self[i]

    def _read(self, rel: str, what: str) -> np.ndarray:
        import cv2

        path = os.path.join(self.root, rel)
        image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if image is None:
            raise InvalidFrameError(f"cannot read {what} image {path}: missing or not an image")
        if image.ndim == 3:
            image = cv2.cvtColor(image[:, :, :3], cv2.COLOR_BGR2RGB)
        return image

    def _intrinsics_of(self, im: dict[str, Any]) -> CameraIntrinsics:
        k = im.get("intrinsics")
        if k is None:
            if self._intrinsics is None:
                raise InvalidFrameError(
                    f"image {im['id']} ({im['file_name']}) has no 'intrinsics' entry: pass "
                    "intrinsics=CameraIntrinsics(...) to CocoRGBDDataset")
            return self._intrinsics
        return CameraIntrinsics(int(im["width"]), int(im["height"]), float(k["fx"]),
                                float(k["fy"]), float(k["cx"]), float(k["cy"]))

    def __getitem__(self, index: int) -> CocoRGBDSample:
        from pycocotools import mask as mask_utils

        im = self.images[index]
        if "depth_file" not in im:
            raise InvalidFrameError(
                f"image {im['id']} ({im['file_name']}) has no 'depth_file': this loader needs "
                "RGB-D data (see seg_perception.sim.dataset for the format)")
        rgb = self._read(im["file_name"], "colour")
        depth = self._read(im["depth_file"], "depth")
        frame = RGBDFrame.create(rgb, depth, self._intrinsics_of(im), stamp_ns=0,
                                 depth_scale=float(im.get("depth_scale", 0.001)))
        h, w = frame.height, frame.width
        anns = tuple(self._anns.get(im["id"], []))
        if anns:
            with warnings.catch_warnings():  # pycocotools' own NumPy 2 copy= notice
                warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
                # One call for all masks: H x W x N.
                decoded = mask_utils.decode([a["segmentation"] for a in anns])
            masks = np.moveaxis(decoded, 2, 0).astype(bool)
        else:
            masks = np.zeros((0, h, w), bool)
        instances = InstanceMasks.from_masks(
            masks, class_ids=np.zeros(len(anns), np.int32),
            class_names=[self._categories.get(a["category_id"], "object") for a in anns])
        labels = self._read(im["instance_file"], "instance") if "instance_file" in im else None
        semantic = (SemanticMap(self._read(im["semantic_file"], "semantic"), self.layout_classes)
                    if "semantic_file" in im else None)
        depth_gt = None
        if "depth_gt_file" in im:
            depth_gt = self._read(im["depth_gt_file"], "depth_gt").astype(np.float32) * np.float32(
                im.get("depth_scale", 0.001))
        return CocoRGBDSample(
            image_id=int(im["id"]), frame=frame, instances=instances,
            instance_ids=np.asarray([a.get("instance_id", i + 1) for i, a in enumerate(anns)],
                                    np.int32),
            kinds=tuple(a.get("kind", "object") for a in anns),
            instance_labels=labels, semantic=semantic, depth_gt=depth_gt,
            case_tags=tuple(im.get("case_tags", ())), annotations=anns, image=im)


def load_coco_rgbd(root: str | os.PathLike[str], annotation_file: str = "annotations.json",
                   intrinsics: CameraIntrinsics | None = None) -> Iterator[CocoRGBDSample]:
    """Iterate over the images of a COCO RGB-D dataset (see :class:`CocoRGBDDataset`)."""
    return iter(CocoRGBDDataset(root, annotation_file, intrinsics))
