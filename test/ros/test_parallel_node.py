"""perception_node with worker processes (``workers`` > 1) over real DDS."""
from __future__ import annotations

import os
import signal

import pytest
from lifecycle_msgs.msg import State as StateMsg
from rclpy.parameter import Parameter

from seg_perception.parallel import ParallelPipeline, auto_workers


def _stamp(msg) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def test_two_workers_publish_every_output_in_frame_order(harness, node_scene):
    h = harness(workers=2)
    assert isinstance(h.node.pipeline, ParallelPipeline) and h.node.pipeline.workers == 2
    h.wait_for_subscribers()
    # Frames faster than one pipeline would take them: both workers get busy.
    assert h.spin_until(lambda: len(h.got["objects"]) >= 12, timeout=40, publish_every=0.03)
    stamps = [_stamp(m) for m in h.got["objects"]]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    n_true = len(node_scene.objects)
    tracks = {tuple(sorted(o.track_id for o in m.objects)) for m in h.got["objects"][2:]}
    assert all(len(m.objects) == n_true for m in h.got["objects"])
    assert len(tracks) == 1  # the same ids frame after frame: tracked in order
    assert h.spin_until(lambda: h.got["markers"] and h.got["semantic_labels"]
                        and h.got["diagnostics"])
    _, values = h.diag_values()
    assert int(values["errors"]) == 0 and int(values["processed_frames"]) > 0


def test_parameters_and_lifecycle_with_workers(harness):
    h = harness(workers=2)
    h.wait_for_subscribers()
    assert h.spin_until(lambda: h.got["objects"], timeout=30)
    assert h.node.set_parameters([Parameter("compute_geometry", value=False)])[0].successful
    h.got["objects"].clear()
    # Frames sent after the change come back without 3D (centroid left at 0).
    assert h.spin_until(lambda: len(h.got["objects"]) >= 3 and all(
        o.centroid.z == 0.0 for o in h.got["objects"][-1].objects), timeout=30)
    pipeline = h.node.pipeline
    h.node.trigger_deactivate()
    assert h.node._state_machine.current_state[0] == StateMsg.PRIMARY_STATE_INACTIVE
    h.node.trigger_cleanup()
    assert h.node._state_machine.current_state[1] == "unconfigured" and h.node.pipeline is None
    assert not any(w.process.is_alive() for w in pipeline._workers)  # stopped on cleanup


def _blocks(pipeline):
    """Names of the shared-memory blocks each worker's channel holds now (both directions)."""
    names = set()
    for w in pipeline._workers:
        for block in (w.channel._own, w.channel._peer):
            if block is not None:
                names.add(block.name.lstrip("/"))
    return names


def _in_dev_shm(names):
    return {n for n in names if os.path.exists(f"/dev/shm/{n}")}


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="POSIX shared memory lives in /dev/shm "
                    "on Linux only; elsewhere there is nothing to count")
def test_killed_workers_shared_memory_is_released(harness):
    """Three workers killed (SIGKILL, as the OOM killer does) while frames flow over DDS:
    each is replaced, output goes on, and the segments in /dev/shm stay as many as
    before: the dead workers' blocks are unlinked, not left until the node exits."""
    h = harness()
    pipeline = h.node.pipeline
    if not isinstance(pipeline, ParallelPipeline):
        pytest.skip("one CPU core: the default configuration runs no worker processes")
    h.wait_for_subscribers()
    # Frames until every worker has a block each way (160x120 frames are over the
    # size that goes through shared memory).
    assert h.spin_until(lambda: len(_blocks(pipeline)) == 2 * pipeline.workers, timeout=30,
                        publish_every=0.03)
    seen = _blocks(pipeline)
    before = _in_dev_shm(seen)
    assert before == seen
    dead_blocks = set()
    for kill in range(3):
        victim = pipeline._workers[kill % pipeline.workers]
        dead_blocks |= {b.name.lstrip("/") for b in (victim.channel._own, victim.channel._peer)
                        if b is not None}
        os.kill(victim.process.pid, signal.SIGKILL)
        h.got["objects"].clear()
        # Replaced (a new process in its place, started) and frames come out again. Frames
        # faster than one worker takes them: a dead idle worker is noticed only when it
        # gets one (see test_a_worker_killed_while_idle_is_replaced).
        assert h.spin_until(lambda: victim not in pipeline._workers
                            and all(not w.starting for w in pipeline._workers)
                            and len(h.got["objects"]) >= 3, timeout=60, publish_every=0.03), \
            f"kill {kill + 1}"
        assert pipeline.workers == auto_workers("cpu")  # none lost
        assert h.spin_until(lambda: len(_blocks(pipeline)) == 2 * pipeline.workers, timeout=30,
                            publish_every=0.03)
        seen |= _blocks(pipeline)
    assert all(w.process.is_alive() for w in pipeline._workers)
    assert _in_dev_shm(dead_blocks) == set(), "a dead worker's block is still in /dev/shm"
    after = _in_dev_shm(seen)
    assert len(after) == len(before) and after == _blocks(pipeline)
    # Stopping the node frees the rest.
    h.node.trigger_deactivate()
    h.node.trigger_cleanup()
    assert _in_dev_shm(seen) == set()


