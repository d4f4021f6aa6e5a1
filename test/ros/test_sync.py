"""The project's approximate-time synchroniser (used when message_filters is absent)."""
import threading

import pytest

from seg_perception.ros.sync import ApproximateTimeSync

MS = 1_000_000


def make(slop_ms=10, queue=5):
    got = []
    sync = ApproximateTimeSync(3, lambda *m: got.append(m), slop_ms / 1000, queue)
    return sync, got


def test_matches_within_slop_in_any_arrival_order():
    sync, got = make()
    sync.add(1, "d0", 100 * MS + 3 * MS)
    sync.add(2, "i0", 100 * MS)
    assert got == []
    sync.add(0, "c0", 100 * MS + 1 * MS)
    assert got == [("c0", "d0", "i0")]


def test_jittered_streams_pair_each_frame_once():
    sync, got = make(slop_ms=8)
    for k in range(20):
        base = k * 33 * MS
        sync.add(0, f"c{k}", base)
        sync.add(1, f"d{k}", base + (k % 3 - 1) * 4 * MS)
        sync.add(2, f"i{k}", base + 2 * MS)
    assert [m[0] for m in got] == [f"c{k}" for k in range(20)]
    assert all(c[1:] == d[1:] == i[1:] for c, d, i in got)


def test_outside_slop_never_matches_and_queue_is_bounded():
    sync, got = make(slop_ms=5, queue=4)
    for k in range(50):
        sync.add(0, k, k * 100 * MS)
        sync.add(1, k, k * 100 * MS + 50 * MS)
        sync.add(2, k, k * 100 * MS)
    assert got == []
    assert all(len(q) <= 4 for q in sync._queues)
    assert sync.dropped >= 50 * 3 - 12


def test_older_messages_are_discarded_after_a_match():
    sync, got = make()
    sync.add(0, "old", 0)
    sync.add(0, "new", 50 * MS)
    sync.add(1, "d", 50 * MS)
    sync.add(2, "i", 50 * MS)
    assert got == [("new", "d", "i")]
    assert all(not q for q in sync._queues)
    assert sync.dropped == 1


def test_thread_safe_under_concurrent_adds():
    sync, got = make(slop_ms=1, queue=100)

    def feed(index):
        for k in range(300):
            sync.add(index, (index, k), k * 10 * MS)

    threads = [threading.Thread(target=feed, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps = [m[0][1] for m in got]
    assert stamps == sorted(stamps) and len(stamps) == len(set(stamps)) > 0
    assert all(c[1] == d[1] == i[1] for c, d, i in got)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        ApproximateTimeSync(0, print)
