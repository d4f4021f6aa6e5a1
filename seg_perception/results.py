"""Plain result types returned by segmenters, the 3D stage and the pipeline.

Masks live in the colour camera's pixel grid; 3D quantities are metres in the
camera optical frame of the input :class:`~seg_perception.frames.RGBDFrame`.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .geometry.transforms import Transform

if TYPE_CHECKING:  # for annotations only: frames imports this module's users
    from .frames import RGBDFrame

__all__ = [
    "InstanceMasks",
    "ObjectGeometry",
    "Plane",
    "Scene",
    "SceneObject",
    "SemanticMap",
    "TopDownGrasp",
    "mask_boxes",
    "LAYOUT_CLASSES",
    "GEOMETRY_OK",
    "GEOMETRY_CLIPPED",
    "GEOMETRY_UNKNOWN",
    "GEOMETRY_NOT_COMPUTED",
    "GEOMETRY_NO_DEPTH",
    "GEOMETRY_OUT_OF_RANGE",
    "GEOMETRY_TOO_FEW_POINTS",
    "STATUSES_WITH_3D",
    "STATUSES_WITHOUT_3D",
]

# Class names of the geometric layout segmenter, index = label value.
LAYOUT_CLASSES: tuple[str, ...] = ("unknown", "support_surface", "floor", "wall", "object")


def mask_boxes(masks: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """``int64[N, 4]`` tight ``(x1, y1, x2, y2)`` boxes (exclusive ends) of ``bool[N, H, W]``
    or of a sequence of ``bool[H, W]`` masks (not stacked: no copy); empty masks give
    ``(0, 0, 0, 0)``."""
    boxes = np.zeros((len(masks), 4), np.int64)
    for i, mask in enumerate(masks):  # one iteration per mask, not per pixel
        mask = np.asarray(mask, bool)
        ys = np.flatnonzero(mask.any(axis=1))
        if ys.size:
            # Columns only over the occupied rows.
            xs = np.flatnonzero(mask[ys[0]:ys[-1] + 1].any(axis=0))
            boxes[i] = (xs[0], ys[0], xs[-1] + 1, ys[-1] + 1)
    return boxes


@dataclass(frozen=True, eq=False)
class InstanceMasks:
    """Instances found in one frame.

    Attributes:
        masks: ``bool[N, H, W]``, one full-frame mask per instance.
        scores: ``float32[N]`` in [0, 1].
        class_ids: ``int32[N]`` indices into the segmenter's class list.
        class_names: ``N`` names, one per instance.
        boxes: ``float32[N, 4]`` ``(x1, y1, x2, y2)`` pixels, x2/y2 exclusive.
    """

    masks: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    class_names: tuple[str, ...]
    boxes: np.ndarray

    def __post_init__(self) -> None:
        n = self.masks.shape[0]
        if not (len(self.scores) == len(self.class_ids) == len(self.class_names)
                == len(self.boxes) == n):
            raise ValueError("InstanceMasks fields must all have N entries")

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.masks.shape[1]), int(self.masks.shape[2])

    @classmethod
    def empty(cls, height: int, width: int) -> "InstanceMasks":
        return cls(np.zeros((0, height, width), bool), np.zeros(0, np.float32),
                   np.zeros(0, np.int32), (), np.zeros((0, 4), np.float32))

    @classmethod
    def from_masks(cls, masks: np.ndarray, scores: Sequence[float] | np.ndarray | None = None,
                   class_ids: Sequence[int] | np.ndarray | None = None,
                   class_names: Sequence[str] | None = None) -> "InstanceMasks":
        """Build from boolean masks; boxes are computed, defaults are score 1, class 0 'object'."""
        masks = np.asarray(masks, dtype=bool)
        n = masks.shape[0]
        scores = np.ones(n, np.float32) if scores is None else np.asarray(scores, np.float32)
        class_ids = np.zeros(n, np.int32) if class_ids is None else np.asarray(class_ids, np.int32)
        names = ("object",) * n if class_names is None else tuple(class_names)
        return cls(masks, scores, class_ids, names, mask_boxes(masks).astype(np.float32))

    @classmethod
    def from_label_image(cls, labels: np.ndarray, class_name: str = "object") -> "InstanceMasks":
        """One instance per non-zero label value (ascending), score 1."""
        ids = np.unique(labels)
        ids = ids[ids != 0]
        masks = labels[None, :, :] == ids[:, None, None]
        return cls.from_masks(masks, class_names=(class_name,) * len(ids))

    def label_image(self) -> np.ndarray:
        """``uint16[H, W]``: 0 = background, ``i + 1`` = instance ``i``.

        Where masks overlap the higher-scoring instance wins.
        """
        h, w = self.shape
        labels = np.zeros((h, w), np.uint16)
        for i in np.argsort(self.scores, kind="stable"):  # low to high: best written last
            labels[self.masks[i]] = i + 1
        return labels

    def tight_boxes(self) -> np.ndarray:
        """``int64[N, 4]`` tight boxes of the masks themselves (:func:`mask_boxes`; ``boxes``
        may be a detector's), computed once."""
        if "_tight" not in self.__dict__:  # frozen: a cache, not a field
            self.__dict__["_tight"] = mask_boxes(self.masks)
        return self.__dict__["_tight"]

    def knowing_tight_boxes(self, boxes: np.ndarray) -> "InstanceMasks":
        """``self``, with ``boxes`` (``int[N, 4]``, exclusive ends) recorded as the masks'
        tight boxes: for producers that know them exactly, so no one scans the masks."""
        self.__dict__["_tight"] = np.asarray(boxes, np.int64).reshape(len(self), 4)
        return self

    def __reduce__(self) -> tuple:
        # Pickled as each mask's tight crop: a few % of the bytes of full masks, for
        # results sent between processes (ParallelPipeline).
        tight = self.tight_boxes()
        crops = [np.ascontiguousarray(m[y0:y1, x0:x1])  # contiguous: sent out of band
                 for m, (x0, y0, x1, y1) in zip(self.masks, tight)]
        return (_paste_instances, (self.masks.shape, tight, crops, self.scores,
                                   self.class_ids, self.class_names, self.boxes))

    def select(self, keep: np.ndarray | Sequence[int]) -> "InstanceMasks":
        """The instances at ``keep`` (indices or a boolean array)."""
        keep = np.asarray(keep)
        if keep.dtype == bool and keep.all() and keep.shape == (len(self),):
            return self  # frozen: sharing is safe, and copying every mask is not free
        idx = np.flatnonzero(keep) if keep.dtype == bool else keep.astype(int)
        return InstanceMasks(self.masks[idx], self.scores[idx], self.class_ids[idx],
                             tuple(self.class_names[i] for i in idx), self.boxes[idx])


def _paste_instances(shape: tuple[int, int, int], tight: np.ndarray, crops: list[np.ndarray],
                     *fields: object) -> InstanceMasks:
    masks = np.zeros(shape, bool)
    for m, crop, (x0, y0, x1, y1) in zip(masks, crops, tight):
        m[y0:y1, x0:x1] = crop
    return InstanceMasks(masks, *fields).knowing_tight_boxes(tight)  # type: ignore[arg-type]


@dataclass(frozen=True, eq=False)
class SemanticMap:
    """Per-pixel classes.

    Attributes:
        labels: ``uint8[H, W]`` class index per pixel.
        class_names: name of each class index.
        confidence: optional ``float32[H, W]`` probability of the chosen class.
    """

    labels: np.ndarray
    class_names: tuple[str, ...]
    confidence: np.ndarray | None = None

    def mask_of(self, name: str) -> np.ndarray:
        """``bool[H, W]`` pixels of class ``name`` (all False if the class is unknown)."""
        if name not in self.class_names:
            return np.zeros(self.labels.shape, bool)
        return self.labels == self.class_names.index(name)


@dataclass(frozen=True)
class Plane:
    """Plane ``n . p + d = 0`` with unit normal ``n`` (camera frame, metres).

    The normal points towards the camera side, so ``signed_distance`` is
    positive for points above a table seen from above.
    """

    normal: tuple[float, float, float]
    offset: float

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """``float32[...]`` distance in metres of ``float[..., 3]`` points."""
        return points @ np.asarray(self.normal, np.float32) + np.float32(self.offset)

    @property
    def coefficients(self) -> np.ndarray:
        """``float64[4]`` ``(a, b, c, d)``."""
        return np.array([*self.normal, self.offset], np.float64)

    def transformed(self, transform: Transform) -> "Plane":
        """This plane (``n . p + d = 0`` in the child frame) in ``transform``'s parent frame."""
        n = transform.apply_vectors(np.asarray(self.normal, np.float64))
        d = float(self.offset) - float(n @ transform.translation)
        return Plane((float(n[0]), float(n[1]), float(n[2])), d)


@dataclass(frozen=True, eq=False)
class ObjectGeometry:
    """3D description of one object, metres, in the frame of its points.

    Attributes:
        points: ``float32[M, 3]`` the object's cleaned, downsampled points.
        colors: ``uint8[M, 3]`` RGB per point, or None.
        centroid: ``float64[3]`` mean of ``points``.
        box_center: ``float64[3]`` centre of the oriented bounding box.
        box_rotation: ``float64[3, 3]`` box axes as columns (a right-handed rotation).
        box_extent: ``float64[3]`` full box size along each axis (not half sizes).
        principal_axes: ``float64[3, 3]`` PCA axes as columns, major to minor.
        top_normal: ``float64[3]`` unit normal of the object's top surface
            (the support plane's normal when known).
    """

    points: np.ndarray
    colors: np.ndarray | None
    centroid: np.ndarray
    box_center: np.ndarray
    box_rotation: np.ndarray
    box_extent: np.ndarray
    principal_axes: np.ndarray
    top_normal: np.ndarray

    @property
    def num_points(self) -> int:
        return int(self.points.shape[0])

    def transformed(self, transform: Transform) -> "ObjectGeometry":
        """The same geometry in ``transform``'s parent frame: points, centroid and box
        centre are moved; box rotation, principal axes and the top normal are rotated;
        extents and colours are unchanged."""
        R = transform.rotation
        return replace(
            self,
            points=transform.apply(self.points).astype(np.float32),
            centroid=transform.apply(self.centroid),
            box_center=transform.apply(self.box_center),
            box_rotation=R @ self.box_rotation,
            principal_axes=R @ self.principal_axes,
            top_normal=transform.apply_vectors(self.top_normal),
        )


@dataclass(frozen=True, eq=False)
class TopDownGrasp:
    """A parallel-jaw grasp from above.

    Attributes:
        point: ``float64[3]`` metres, centre of the object's top surface (the
            top face of its oriented box); the fingertips' target.
        approach: ``float64[3]`` unit vector the gripper moves along to reach
            ``point``: minus the top-surface normal, i.e. downwards onto the object.
        axis: ``float64[3]`` unit closing direction of the jaws, perpendicular to
            ``approach``, along the box's minor horizontal axis (sign canonical:
            first non-zero component positive; the grasp is symmetric under a flip).
        width: float metres, the object's extent along ``axis``: the jaws must
            open wider than this.
        height: float metres, the object's extent along ``approach`` (how far
            the fingers can reach down before touching the support).
    """

    point: np.ndarray
    approach: np.ndarray
    axis: np.ndarray
    width: float
    height: float

    @property
    def rotation(self) -> np.ndarray:
        """``float64[3, 3]`` gripper frame as columns: x = ``axis`` (closing),
        y = ``approach x axis``, z = ``approach``; right-handed."""
        return np.stack([self.axis, np.cross(self.approach, self.axis), self.approach], axis=1)

    def pose(self) -> Transform:
        """The gripper frame at ``point`` (see :attr:`rotation`) in the geometry's frame."""
        return Transform(self.rotation, self.point)

    def pre_grasp_point(self, distance: float) -> np.ndarray:
        """``float64[3]``: ``distance`` metres back along the approach, above ``point``."""
        return self.point - distance * self.approach

    def transformed(self, transform: Transform) -> "TopDownGrasp":
        """The same grasp expressed in ``transform``'s parent frame."""
        return TopDownGrasp(point=transform.apply(self.point),
                            approach=transform.apply_vectors(self.approach),
                            axis=transform.apply_vectors(self.axis),
                            width=self.width, height=self.height)


# SceneObject.geometry_status: why an object has 3D geometry or not. With geometry:
GEOMETRY_OK = "ok"
GEOMETRY_CLIPPED = "clipped"  # part of its depth is out of range: the box covers the rest
# Without geometry (SceneObject.geometry is None):
GEOMETRY_UNKNOWN = "unknown"  # the producer did not say
GEOMETRY_NOT_COMPUTED = "not_computed"  # the 3D stage is off
GEOMETRY_NO_DEPTH = "no_depth"  # no valid depth on the object's pixels
GEOMETRY_OUT_OF_RANGE = "out_of_range"  # its depth is outside [min_depth, max_depth]
GEOMETRY_TOO_FEW_POINTS = "too_few_points"  # fewer than min_points survived the filters
STATUSES_WITH_3D = (GEOMETRY_OK, GEOMETRY_CLIPPED)
STATUSES_WITHOUT_3D = (GEOMETRY_UNKNOWN, GEOMETRY_NOT_COMPUTED, GEOMETRY_NO_DEPTH,
                       GEOMETRY_OUT_OF_RANGE, GEOMETRY_TOO_FEW_POINTS)


@dataclass(frozen=True, eq=False)
class SceneObject:
    """One object of a processed frame, as published to planners.

    ``index`` is the object's position in :attr:`Scene.instances`; ``track_id``
    is stable across frames when a tracker runs (-1 otherwise). ``geometry`` is
    None when the object has no usable 3D points; ``geometry_status`` says why
    (one of :data:`STATUSES_WITHOUT_3D`), or whether the geometry is whole
    (:data:`STATUSES_WITH_3D`). Left empty it becomes ``"ok"`` with geometry and
    ``"unknown"`` without.
    """

    index: int
    class_id: int
    class_name: str
    score: float
    box_2d: np.ndarray
    mask: np.ndarray
    geometry: ObjectGeometry | None
    track_id: int = -1
    age: int = 0
    grasp: TopDownGrasp | None = None
    geometry_status: str = ""

    def __post_init__(self) -> None:
        with_3d = self.geometry is not None
        status = self.geometry_status or (GEOMETRY_OK if with_3d else GEOMETRY_UNKNOWN)
        allowed = STATUSES_WITH_3D if with_3d else STATUSES_WITHOUT_3D
        if status not in allowed:
            raise ValueError(f"geometry_status {status!r} does not fit an object "
                             f"{'with' if with_3d else 'without'} geometry: use one of "
                             f"{', '.join(allowed)}")
        object.__setattr__(self, "geometry_status", status)  # frozen: set once, here

    @property
    def has_3d(self) -> bool:
        """Whether ``geometry`` (and so the 3D box, cloud and grasp) is there."""
        return self.geometry is not None

    def with_track(self, track_id: int, age: int) -> "SceneObject":
        return replace(self, track_id=track_id, age=age)


@dataclass(eq=False)
class Scene:
    """Everything the pipeline found in one frame.

    ``timings_ms`` maps stage name (``instance``, ``semantic``, ``geometry``,
    ``total``) to wall time in milliseconds.
    """

    frame: "RGBDFrame"
    instances: InstanceMasks
    semantic: SemanticMap | None
    objects: list[SceneObject]
    support_plane: Plane | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
