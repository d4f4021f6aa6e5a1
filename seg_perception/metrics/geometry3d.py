"""3D object metrics: centroid error, exact oriented-box IoU, mask-IoU object matching.

All 3D quantities are metres in one frame (normally the camera optical frame);
masks are ``bool[N, H, W]`` in one pixel grid.

Example:
    >>> import numpy as np
    >>> a = OrientedBox3D(np.zeros(3), np.eye(3), np.array([2.0, 2.0, 2.0]))
    >>> b = OrientedBox3D(np.array([1.0, 1.0, 0.0]), np.eye(3), np.array([2.0, 2.0, 2.0]))
    >>> round(oriented_box_iou(a, b), 6)       # overlap 1 x 1 x 2 = 2, union 8 + 8 - 2 = 14
    0.142857
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import InvalidFrameError
from ..results import InstanceMasks, ObjectGeometry

__all__ = [
    "MaskMatching",
    "Object3DResult",
    "OrientedBox3D",
    "box_intersection_volume",
    "centroid_error",
    "evaluate_objects_3d",
    "mask_iou_matrix",
    "match_by_mask_iou",
    "oriented_box_iou",
]

# Unit-cube corner signs and the 12 edges as pairs of corner indices.
_SIGNS = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], np.float64)
_EDGES = np.array([(i, j) for i in range(8) for j in range(i + 1, 8)
                   if np.count_nonzero(_SIGNS[i] != _SIGNS[j]) == 1])


@dataclass(frozen=True, eq=False)
class OrientedBox3D:
    """A solid box: ``{center + R @ (s * extent / 2) : s in [-1, 1]^3}``.

    Attributes:
        center: ``float64[3]`` metres.
        rotation: ``float64[3, 3]`` orthonormal; columns are the box axes.
        extent: ``float64[3]`` full side lengths along those axes (not half sizes), metres.
    """

    center: np.ndarray
    rotation: np.ndarray
    extent: np.ndarray

    def __post_init__(self) -> None:
        c = np.asarray(self.center, np.float64).reshape(3)
        r = np.asarray(self.rotation, np.float64).reshape(3, 3)
        e = np.asarray(self.extent, np.float64).reshape(3)
        if not (np.isfinite(c).all() and np.isfinite(r).all() and np.isfinite(e).all()):
            raise ValueError("box center, rotation and extent must be finite")
        if (e < 0).any():
            raise ValueError(f"box extent {e.tolist()} must be >= 0 (full side lengths)")
        if not np.allclose(r.T @ r, np.eye(3), atol=1e-6):
            raise ValueError("box rotation is not orthonormal; pass a rotation matrix with "
                             "the box axes as columns")
        object.__setattr__(self, "center", c)
        object.__setattr__(self, "rotation", r)
        object.__setattr__(self, "extent", e)

    @classmethod
    def from_geometry(cls, geometry: ObjectGeometry) -> "OrientedBox3D":
        """The oriented bounding box of an :class:`ObjectGeometry`."""
        return cls(geometry.box_center, geometry.box_rotation, geometry.box_extent)

    @property
    def volume(self) -> float:
        """Cubic metres."""
        return float(np.prod(self.extent))

    def corners(self) -> np.ndarray:
        """``float64[8, 3]`` corner points, metres."""
        return self.center + (_SIGNS * (self.extent / 2.0)) @ self.rotation.T

    def halfspaces(self) -> tuple[np.ndarray, np.ndarray]:
        """``(normals[6, 3], offsets[6])``, float64: inside iff ``normals @ x <= offsets``."""
        axes = self.rotation.T  # rows = unit axes
        normals = np.concatenate([axes, -axes])
        along = axes @ self.center
        half = self.extent / 2.0
        return normals, np.concatenate([along + half, -along + half])

    def contains(self, points: np.ndarray, tol: float = 0.0) -> np.ndarray:
        """``bool[M]`` whether ``float[M, 3]`` points lie in the box (within ``tol`` metres)."""
        normals, offsets = self.halfspaces()
        return (np.asarray(points) @ normals.T <= offsets + tol).all(axis=-1)


def _edge_plane_points(box: OrientedBox3D, other: OrientedBox3D) -> np.ndarray:
    """Points where ``box``'s 12 edges cross ``other``'s 6 face planes (may lie off the faces)."""
    corners = box.corners()
    p0, p1 = corners[_EDGES[:, 0]], corners[_EDGES[:, 1]]  # [12, 3]
    normals, offsets = other.halfspaces()
    d0 = p0 @ normals.T - offsets  # [12, 6] signed distances of the edge ends
    d1 = p1 @ normals.T - offsets
    crosses = (d0 * d1) < 0
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(crosses, d0 / (d0 - d1), 0.0)
    pts = p0[:, None, :] + t[..., None] * (p1 - p0)[:, None, :]
    return pts[crosses]


def box_intersection_volume(a: OrientedBox3D, b: OrientedBox3D) -> float:
    """Exact volume (cubic metres) of the intersection of two oriented boxes.

    The intersection is a convex polyhedron whose vertices are corners of one box inside
    the other plus the points where an edge of one box crosses a face of the other; its
    volume is that of their convex hull (``scipy.spatial.ConvexHull``). Exact up to
    floating point (relative error ~1e-12); a flat or empty intersection has volume 0.
    """
    from scipy.spatial import ConvexHull, QhullError

    reach = np.linalg.norm(a.extent) / 2 + np.linalg.norm(b.extent) / 2
    if np.linalg.norm(a.center - b.center) >= reach:  # bounding spheres apart
        return 0.0
    tol = 1e-9 * max(float(a.extent.max()), float(b.extent.max()), 1e-12)
    ca, cb = a.corners(), b.corners()
    cand = [ca[b.contains(ca, tol)], cb[a.contains(cb, tol)]]
    for box, other in ((a, b), (b, a)):
        pts = _edge_plane_points(box, other)
        cand.append(pts[a.contains(pts, tol) & b.contains(pts, tol)])
    verts = np.concatenate(cand)
    if verts.shape[0] < 4:
        return 0.0
    try:
        return float(ConvexHull(verts).volume)
    except QhullError:  # all vertices coplanar: the boxes only touch
        return 0.0


def oriented_box_iou(a: OrientedBox3D, b: OrientedBox3D) -> float:
    """Exact 3D IoU ``|A ∩ B| / |A ∪ B|`` of two oriented boxes (0 when the union is empty).

    See :func:`box_intersection_volume` for the method; no sampling is involved.
    """
    inter = box_intersection_volume(a, b)
    union = a.volume + b.volume - inter
    return float(min(max(inter / union, 0.0), 1.0)) if union > 0 else 0.0


def centroid_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray | float:
    """Euclidean distance (metres) between ``float[..., 3]`` predicted and GT centroids."""
    d = np.linalg.norm(np.asarray(pred, np.float64) - np.asarray(gt, np.float64), axis=-1)
    return float(d) if d.ndim == 0 else d


def _as_masks(x: np.ndarray | InstanceMasks, name: str) -> np.ndarray:
    """``bool[N, H, W]`` from masks, :class:`InstanceMasks` or a ``[H, W]`` label image."""
    if isinstance(x, InstanceMasks):
        return x.masks
    x = np.asarray(x)
    if x.ndim == 2:  # label image: one mask per non-zero value, ascending
        ids = np.unique(x)
        ids = ids[ids != 0]
        return x[None] == ids[:, None, None]
    if x.ndim != 3:
        raise InvalidFrameError(f"{name} must be bool[N, H, W] masks or an [H, W] label image, "
                                f"got shape {x.shape}")
    return x.astype(bool, copy=False)


def mask_iou_matrix(pred: np.ndarray | InstanceMasks,
                    gt: np.ndarray | InstanceMasks) -> np.ndarray:
    """``float64[N, M]`` IoU of every predicted mask with every GT mask.

    Masks may overlap. Intersections are dot products over pixel chunks of 65536, which
    keeps float32 sums exact and memory at ``(N + M) * 256 KiB``.
    """
    p, g = _as_masks(pred, "pred"), _as_masks(gt, "gt")
    if p.shape[1:] != g.shape[1:]:
        raise InvalidFrameError(f"pred masks {p.shape[1:]} and gt masks {g.shape[1:]} differ "
                                "in size")
    n, m = p.shape[0], g.shape[0]
    pixels = int(np.prod(p.shape[1:]))
    pf, gf = p.reshape(n, pixels), g.reshape(m, pixels)
    inter = np.zeros((n, m), np.float64)
    chunk = 1 << 16
    for s in range(0, pf.shape[1], chunk):  # chunks of pixels, not single pixels
        inter += pf[:, s:s + chunk].astype(np.float32) @ gf[:, s:s + chunk].astype(np.float32).T
    union = pf.sum(1, dtype=np.float64)[:, None] + gf.sum(1, dtype=np.float64)[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


@dataclass(frozen=True, eq=False)
class MaskMatching:
    """One-to-one matching of predicted to GT objects.

    Attributes:
        pred_indices, gt_indices: ``int64[K]`` matched pairs.
        ious: ``float64[K]`` mask IoU of each pair (all ``>= min_iou``).
        unmatched_pred, unmatched_gt: ``int64`` indices left without a partner.
        iou_matrix: ``float64[N, M]`` all pairwise IoUs.
    """

    pred_indices: np.ndarray
    gt_indices: np.ndarray
    ious: np.ndarray
    unmatched_pred: np.ndarray
    unmatched_gt: np.ndarray
    iou_matrix: np.ndarray

    def __len__(self) -> int:
        return int(self.pred_indices.size)


def match_by_mask_iou(pred: np.ndarray | InstanceMasks, gt: np.ndarray | InstanceMasks, *,
                      min_iou: float = 0.5) -> MaskMatching:
    """Hungarian matching maximising total mask IoU; pairs below ``min_iou`` are dropped.

    ``pred`` / ``gt``: ``bool[N, H, W]`` masks, :class:`InstanceMasks`, or ``[H, W]`` label
    images (object ``k`` = ``k``-th non-zero value in ascending order).
    """
    from scipy.optimize import linear_sum_assignment

    iou = mask_iou_matrix(pred, gt)
    rows, cols = linear_sum_assignment(iou, maximize=True)
    keep = iou[rows, cols] >= min_iou
    rows, cols = rows[keep].astype(np.int64), cols[keep].astype(np.int64)
    return MaskMatching(rows, cols, iou[rows, cols],
                        np.setdiff1d(np.arange(iou.shape[0]), rows),
                        np.setdiff1d(np.arange(iou.shape[1]), cols), iou)


@dataclass(frozen=True, eq=False)
class Object3DResult:
    """3D errors of matched objects.

    Attributes:
        matching: the :class:`MaskMatching` the errors are computed on.
        centroid_errors: ``float64[K]`` metres, per matched pair.
        box_ious: ``float64[K]`` oriented-box IoU per pair (NaN when boxes were not given).
        mean_centroid_error: metres (NaN when nothing matched).
        mean_box_iou: mean of ``box_ious`` (NaN when nothing matched or no boxes).
        precision: matched / predicted objects (1.0 with no prediction).
        recall: matched / GT objects (1.0 with no GT).
    """

    matching: MaskMatching
    centroid_errors: np.ndarray
    box_ious: np.ndarray
    mean_centroid_error: float
    mean_box_iou: float
    precision: float
    recall: float


def evaluate_objects_3d(pred_masks: np.ndarray | InstanceMasks,
                        gt_masks: np.ndarray | InstanceMasks,
                        pred_centroids: np.ndarray, gt_centroids: np.ndarray,
                        pred_boxes: Sequence[OrientedBox3D] | None = None,
                        gt_boxes: Sequence[OrientedBox3D] | None = None, *,
                        min_iou: float = 0.5) -> Object3DResult:
    """Match objects by mask IoU, then measure centroid error and box IoU of each pair.

    Args:
        pred_masks, gt_masks: see :func:`match_by_mask_iou` (``N`` and ``M`` objects).
        pred_centroids: ``float[N, 3]`` metres; gt_centroids: ``float[M, 3]`` metres.
        pred_boxes, gt_boxes: optional ``N`` / ``M`` :class:`OrientedBox3D` (both or neither).
        min_iou: smallest mask IoU of a match.
    """
    match = match_by_mask_iou(pred_masks, gt_masks, min_iou=min_iou)
    n, m = match.iou_matrix.shape
    pc = np.asarray(pred_centroids, np.float64).reshape(-1, 3)
    gc = np.asarray(gt_centroids, np.float64).reshape(-1, 3)
    if pc.shape[0] != n or gc.shape[0] != m:
        raise ValueError(f"{pc.shape[0]} predicted / {gc.shape[0]} GT centroids for {n} / {m} "
                         "masks; pass one centroid per mask")
    if (pred_boxes is None) != (gt_boxes is None):
        raise ValueError("pass both pred_boxes and gt_boxes, or neither")
    errors = np.linalg.norm(pc[match.pred_indices] - gc[match.gt_indices], axis=1)
    if pred_boxes is not None and gt_boxes is not None:
        if len(pred_boxes) != n or len(gt_boxes) != m:
            raise ValueError("pass one box per mask")
        box_ious = np.array([oriented_box_iou(pred_boxes[i], gt_boxes[j])
                             for i, j in zip(match.pred_indices, match.gt_indices)], np.float64)
    else:
        box_ious = np.full(len(match), np.nan)
    k = len(match)
    return Object3DResult(
        matching=match, centroid_errors=errors, box_ious=box_ious,
        mean_centroid_error=float(errors.mean()) if k else float("nan"),
        mean_box_iou=float(box_ious.mean()) if k else float("nan"),
        precision=k / n if n else 1.0, recall=k / m if m else 1.0)
