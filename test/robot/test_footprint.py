"""The default path's footprint, checked from outside on the node as a robot starts it.

``ros2 launch seg_perception perception.launch.py`` (the installed package, the
default configuration: worker processes auto) with the simulated camera and every
output of the node subscribed: neither the node nor any of its worker processes
has torch, Open3D or ONNX Runtime loaded (their shared libraries in
``/proc/<pid>/maps``), the worker processes exist, and node + workers stay within
issue 21's 800 MB of resident memory. No timing is asserted here: start-up and
latency numbers come from ``seg-perception bench``.
"""
from __future__ import annotations

import signal

import pytest

from seg_perception.benchmark.resources import HEAVY_LIBRARIES, process_tree_footprint

from .conftest import (assert_clean_exit, assert_node_runs_and_publishes, ros_env, shm_segments,
                       wait_for, worker_processes)

RSS_LIMIT_MB = 800.0


def test_default_node_and_workers_load_no_heavy_library_and_fit_in_800_mb(start, probe,
                                                                           domain_id):
    from seg_perception.parallel import auto_workers
    from seg_perception.ros.node_bench import OutputSink

    workers_wanted = auto_workers("cpu")
    if workers_wanted < 2:
        pytest.skip("one usable core: the default config runs the pipeline in the node")
    shm_before = shm_segments()
    launched = start(["ros2", "launch", "seg_perception", "perception.launch.py", "sim:=true",
                      "sim_rate:=4.0"], ros_env(domain_id))
    p = probe()
    log = lambda: launched.output()[-4000:]  # noqa: E731
    assert_node_runs_and_publishes(launched, p)
    # Every output subscribed (the node builds the overlay and the cloud only for a
    # listener), and a few frames through all of them before looking.
    sink = OutputSink(p.context, "/perception_node", skip=("objects",))
    try:
        for topic in ("overlay", "objects_cloud", "markers", "instance_labels"):
            assert f"/perception_node/{topic}" in sink.topics, sink.topics
        wait_for(lambda: min(n for t, n in sink.snapshot().items()
                             if not t.endswith("label_info")) >= 3,
                 60, "3 messages on every output", lambda: f"{sink.snapshot()}\n{log()}")
        workers = worker_processes(launched)
        parents = {w.ppid() for w in workers}
        assert len(parents) == 1, f"worker processes of several parents: {workers}"
        footprint = process_tree_footprint(parents.pop())
    finally:
        sink.close()

    node, found = footprint["node"], footprint["workers"]
    assert "perception_node" in node["cmd"], node
    assert footprint["workers_count"] == workers_wanted, footprint
    for who, entry in [("the node", node)] + [(f"worker {w['pid']}", w) for w in found]:
        assert not set(entry["libraries"]) & set(HEAVY_LIBRARIES), \
            f"{who} has {entry['libraries']} loaded on the default path: {entry}"
    assert footprint["node_workers_rss_mb"] <= RSS_LIMIT_MB, footprint

    took = launched.stop(signal.SIGINT, group=False)
    assert_clean_exit(launched, took, shm_before)


def test_footprint_check_sees_a_heavy_library():
    """The check itself: a process that maps Open3D's library is seen as having it."""
    import subprocess
    import sys

    pytest.importorskip("open3d")
    proc = subprocess.Popen([sys.executable, "-c",
                             "import open3d, sys; sys.stdout.write('ok\\n'); sys.stdout.flush(); "
                             "sys.stdin.read()"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ok"
        footprint = process_tree_footprint(proc.pid)
        assert footprint["node"]["libraries"] == ["open3d"], footprint
        assert footprint["workers_count"] == 0 and footprint["node_workers_rss_mb"] > 0
    finally:
        proc.stdin.close()
        proc.wait(10)
