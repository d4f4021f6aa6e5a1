"""Keep object ids stable across frames.

:class:`ObjectTracker` matches each frame's objects to its tracks with the
Hungarian algorithm on a cost that mixes 3D centroid distance (metres, gated
by ``max_distance``) and 2D overlap (``1 - IoU`` of masks or boxes). Objects
without 3D geometry are matched on 2D overlap alone (gated by ``min_iou``).
Unmatched objects start new tracks; tracks not seen for more than
``max_missed`` frames are removed, and their ids are reported once in
:attr:`ObjectTracker.removed_track_ids` so a planning-scene bridge can send a
REMOVE. Everything is deterministic: the same inputs give the same ids.

Example:
    >>> import numpy as np
    >>> from seg_perception.results import SceneObject
    >>> def obj(x):
    ...     return SceneObject(index=0, class_id=0, class_name="object", score=1.0,
    ...                        box_2d=np.zeros(4, np.float32), mask=np.zeros((4, 4), bool),
    ...                        geometry=None, track_id=-1)
    >>> tracker = ObjectTracker(TrackerConfig(max_missed=0))
    >>> [o.track_id for o in tracker.update([obj(0)], stamp_ns=0)]
    [1]
    >>> tracker.update([], stamp_ns=1), tracker.removed_track_ids
    ([], (1,))
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from ..results import SceneObject
from .matching import assign, box_iou, centroid_distances, crop_iou

__all__ = ["ObjectTracker", "Track", "TrackerConfig"]

_MOTION_MODELS = ("constant_position", "constant_velocity")


@dataclass(frozen=True)
class TrackerConfig:
    """Settings of :class:`ObjectTracker`.

    Attributes:
        max_distance: largest distance in metres between a track's predicted
            centroid and an object still matched to it.
        max_missed: frames a track is kept without a match before removal
            (0: removed in the first frame it is missed).
        min_iou: smallest 2D IoU for a match when either side has no 3D centroid.
        iou_weight: weight of ``1 - IoU`` in the cost when both have 3D
            (the rest, ``1 - iou_weight``, goes to ``distance / max_distance``).
        iou_source: ``"mask"`` (pixel-exact) or ``"box"`` (cheaper) IoU.
        class_aware: only match objects of the same ``class_id``.
        motion_model: ``"constant_position"`` or ``"constant_velocity"``
            (predicts the centroid from a smoothed velocity).
        velocity_smoothing: weight of the newest velocity estimate, in (0, 1].
    """

    max_distance: float = 0.08
    max_missed: int = 5
    min_iou: float = 0.1
    iou_weight: float = 0.3
    iou_source: str = "mask"
    class_aware: bool = False
    motion_model: str = "constant_position"
    velocity_smoothing: float = 0.5

    def __post_init__(self) -> None:
        if self.max_distance <= 0:
            raise ConfigError(f"max_distance must be > 0 metres, got {self.max_distance}")
        if self.max_missed < 0:
            raise ConfigError(f"max_missed must be >= 0 frames, got {self.max_missed}")
        if not 0 < self.min_iou <= 1:
            raise ConfigError(f"min_iou must be in (0, 1], got {self.min_iou}")
        if not 0 <= self.iou_weight <= 1:
            raise ConfigError(f"iou_weight must be in [0, 1], got {self.iou_weight}")
        if self.iou_source not in ("mask", "box"):
            raise ConfigError(f"iou_source {self.iou_source!r} is not 'mask' or 'box'")
        if self.motion_model not in _MOTION_MODELS:
            raise ConfigError(f"motion_model {self.motion_model!r} is not one of "
                              f"{', '.join(_MOTION_MODELS)}")
        if not 0 < self.velocity_smoothing <= 1:
            raise ConfigError(
                f"velocity_smoothing must be in (0, 1], got {self.velocity_smoothing}")


@dataclass(frozen=True, eq=False)
class Track:
    """A snapshot of one track after an update.

    Attributes:
        track_id: stable id (``>= 1``).
        age: frames in which the object was seen.
        missed: consecutive frames without a match (0 if seen in the last update).
        centroid: ``float64[3]`` last measured centroid (metres), NaN if never known.
        velocity: ``float64[3]`` smoothed velocity, metres per second (or per
            frame when stamps do not increase); zeros for constant position.
        first_stamp_ns, last_stamp_ns: first and last frame the object was seen.
        last_object: the object as last seen (with this track's id and age).
    """

    track_id: int
    age: int
    missed: int
    centroid: np.ndarray
    velocity: np.ndarray
    first_stamp_ns: int
    last_stamp_ns: int
    last_object: SceneObject


@dataclass(eq=False)
class _TrackState:
    track_id: int
    obj: SceneObject
    centroid: np.ndarray
    box: np.ndarray
    age: int
    first_stamp_ns: int
    last_stamp_ns: int
    missed: int = 0
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(3))


def _centroid(obj: SceneObject) -> np.ndarray:
    if obj.geometry is None:
        return np.full(3, np.nan)
    return np.asarray(obj.geometry.centroid, np.float64)


def _inside(boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``int64[N, 4]`` ``boxes`` clipped to an ``(H, W)`` image (never inverted)."""
    h, w = shape
    b = np.asarray(boxes, np.int64).reshape(-1, 4)
    # (min / max, not np.clip: its overhead is most of the cost on a few boxes)
    lo = np.minimum(np.maximum(b[:, :2], 0), (w, h))
    hi = np.minimum(np.maximum(b[:, 2:], lo), (w, h))
    return np.concatenate([lo, hi], axis=1)


class ObjectTracker:
    """Assigns stable ``track_id`` and ``age`` to the objects of successive frames.

    Not thread safe; one tracker per camera stream. Call :meth:`update` once
    per processed frame, in time order.
    """

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.reset()

    def reset(self) -> None:
        """Forget all tracks (ids restart at 1)."""
        self._tracks: list[_TrackState] = []
        self._next_id = 1
        self._last_stamp_ns: int | None = None
        self._frame_dt = 1.0  # dt used when stamps do not increase: one "frame"
        self._removed: tuple[int, ...] = ()

    @property
    def removed_track_ids(self) -> tuple[int, ...]:
        """Ids removed by the last :meth:`update` (ascending)."""
        return self._removed

    @property
    def active_tracks(self) -> tuple[Track, ...]:
        """Tracks kept after the last update, seen or still within ``max_missed`` (by id)."""
        return tuple(
            Track(track_id=t.track_id, age=t.age, missed=t.missed, centroid=t.centroid.copy(),
                  velocity=t.velocity.copy(), first_stamp_ns=t.first_stamp_ns,
                  last_stamp_ns=t.last_stamp_ns, last_object=t.obj)
            for t in sorted(self._tracks, key=lambda t: t.track_id))

    def _dt_seconds(self, stamp_ns: int) -> float:
        """Time since the previous update, seconds; non-increasing stamps reuse the last dt."""
        if self._last_stamp_ns is not None and stamp_ns > self._last_stamp_ns:
            self._frame_dt = (stamp_ns - self._last_stamp_ns) * 1e-9
        return self._frame_dt

    def _cost(self, objects: list[SceneObject], centroids: np.ndarray,
              boxes: np.ndarray, elapsed: np.ndarray) -> np.ndarray:
        cfg = self.config
        tracks = self._tracks
        predicted = np.array([t.centroid for t in tracks]).reshape(-1, 3)
        if cfg.motion_model == "constant_velocity":
            velocity = np.array([t.velocity for t in tracks]).reshape(-1, 3)
            predicted = predicted + velocity * elapsed[:, None]
        dist = centroid_distances(predicted, centroids)
        track_boxes = np.array([t.box for t in tracks]).reshape(-1, 4)
        same_size = len({t.obj.image_shape for t in tracks} | {o.image_shape for o in objects}) == 1
        if cfg.iou_source == "mask" and same_size:
            # Only pairs inside the distance gate (or without 3D) can match. On each
            # mask's crop in its tight box: no full masks are made.
            gate = ~np.isfinite(dist) | (dist <= cfg.max_distance)
            shape = objects[0].image_shape
            ta, tb = _inside(track_boxes, shape), _inside(boxes, shape)
            iou = crop_iou([t.obj.mask_window(*bx) for t, bx in zip(tracks, ta.tolist())], ta,
                           [o.mask_window(*bx) for o, bx in zip(objects, tb.tolist())], tb,
                           candidates=gate)
        else:
            iou = box_iou(track_boxes, boxes)
        has3d = np.isfinite(dist)
        cost = np.where(
            has3d,
            np.where(dist <= cfg.max_distance,
                     (1 - cfg.iou_weight) * dist / cfg.max_distance + cfg.iou_weight * (1 - iou),
                     np.inf),
            np.where(iou >= cfg.min_iou, 1 - iou, np.inf))
        if cfg.class_aware:
            same = (np.array([t.obj.class_id for t in tracks])[:, None]
                    == np.array([o.class_id for o in objects])[None, :])
            cost = np.where(same, cost, np.inf)
        return cost

    def update(self, objects: list[SceneObject], stamp_ns: int,
               mask_boxes_known: np.ndarray | None = None) -> list[SceneObject]:
        """Match ``objects`` (one frame) to the tracks.

        Args:
            objects: the frame's objects; ``geometry.centroid`` (metres, any
                fixed frame) and ``mask`` are used, ``track_id`` is ignored.
            stamp_ns: the frame's time, nanoseconds.
            mask_boxes_known: the objects' tight mask boxes (``int[N, 4]``) when the
                caller has them (:meth:`InstanceMasks.tight_boxes`), else computed here.

        Returns:
            The same objects in the same order, each with ``track_id`` and
            ``age`` (frames seen, 1 for a new track) set.
        """
        cfg = self.config
        dt = self._dt_seconds(stamp_ns)
        centroids = np.array([_centroid(o) for o in objects]).reshape(-1, 3)
        if mask_boxes_known is not None:
            boxes = np.asarray(mask_boxes_known).reshape(-1, 4)
        elif objects:
            masks_known = all(o.image_shape != (0, 0) for o in objects)
            boxes = (np.array([o.mask_crop()[1] for o in objects]).reshape(-1, 4) if masks_known
                     else np.array([o.box_2d for o in objects]).reshape(-1, 4))
        else:
            boxes = np.zeros((0, 4))
        # Seconds since each track was last seen (for prediction).
        elapsed = np.array([(t.missed + 1) * dt if stamp_ns <= t.last_stamp_ns
                            else (stamp_ns - t.last_stamp_ns) * 1e-9 for t in self._tracks])
        rows = cols = np.zeros(0, np.int64)
        if self._tracks and objects:
            rows, cols = assign(self._cost(objects, centroids, boxes, elapsed), max_cost=1.0)

        out: list[SceneObject | None] = [None] * len(objects)
        matched_tracks = set(rows.tolist())
        for r, c in zip(rows.tolist(), cols.tolist()):
            t = self._tracks[r]
            new_centroid = centroids[c]
            if cfg.motion_model == "constant_velocity" and np.all(np.isfinite(new_centroid)) \
                    and np.all(np.isfinite(t.centroid)) and elapsed[r] > 0:
                measured = (new_centroid - t.centroid) / elapsed[r]
                a = cfg.velocity_smoothing
                t.velocity = measured if t.age == 1 else a * measured + (1 - a) * t.velocity
            if np.all(np.isfinite(new_centroid)):
                t.centroid = new_centroid
            t.age += 1
            t.missed = 0
            t.last_stamp_ns = stamp_ns
            t.box = boxes[c]
            t.obj = objects[c].with_track(t.track_id, t.age)
            out[c] = t.obj
        removed = []
        kept = []
        for i, t in enumerate(self._tracks):
            if i not in matched_tracks:
                t.missed += 1
                if t.missed > cfg.max_missed:
                    removed.append(t.track_id)
                    continue
            kept.append(t)
        self._tracks = kept
        for c, obj in enumerate(objects):  # new tracks, ids in input order
            if out[c] is not None:
                continue
            t = _TrackState(track_id=self._next_id, obj=obj.with_track(self._next_id, 1),
                            centroid=centroids[c].copy(), box=boxes[c], age=1,
                            first_stamp_ns=stamp_ns, last_stamp_ns=stamp_ns)
            self._next_id += 1
            self._tracks.append(t)
            out[c] = t.obj
        self._removed = tuple(sorted(removed))
        self._last_stamp_ns = stamp_ns
        return [o for o in out if o is not None]
