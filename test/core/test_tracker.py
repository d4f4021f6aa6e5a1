"""seg_perception.tracking: matching costs, gated Hungarian assignment, ObjectTracker."""
from __future__ import annotations

import numpy as np
import pytest

from seg_perception.errors import ConfigError
from seg_perception.results import ObjectGeometry, SceneObject
from seg_perception.tracking.matching import (
    assign,
    box_iou,
    centroid_distances,
    mask_boxes,
    mask_iou,
)
from seg_perception.tracking.tracker import ObjectTracker, TrackerConfig

H, W = 120, 160
PX_PER_M = 400.0  # toy projection of the tests: u = 80 + 400 x, v = 60 + 400 y


def make_object(x: float, y: float = 0.0, z: float = 0.8, *, class_id: int = 0,
                with_3d: bool = True, half: int = 6) -> SceneObject:
    u, v = int(round(80 + PX_PER_M * x)), int(round(60 + PX_PER_M * y))
    mask = np.zeros((H, W), bool)
    mask[max(v - half, 0):v + half, max(u - half, 0):u + half] = True
    geom = None
    if with_3d:
        c = np.array([x, y, z])
        geom = ObjectGeometry(points=c[None].astype(np.float32), colors=None, centroid=c,
                              box_center=c, box_rotation=np.eye(3), box_extent=np.full(3, 0.03),
                              principal_axes=np.eye(3), top_normal=np.array([0.0, 0.0, -1.0]))
    return SceneObject(index=0, class_id=class_id, class_name=f"class{class_id}", score=0.9,
                       box_2d=np.array([u - half, v - half, u + half, v + half], np.float32),
                       mask=mask, geometry=geom)


def ids(objects: list[SceneObject]) -> list[int]:
    return [o.track_id for o in objects]


# -- matching ---------------------------------------------------------------------------

def test_centroid_distances_and_box_iou() -> None:
    d = centroid_distances(np.array([[0, 0, 0], [np.nan, 0, 0]]), np.array([[3, 4, 0.0]]))
    assert d.shape == (2, 1) and d[0, 0] == 5.0 and d[1, 0] == np.inf
    iou = box_iou(np.array([[0, 0, 10, 10], [20, 20, 30, 30]]), np.array([[5, 0, 15, 10]]))
    np.testing.assert_allclose(iou[:, 0], [50 / 150, 0.0])


def test_mask_iou_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    a = np.zeros((4, 40, 50), bool)
    b = np.zeros((3, 40, 50), bool)
    for m in list(a) + list(b):
        y, x = rng.integers(0, 30), rng.integers(0, 40)
        m[y:y + rng.integers(3, 15), x:x + rng.integers(3, 15)] = True
        m &= rng.random(m.shape) < 0.8
    a[3] = False  # empty mask
    brute = np.array([[(p & q).sum() / max((p | q).sum(), 1) for q in b] for p in a])
    np.testing.assert_allclose(mask_iou(a, b), brute)
    np.testing.assert_allclose(mask_iou(a, b, mask_boxes(a), mask_boxes(b)), brute)
    assert mask_boxes(a)[3].tolist() == [0, 0, 0, 0]
    # Lists of masks work the same; pairs outside ``candidates`` are not compared.
    np.testing.assert_allclose(mask_iou(list(a), list(b)), brute)
    gate = np.ones(brute.shape, bool)
    gate[0] = False
    gated = mask_iou(list(a), list(b), candidates=gate)
    assert np.all(gated[0] == 0)
    np.testing.assert_allclose(gated[1:], brute[1:])
    assert mask_iou([], list(b)).shape == (0, 3)
    with pytest.raises(ValueError, match="mask sizes differ"):
        mask_iou(a, np.zeros((1, 10, 10), bool))


def test_assign_is_optimal_not_greedy_and_gated() -> None:
    # Track 1 is nearest to detection 0, but the optimum pairs (0, 0) and (1, 1).
    cost = np.array([[0.375, 0.875], [0.125, 0.375]])
    rows, cols = assign(cost, max_cost=1.0)
    assert rows.tolist() == [0, 1] and cols.tolist() == [0, 1]
    # A pair above the gate (or inf) is never matched, even if it is the only one.
    rows, cols = assign(np.array([[1.5, np.inf]]), max_cost=1.0)
    assert rows.size == 0 and cols.size == 0
    # Matching only when cheaper than leaving both unmatched (max_cost): here
    # two feasible pairs at 0.9 lose to one pair at 0.1 plus two unmatched.
    rows, cols = assign(np.array([[0.1, 0.9], [0.9, np.inf]]), max_cost=1.0)
    assert list(zip(rows.tolist(), cols.tolist())) == [(0, 0)]
    assert assign(np.zeros((0, 3)), 1.0)[0].size == 0
    with pytest.raises(ValueError, match="max_cost"):
        assign(np.zeros((2, 2)), 0.0)


