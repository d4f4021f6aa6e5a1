"""Plain result types returned by segmenters, the 3D stage and the pipeline.

Masks live in the colour camera's pixel grid; 3D quantities are metres in the
camera optical frame of the input :class:`~seg_perception.frames.RGBDFrame`.
"""
from __future__ import annotations

import copy
from dataclasses import FrozenInstanceError, dataclass, field, replace
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .geometry.transforms import Transform

if TYPE_CHECKING:  # for annotations only: frames imports this module's users
    from .frames import RGBDFrame

__all__ = [
    "InstanceMask",
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


def _label_boxes(labels: np.ndarray, label_ids: np.ndarray) -> np.ndarray:
    """``int64[N, 4]`` tight boxes of the pixels ``labels == label_ids[k]`` (one pass over
    the image; absent labels give ``(0, 0, 0, 0)``)."""
    from scipy.ndimage import find_objects

    boxes = np.zeros((len(label_ids), 4), np.int64)
    if len(label_ids):
        found = find_objects(labels, max_label=int(label_ids.max()))
        for k, i in enumerate(label_ids.tolist()):
            sl = found[i - 1] if i >= 1 else None
            if sl is not None:
                rows, cols = sl
                boxes[k] = (cols.start, rows.start, cols.stop, rows.stop)
    return boxes


class InstanceMasks:
    """Instances found in one frame.

    One of three forms holds the pixels, whichever the segmenter produced, and
    nothing converts between them on the way from segmenter to message:

    * a **label image** (:meth:`from_labels`): one ``int[H, W]`` image, instance
      ``k`` = the pixels of value ``label_ids[k]``. Instances cannot overlap. The
      geometric segmenter's form: :meth:`label_image` is the image itself.
    * **crops** (:meth:`from_crops`): per instance a ``bool[h, w]`` crop inside its
      tight box. Instances may overlap (learned backends); what worker processes
      send.
    * **full masks** (the constructor): ``bool[N, H, W]``, as learned backends make them.

    Everything the consumers need is there in each form, without a round trip:
    :meth:`tight_boxes`, :meth:`crop` (an instance's pixels in its box),
    :meth:`window` (in any box, e.g. a message's ROI), :meth:`label_image`
    (memoised), :meth:`union`; :attr:`masks` (``bool[N, H, W]``) and
    :meth:`mask` are made only when asked for, then kept.

    Attributes:
        masks: ``bool[N, H, W]``, one full-frame mask per instance (made on first use).
        scores: ``float32[N]`` in [0, 1].
        class_ids: ``int32[N]`` indices into the segmenter's class list.
        class_names: ``N`` names, one per instance.
        boxes: ``float32[N, 4]`` ``(x1, y1, x2, y2)`` pixels, x2/y2 exclusive.

    Treat an instance set and its arrays as read-only (it is shared, not copied).
    """

    __slots__ = ("scores", "class_ids", "class_names", "boxes", "_shape", "_full",
                 "_labels", "_label_ids", "_crops", "__dict__")

    def __init__(self, masks: np.ndarray, scores: np.ndarray, class_ids: np.ndarray,
                 class_names: Sequence[str], boxes: np.ndarray) -> None:
        masks = np.asarray(masks)
        if masks.ndim != 3:
            raise ValueError(f"InstanceMasks masks must be bool[N, H, W], got shape {masks.shape}")
        self._init(masks.shape[1:], scores, class_ids, class_names, boxes, n=masks.shape[0])
        self._full = masks

    def _init(self, shape: Sequence[int], scores: np.ndarray, class_ids: np.ndarray,
              class_names: Sequence[str], boxes: np.ndarray, n: int) -> None:
        self.scores, self.class_ids = scores, class_ids
        self.class_names = tuple(class_names)
        self.boxes = boxes
        self._shape = (int(shape[0]), int(shape[1]))
        self._full = self._labels = self._label_ids = self._crops = None
        if not (len(self.scores) == len(self.class_ids) == len(self.class_names)
                == len(self.boxes) == n):
            raise ValueError("InstanceMasks fields must all have N entries")

    def __setattr__(self, name: str, value: object) -> None:
        if name in InstanceMasks.__slots__ and getattr(self, "_shape", None) is not None \
                and name in ("scores", "class_ids", "class_names", "boxes", "_shape"):
            raise FrozenInstanceError(f"InstanceMasks is read-only: cannot set {name}")
        object.__setattr__(self, name, value)

    # -- the other forms ----------------------------------------------------------------
    @classmethod
    def from_labels(cls, labels: np.ndarray, label_ids: np.ndarray | Sequence[int] | None = None,
                    scores: Sequence[float] | np.ndarray | None = None,
                    class_ids: Sequence[int] | np.ndarray | None = None,
                    class_names: Sequence[str] | None = None, boxes: np.ndarray | None = None,
                    *, tight_boxes: np.ndarray | None = None) -> "InstanceMasks":
        """Instances of a label image, kept as that image (no masks are made).

        Args:
            labels: ``int[H, W]`` (any unsigned or signed integer type), 0 = none.
                Kept, not copied: do not change it afterwards.
            label_ids: the label value of each instance; default: every non-zero value
                present, ascending (one scan of the image).
            scores, class_ids, class_names: defaults score 1, class 0 ``"object"``.
            boxes: ``float[N, 4]`` (e.g. a detector's); default: the tight boxes.
            tight_boxes: ``int[N, 4]`` exact boxes of each label's pixels when the
                producer knows them; default: found in one pass (``find_objects``).
        """
        labels = np.asarray(labels)
        if labels.ndim != 2 or labels.dtype.kind not in "iu":
            raise ValueError(f"labels must be an integer [H, W] image, got {labels.dtype} "
                             f"shape {labels.shape}")
        if label_ids is None:
            ids = np.unique(labels)
            ids = ids[ids != 0].astype(np.int64)
        else:
            ids = np.asarray(label_ids, np.int64).reshape(-1)
        n = len(ids)
        tight = (_label_boxes(labels, ids) if tight_boxes is None
                 else np.asarray(tight_boxes, np.int64).reshape(n, 4))
        self = cls.__new__(cls)
        self._init(labels.shape,
                   np.ones(n, np.float32) if scores is None else np.asarray(scores, np.float32),
                   np.zeros(n, np.int32) if class_ids is None else np.asarray(class_ids, np.int32),
                   ("object",) * n if class_names is None else class_names,
                   tight.astype(np.float32) if boxes is None else np.asarray(boxes, np.float32),
                   n)
        self._labels, self._label_ids = labels, ids
        self.__dict__["_tight"] = tight
        return self

    @classmethod
    def from_crops(cls, shape: Sequence[int], tight_boxes: np.ndarray,
                   crops: Sequence[np.ndarray], scores: np.ndarray, class_ids: np.ndarray,
                   class_names: Sequence[str], boxes: np.ndarray) -> "InstanceMasks":
        """Instances given as ``bool[h, w]`` crops of an ``(H, W)`` image, crop ``k``
        covering ``tight_boxes[k]`` (``int[N, 4]``, exclusive ends) exactly; may overlap."""
        tight = np.asarray(tight_boxes, np.int64).reshape(-1, 4)
        crops = list(crops)
        for crop, (x0, y0, x1, y1) in zip(crops, tight.tolist()):
            if crop.shape != (y1 - y0, x1 - x0):
                raise ValueError(f"a crop of shape {crop.shape} does not fit its box "
                                 f"{(x0, y0, x1, y1)}")
        self = cls.__new__(cls)
        self._init(shape, scores, class_ids, class_names, boxes, len(crops))
        self._crops = crops
        self.__dict__["_tight"] = tight
        return self

    @property
    def form(self) -> str:
        """``"labels"``, ``"crops"`` or ``"masks"``: the form the pixels are held in."""
        return ("labels" if self._labels is not None
                else "crops" if self._crops is not None else "masks")

    def __len__(self) -> int:
        return len(self.scores)

    def __repr__(self) -> str:
        return (f"InstanceMasks({len(self)} instances, {self._shape[0]}x{self._shape[1]}, "
                f"form={self.form!r})")

    @property
    def shape(self) -> tuple[int, int]:
        return self._shape

    @property
    def masks(self) -> np.ndarray:
        """``bool[N, H, W]`` full-frame masks, made on first use from the held form."""
        if self._full is None:
            h, w = self._shape
            full = np.zeros((len(self), h, w), bool)  # zero pages: costs what is written
            for i, (x0, y0, x1, y1) in enumerate(self.tight_boxes().tolist()):
                full[i, y0:y1, x0:x1] = self.crop(i)
            self._full = full
        return self._full

    def mask(self, i: int) -> np.ndarray:
        """``bool[H, W]`` full-frame mask of instance ``i`` (a view of :attr:`masks` when
        those are made, else made alone)."""
        if self._full is not None:
            return self._full[i]
        out = np.zeros(self._shape, bool)
        x0, y0, x1, y1 = self.tight_boxes()[i].tolist()
        out[y0:y1, x0:x1] = self.crop(i)
        return out

    def lazy_mask(self, i: int) -> "InstanceMask":
        """A handle on instance ``i``'s mask for :class:`SceneObject`: the full mask is made
        only if someone reads ``SceneObject.mask``."""
        return InstanceMask(self, int(i))

    def crop(self, i: int) -> np.ndarray:
        """``bool[h, w]`` instance ``i``'s pixels inside its tight box (a view where the
        form holds one)."""
        x0, y0, x1, y1 = self.tight_boxes()[i].tolist()
        if self._crops is not None:
            return self._crops[i]
        if self._labels is not None:
            return self._labels[y0:y1, x0:x1] == int(self._label_ids[i])  # int: compared as uint16
        return self._full[i, y0:y1, x0:x1]

    def window(self, i: int, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        """``bool[y1 - y0, x1 - x0]`` instance ``i``'s pixels in the window ``(x0, y0, x1,
        y1)`` of the image (exclusive ends, inside the image). A view or a fresh array:
        do not write to it."""
        if self._full is not None:
            return self._full[i, y0:y1, x0:x1]
        if self._labels is not None:
            return self._labels[y0:y1, x0:x1] == int(self._label_ids[i])  # int: compared as uint16
        out = np.zeros((y1 - y0, x1 - x0), bool)
        bx0, by0, bx1, by1 = self.tight_boxes()[i].tolist()
        ix0, iy0, ix1, iy1 = max(x0, bx0), max(y0, by0), min(x1, bx1), min(y1, by1)
        if ix1 > ix0 and iy1 > iy0:
            out[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] = \
                self._crops[i][iy0 - by0:iy1 - by0, ix0 - bx0:ix1 - bx0]
        return out

    def union(self) -> np.ndarray:
        """``bool[H, W]`` pixels of any instance."""
        if self._full is not None:
            return self._full.any(axis=0)
        return self.label_image() > 0

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
        tight = mask_boxes(masks)
        return cls(masks, scores, class_ids, names, tight.astype(np.float32)
                   ).knowing_tight_boxes(tight)

    @classmethod
    def from_label_image(cls, labels: np.ndarray, class_name: str = "object") -> "InstanceMasks":
        """One instance per non-zero label value (ascending), score 1 (:meth:`from_labels`)."""
        labels = np.asarray(labels)
        ids = np.unique(labels)
        ids = ids[ids != 0]
        return cls.from_labels(labels, ids, class_names=(class_name,) * len(ids))

    def label_image(self) -> np.ndarray:
        """``uint16[H, W]``: 0 = background, ``i + 1`` = instance ``i``; made once, then
        kept (read-only).

        Where masks overlap the higher-scoring instance wins. For a label image whose
        values are already ``1..N`` in instance order this is that image.
        """
        if "_label_image" not in self.__dict__:
            self.__dict__["_label_image"] = self._make_label_image()
        return self.__dict__["_label_image"]

    def _make_label_image(self) -> np.ndarray:
        n = len(self)
        if self._labels is not None:
            ids = self._label_ids
            if (self._labels.dtype == np.uint16 and np.array_equal(ids, np.arange(1, n + 1))
                    and (n == 0 or self._labels.max(initial=0) <= n)):
                out = self._labels.view()  # already the answer: no copy
            else:
                top = max(int(self._labels.max(initial=0)), int(ids.max(initial=0)))
                lut = np.zeros(top + 1, np.uint16)
                valid = ids > 0
                lut[ids[valid]] = np.arange(1, n + 1, dtype=np.uint16)[valid]
                out = lut[np.clip(self._labels, 0, top)] if self._labels.dtype.kind == "i" \
                    else lut[self._labels]
        else:
            out = np.zeros(self._shape, np.uint16)
            tight = self.tight_boxes().tolist()
            for i in np.argsort(self.scores, kind="stable").tolist():  # best written last
                x0, y0, x1, y1 = tight[i]
                out[y0:y1, x0:x1][self.crop(i)] = i + 1
        out.flags.writeable = False
        return out

    def tight_boxes(self) -> np.ndarray:
        """``int64[N, 4]`` tight boxes of the masks themselves (:func:`mask_boxes`; ``boxes``
        may be a detector's), computed once."""
        if "_tight" not in self.__dict__:  # a cache, not a field
            self.__dict__["_tight"] = mask_boxes(self._full)
        return self.__dict__["_tight"]

    def knowing_tight_boxes(self, boxes: np.ndarray) -> "InstanceMasks":
        """``self``, with ``boxes`` (``int[N, 4]``, exclusive ends) recorded as the masks'
        tight boxes: for producers that know them exactly, so no one scans the masks."""
        self.__dict__["_tight"] = np.asarray(boxes, np.int64).reshape(len(self), 4)
        return self

    def __reduce__(self) -> tuple:
        # Sent between processes (ParallelPipeline) in a compact form: a label image as
        # itself, any other form as each instance's tight crop (a few % of full masks).
        # The receiver keeps that form: nothing is pasted back into full masks.
        fields = (self.scores, self.class_ids, self.class_names, self.boxes)
        tight = self.tight_boxes()
        if self._labels is not None:
            return (_labels_instances, (np.ascontiguousarray(self._labels), self._label_ids,
                                        tight, *fields))
        crops = [np.ascontiguousarray(self.crop(i))  # contiguous: sent out of band
                 for i in range(len(self))]
        return (_crop_instances, (self._shape, tight, crops, *fields))

    def select(self, keep: np.ndarray | Sequence[int]) -> "InstanceMasks":
        """The instances at ``keep`` (indices or a boolean array), in the same form."""
        keep = np.asarray(keep)
        if keep.dtype == bool and keep.all() and keep.shape == (len(self),):
            return self  # read-only: sharing is safe, and copying every mask is not free
        idx = np.flatnonzero(keep) if keep.dtype == bool else keep.astype(int)
        names = tuple(self.class_names[i] for i in idx)
        fields = (self.scores[idx], self.class_ids[idx], names, self.boxes[idx])
        tight = self.__dict__.get("_tight")
        if self._labels is not None:
            return InstanceMasks.from_labels(self._labels, self._label_ids[idx], *fields,
                                             tight_boxes=self.tight_boxes()[idx])
        if self._crops is not None:
            return InstanceMasks.from_crops(self._shape, self.tight_boxes()[idx],
                                            [self._crops[i] for i in idx], *fields)
        out = InstanceMasks(self._full[idx], *fields)
        return out.knowing_tight_boxes(tight[idx]) if tight is not None else out


def _labels_instances(labels: np.ndarray, label_ids: np.ndarray, tight: np.ndarray,
                      scores: np.ndarray, class_ids: np.ndarray, class_names: tuple[str, ...],
                      boxes: np.ndarray) -> InstanceMasks:
    return InstanceMasks.from_labels(labels, label_ids, scores, class_ids, class_names, boxes,
                                     tight_boxes=tight)


def _crop_instances(shape: tuple[int, int], tight: np.ndarray, crops: list[np.ndarray],
                    *fields: object) -> InstanceMasks:
    return InstanceMasks.from_crops(shape, tight, crops, *fields)  # type: ignore[arg-type]


def _paste_instances(shape: tuple[int, int, int], tight: np.ndarray, crops: list[np.ndarray],
                     *fields: object) -> InstanceMasks:
    """Unpickles what earlier versions sent (full-mask shape + crops), as crops."""
    return InstanceMasks.from_crops(shape[1:], tight, crops, *fields)  # type: ignore[arg-type]


class InstanceMask:
    """Instance ``index`` of an :class:`InstanceMasks`: what :class:`SceneObject` holds
    in place of its full mask until someone reads ``SceneObject.mask``."""

    __slots__ = ("instances", "index")

    def __init__(self, instances: InstanceMasks, index: int) -> None:
        self.instances, self.index = instances, index

    def full(self) -> np.ndarray:
        return self.instances.mask(self.index)


class _LazyMaskField:
    """``SceneObject.mask``: a ``bool[H, W]`` array, given as one or as an
    :class:`InstanceMask` handle (made into the array on first read, then kept)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    def __get__(self, obj: object, owner: type | None = None) -> np.ndarray:
        if obj is None:
            raise AttributeError("no default")  # a required dataclass field
        value = obj.__dict__[self.slot]
        if isinstance(value, InstanceMask):
            value = value.full()
            obj.__dict__[self.slot] = value
        return value

    def __set__(self, obj: object, value: object) -> None:
        obj.__dict__[self.slot] = value


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

    ``mask`` reads as a ``bool[H, W]`` array. It may be given as one, or as
    ``instances.lazy_mask(i)`` (:class:`InstanceMask`): then the full mask is made
    only when ``mask`` is read, and :meth:`mask_crop` / :meth:`mask_window` give the
    object's pixels from the instances' own form (label image, crops or masks).
    """

    index: int
    class_id: int
    class_name: str
    score: float
    box_2d: np.ndarray
    mask: np.ndarray = _LazyMaskField()  # type: ignore[assignment]
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
        out = copy.copy(self)  # not dataclasses.replace: that would make the full mask
        object.__setattr__(out, "track_id", track_id)
        object.__setattr__(out, "age", age)
        return out

    @property
    def image_shape(self) -> tuple[int, int]:
        """``(H, W)`` of the image the mask belongs to."""
        held = self.__dict__["_mask"]
        if isinstance(held, InstanceMask):
            return held.instances.shape
        shape = np.shape(held)
        return (int(shape[0]), int(shape[1])) if len(shape) == 2 else (0, 0)

    def mask_crop(self) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        """``(bool[h, w], (x0, y0, x1, y1))``: the mask inside its tight box (exclusive
        ends), without making the full mask when it comes from an :class:`InstanceMasks`."""
        held = self.__dict__["_mask"]
        if isinstance(held, InstanceMask):
            x0, y0, x1, y1 = held.instances.tight_boxes()[held.index].tolist()
            return held.instances.crop(held.index), (x0, y0, x1, y1)
        mask = np.asarray(held, bool)
        x0, y0, x1, y1 = mask_boxes([mask])[0].tolist()
        return mask[y0:y1, x0:x1], (x0, y0, x1, y1)

    def mask_window(self, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        """``bool[y1 - y0, x1 - x0]`` the mask in a window of the image (exclusive ends,
        inside the image); do not write to it."""
        held = self.__dict__["_mask"]
        if isinstance(held, InstanceMask):
            return held.instances.window(held.index, x0, y0, x1, y1)
        return np.asarray(held, bool)[y0:y1, x0:x1]


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
