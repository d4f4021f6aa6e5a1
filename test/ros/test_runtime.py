import threading
import time

from seg_perception.ros.runtime import LatestSlot, NodeStats, ThrottledReporter


def test_latest_slot_keeps_only_the_newest():
    slot = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True  # 1 was dropped
    assert slot.take(0) == 2
    assert slot.take(0.01) is None


def test_latest_slot_claim_hands_on_one_item_at_a_time_in_order():
    slot = LatestSlot()
    assert slot.claim() and slot.claimed  # empty and free: the producer hands on itself
    assert not slot.claim()  # one claim at a time
    slot.put("second")  # arrives while the first is on its way: waits in the slot
    slot.release()
    assert not slot.claim()  # an older item waits: the producer must not overtake it
    assert slot.take(0, claim=True) == "second" and slot.claimed
    assert not slot.claim()
    slot.release()
    assert slot.claim()
    slot.release()
    slot.close()
    assert not slot.claim()  # closed: nothing more goes out


def test_latest_slot_wait_released_returns_when_the_claim_ends():
    slot = LatestSlot()
    assert slot.wait_released(0)  # nothing claimed
    assert slot.claim()
    assert not slot.wait_released(0.01)
    ended = threading.Event()
    waiter = threading.Thread(target=lambda: slot.wait_released(5.0) and ended.set())
    waiter.start()
    slot.release()  # an open slot too, not only a closed one, wakes the waiter
    waiter.join(2)
    assert ended.is_set()


def test_latest_slot_wakes_a_waiting_worker_and_closes():
    slot = LatestSlot()
    got = []
    worker = threading.Thread(target=lambda: got.append(slot.take(5.0)))
    worker.start()
    time.sleep(0.05)
    slot.put("frame")
    worker.join(2)
    assert got == ["frame"]
    waiter = threading.Thread(target=lambda: got.append(slot.take(5.0)))
    waiter.start()
    slot.close()
    waiter.join(2)
    assert not waiter.is_alive() and got[-1] is None


def test_stats_snapshot():
    stats = NodeStats(window_s=5.0)
    for _ in range(10):
        stats.input()
    for latency in (10.0, 20.0, 30.0):
        stats.output(latency)
    stats.drop()
    stats.skip("InvalidFrameError", "depth has no valid pixels")
    snap = stats.snapshot()
    assert snap["input_rate_hz"] == 2.0 and snap["output_rate_hz"] == 0.6
    assert snap["latency_p50_ms"] == 20.0
    assert snap["dropped_frames"] == 1 and snap["skipped_frames"] == 1
    assert snap["last_problem"] == "depth has no valid pixels"


def test_recent_problems_age_out_while_totals_stay(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr("seg_perception.ros.runtime.time.monotonic", lambda: now[0])
    stats = NodeStats(problem_window_s=10.0)
    assert stats.snapshot()["recent_problems"] == 0
    assert stats.snapshot()["last_problem_age_s"] == -1.0
    stats.skip("InvalidFrameError", "bad frame")
    stats.error("model failed")
    now[0] += 4.0
    snap = stats.snapshot()
    assert snap["recent_problems"] == 2 and snap["last_problem_age_s"] == 4.0
    now[0] += 6.5  # both older than the window now
    snap = stats.snapshot()
    assert snap["recent_problems"] == 0
    assert snap["skipped_frames"] == 1 and snap["errors"] == 1  # totals kept
    assert snap["last_problem"] == "model failed" and snap["last_problem_age_s"] == 10.5


def test_throttled_reporter_per_category():
    lines = []
    report = ThrottledReporter(lines.append, period_s=60)
    assert report("a", "first a")
    assert not report("a", "second a")
    assert report("b", "first b")
    assert lines == ["first a", "first b"]