# -- tracker ----------------------------------------------------------------------------

def test_moving_objects_keep_ids_and_age() -> None:
    tracker = ObjectTracker(TrackerConfig(max_distance=0.08))
    xs = np.array([-0.1, 0.0, 0.1])
    first = tracker.update([make_object(x) for x in xs], stamp_ns=0)
    assert ids(first) == [1, 2, 3] and [o.age for o in first] == [1, 1, 1]
    for k in range(1, 6):  # each moves 3 cm per frame along y, listed in a new order
        objs = [make_object(x, 0.03 * k) for x in xs[::-1]]
        out = tracker.update(objs, stamp_ns=k * 33_000_000)
        assert ids(out) == [3, 2, 1]
        assert [o.age for o in out] == [k + 1] * 3
        assert tracker.removed_track_ids == ()
    # Other fields are passed through untouched.
    assert out[0].mask is objs[0].mask and out[0].geometry is objs[0].geometry


def test_new_object_gets_new_id() -> None:
    tracker = ObjectTracker()
    tracker.update([make_object(0.0), make_object(0.1)], 0)
    out = tracker.update([make_object(0.005), make_object(-0.12), make_object(0.1)], 1)
    assert ids(out) == [1, 3, 2]
    assert [o.age for o in out] == [2, 1, 2]
    assert [t.track_id for t in tracker.active_tracks] == [1, 2, 3]


def test_vanished_object_removed_after_max_missed() -> None:
    tracker = ObjectTracker(TrackerConfig(max_missed=2))
    tracker.update([make_object(0.0), make_object(0.1)], 0)
    for k in (1, 2):
        out = tracker.update([make_object(0.1)], k)
        assert ids(out) == [2]
        assert tracker.removed_track_ids == ()
        lost = {t.track_id: t for t in tracker.active_tracks}[1]
        assert lost.missed == k and lost.age == 1 and lost.last_stamp_ns == 0
        assert lost.last_object.track_id == 1
    tracker.update([make_object(0.1)], 3)
    assert tracker.removed_track_ids == (1,)
    assert [t.track_id for t in tracker.active_tracks] == [2]
    tracker.update([make_object(0.1)], 4)
    assert tracker.removed_track_ids == ()  # reported once
    # An object returning within max_missed keeps its id.
    tracker.update([], 5)
    tracker.update([], 6)
    assert ids(tracker.update([make_object(0.1)], 7)) == [2]
    # max_missed = 0: removed in the first missed frame.
    quick = ObjectTracker(TrackerConfig(max_missed=0))
    quick.update([make_object(0.0)], 0)
    assert quick.update([], 1) == [] and quick.removed_track_ids == (1,)


def test_static_neighbours_never_swap() -> None:
    rng = np.random.default_rng(0)
    tracker = ObjectTracker()
    for k in range(30):  # 2 cm apart, 3 mm centroid noise, random listing order
        objs = [make_object(x + rng.normal(0, 0.003), rng.normal(0, 0.003))
                for x in (0.0, 0.02)]
        order = rng.permutation(2)
        out = tracker.update([objs[i] for i in order], k)
        by_x = {round(float(o.geometry.centroid[0]) > 0.01): o.track_id for o in out}
        assert by_x == {0: 1, 1: 2}
    assert [t.age for t in tracker.active_tracks] == [30, 30]