def test_a_worker_killed_while_idle_is_replaced(harness):
    h = harness()
    pipeline = h.node.pipeline
    if not isinstance(pipeline, ParallelPipeline):
        pytest.skip("one CPU core: the default configuration runs no worker processes")
    h.wait_for_subscribers()
    assert h.spin_until(lambda: h.got["objects"], timeout=30)
    h.spin_for(1.0)  # no frames: every worker finishes and is idle
    assert all(w.idle for w in pipeline._workers)
    victim = pipeline._workers[-1]  # the last one: idle while the first keeps up
    os.kill(victim.process.pid, signal.SIGKILL)
    # One frame a second: the first worker takes each one at once.
    assert h.spin_until(lambda: victim not in pipeline._workers, timeout=6, publish_every=1.0)
    assert h.spin_until(lambda: all(w.process.is_alive() and not w.starting
                                    for w in pipeline._workers), timeout=30)
    assert h.node.stats.errors == 0  # no frame was sent to the dead worker


def test_the_dispatcher_outlives_a_failing_submit(harness, monkeypatch):
    """An unexpected error while handing a frame to a worker is counted and shown in
    /diagnostics; the dispatcher thread goes on with the next frame."""
    h = harness(workers=2)
    pipeline = h.node.pipeline
    h.wait_for_subscribers()
    assert h.spin_until(lambda: h.got["objects"], timeout=30)
    real_submit, calls = pipeline.submit, []

    def submit_failing_once(frame):
        calls.append(frame)
        if len(calls) == 1:
            raise ValueError("a bug in the hand-over")
        return real_submit(frame)

    monkeypatch.setattr(pipeline, "submit", submit_failing_once)
    h.got["objects"].clear()
    assert h.spin_until(lambda: len(calls) >= 2 and len(h.got["objects"]) >= 3, timeout=30)
    assert h.node.stats.errors == 1
    assert h.node._threads[0].is_alive()  # the dispatcher
    assert h.spin_until(lambda: h.got["diagnostics"] and "a bug in the hand-over" in
                        h.diag_values()[1].get("last_problem", ""), timeout=10)


def test_the_dispatcher_outlives_a_failing_pool(harness, monkeypatch):
    """The pool itself failing in the dispatcher's loop (a replacement worker that cannot
    be started raises there) is counted; the thread goes on once the pool works again."""
    h = harness(workers=2)
    pipeline = h.node.pipeline
    h.wait_for_subscribers()
    assert h.spin_until(lambda: h.got["objects"], timeout=30)
    monkeypatch.setattr(h.node, "_direct_dispatch", False)  # every frame via the dispatcher
    real_wait, calls = pipeline.wait_idle, []

    def wait_failing_twice(timeout=None):
        calls.append(timeout)
        if len(calls) <= 2:
            raise OSError("cannot start a worker process")
        return real_wait(timeout)

    monkeypatch.setattr(pipeline, "wait_idle", wait_failing_twice)
    h.got["objects"].clear()
    assert h.spin_until(lambda: len(h.got["objects"]) >= 3, timeout=30, publish_every=0.1)
    assert h.node.stats.errors == 2 and h.node._threads[0].is_alive()


def _unstamped(msg):
    """``msg`` as nested dicts with every header stamp left out (frames differ in stamp)."""
    from rosidl_runtime_py.convert import message_to_ordereddict

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "stamp"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value
    return strip(message_to_ordereddict(msg))


def test_worker_processes_publish_the_same_outputs_as_the_in_process_pipeline(harness):
    # Worker processes (results collected on a thread of their own) and the in-process
    # pipeline: each frame's outputs all there, once, in frame order, and the first
    # frame's field for field the same.
    topics = ("objects", "instance_labels", "semantic_labels", "overlay", "objects_cloud",
              "markers")
    first = {}
    for workers in (1, 2):
        h = harness(workers=workers)
        h.wait_for_subscribers()
        assert h.spin_until(lambda: all(len(h.got[t]) >= 4 for t in topics), timeout=60,
                            publish_every=0.2)
        h.spin_for(1.0)  # the last frame's outputs after its ~/objects
        stamps = [_stamp(m) for m in h.got["objects"]]
        assert stamps == sorted(set(stamps))
        for topic in topics:
            got = [_stamp(m.markers[0] if topic == "markers" else m) for m in h.got[topic]]
            assert got == sorted(set(got)), topic
            assert set(got) <= set(stamps) and len(got) >= len(stamps) - 1, topic
        first[workers] = {t: _unstamped(h.got[t][0]) for t in topics}
    for topic in topics:
        assert first[1][topic] == first[2][topic], topic