def test_crossing_paths_need_the_motion_model() -> None:
    # A moves +x, B moves -x, 2 cm apart in y, 3 cm per frame: at the crossing
    # each one's new position is nearer to the other's old one.
    def frames():
        for k in range(8):
            xa = -0.105 + 0.03 * k
            yield [make_object(xa, 0.0), make_object(-xa, 0.02)]

    for model, expect_swap in (("constant_position", True), ("constant_velocity", False)):
        tracker = ObjectTracker(TrackerConfig(motion_model=model, iou_weight=0.0))
        seen = [ids(tracker.update(objs, k * 100_000_000)) for k, objs in enumerate(frames())]
        swapped = any(s != [1, 2] for s in seen)
        assert swapped == expect_swap, (model, seen)
    # With velocity, the estimate is in metres per second from the stamps.
    vel = {t.track_id: t.velocity for t in tracker.active_tracks}
    np.testing.assert_allclose(vel[1], [0.3, 0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(vel[2], [-0.3, 0.0, 0.0], atol=1e-9)


def test_velocity_prediction_bridges_missed_frames() -> None:
    tracker = ObjectTracker(TrackerConfig(motion_model="constant_velocity", max_distance=0.05))
    for k in range(3):
        tracker.update([make_object(0.04 * k)], k * 1_000_000_000)  # 4 cm/s
    tracker.update([], 3_000_000_000)
    tracker.update([], 4_000_000_000)
    # Seen again at 0.20 m: 12 cm from the last measurement, 0 from the prediction.
    assert ids(tracker.update([make_object(0.20)], 5_000_000_000)) == [1]
    still = ObjectTracker(TrackerConfig(max_distance=0.05))
    for k in range(3):
        still.update([make_object(0.04 * k)], k * 1_000_000_000)
    assert ids(still.update([make_object(0.20)], 5_000_000_000)) == [2]


def test_2d_only_objects_match_by_mask_overlap() -> None:
    tracker = ObjectTracker(TrackerConfig(min_iou=0.3))
    tracker.update([make_object(0.0, with_3d=False), make_object(0.1, with_3d=False)], 0)
    out = tracker.update([make_object(0.1 + 2 / PX_PER_M, with_3d=False),  # 2 px shift
                          make_object(0.0 + 1 / PX_PER_M, with_3d=False)], 1)
    assert ids(out) == [2, 1]
    # No overlap: a new track.
    assert ids(tracker.update([make_object(0.05, with_3d=False)], 2)) == [3]
    box_tracker = ObjectTracker(TrackerConfig(iou_source="box"))
    box_tracker.update([make_object(0.0, with_3d=False)], 0)
    assert ids(box_tracker.update([make_object(1 / PX_PER_M, with_3d=False)], 1)) == [1]


def test_known_mask_boxes_are_used_instead_of_scanning_the_masks() -> None:
    frames = [[make_object(0.0, with_3d=False), make_object(0.1, with_3d=False)],
              [make_object(0.1 + 2 / PX_PER_M, with_3d=False),
               make_object(0.0 + 1 / PX_PER_M, with_3d=False)]]
    scanned, given = ObjectTracker(TrackerConfig(min_iou=0.3)), ObjectTracker(
        TrackerConfig(min_iou=0.3))
    for stamp, objects in enumerate(frames):
        boxes = mask_boxes([o.mask for o in objects])
        assert ids(scanned.update(objects, stamp)) == ids(given.update(objects, stamp, boxes))
    # The boxes given are the ones matched on: shifted far away, nothing overlaps.
    far = np.array([[0, 0, 1, 1], [2, 2, 3, 3]])
    assert ids(given.update(frames[1], 2, far)) == [3, 4]


def test_class_aware_matching() -> None:
    aware = ObjectTracker(TrackerConfig(class_aware=True))
    aware.update([make_object(0.0, class_id=1)], 0)
    assert ids(aware.update([make_object(0.0, class_id=2)], 1)) == [2]
    blind = ObjectTracker()
    blind.update([make_object(0.0, class_id=1)], 0)
    assert ids(blind.update([make_object(0.0, class_id=2)], 1)) == [1]


def test_deterministic_and_reset() -> None:
    rng = np.random.default_rng(5)
    sequence = [[make_object(x) for x in rng.uniform(-0.15, 0.15, rng.integers(0, 5))]
                for _ in range(20)]

    def run(tracker: ObjectTracker) -> list[list[int]]:
        return [ids(tracker.update(objs, k)) + list(tracker.removed_track_ids)
                for k, objs in enumerate(sequence)]

    tracker = ObjectTracker()
    first = run(tracker)
    assert first == run(ObjectTracker())
    tracker.reset()
    assert tracker.active_tracks == () and run(tracker) == first


def test_config_validation() -> None:
    for kwargs, match in [({"max_distance": 0.0}, "max_distance"), ({"max_missed": -1}, "max_missed"),
                          ({"min_iou": 0.0}, "min_iou"), ({"iou_weight": 1.5}, "iou_weight"),
                          ({"iou_source": "poly"}, "iou_source"),
                          ({"motion_model": "kalman"}, "motion_model"),
                          ({"velocity_smoothing": 0.0}, "velocity_smoothing")]:
        with pytest.raises(ConfigError, match=match):
            TrackerConfig(**kwargs)
