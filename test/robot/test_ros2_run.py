"""Every other way a user starts the nodes: ``ros2 run``, the console scripts,
``python -m`` and ``seg-perception bringup``, with the default configuration
(``workers: 0``, auto: worker processes), each stopped the way its starter stops it.
(``ros2 launch``: test_ros2_launch.py and test_launch_pytest.py.)
"""
from __future__ import annotations

import contextlib
import signal
import sys
import textwrap
import threading
from typing import Iterator

from .conftest import (assert_clean_exit, assert_node_runs_and_publishes, ros2, ros_env,
                       shm_segments, wait_for, worker_processes)

# The node's default inputs (config/default.yaml: the RealSense driver's topics).
DEFAULT_TOPICS = {"color": "/camera/camera/color/image_raw",
                  "depth": "/camera/camera/aligned_depth_to_color/image_raw",
                  "info": "/camera/camera/color/camera_info"}


@contextlib.contextmanager
def camera(domain_id: int, topics: dict[str, str] = DEFAULT_TOPICS,
           rate_hz: float = 5.0) -> Iterator[None]:
    """A driver-like RGB-D camera in the test process (a fixed synthetic scene)."""
    import rclpy

    from ros.rgbd_publisher import RGBDPublisher
    from seg_perception.sim.synthetic import preset_objects, render_scene

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain_id)
    publisher = RGBDPublisher(render_scene(preset_objects("separated"), 320, 240),
                              context=context, topics=topics)
    stop = threading.Event()

    def publish() -> None:
        while not stop.wait(1.0 / rate_hz):
            publisher.publish_frame()

    feeder = threading.Thread(target=publish, daemon=True)
    feeder.start()
    try:
        yield
    finally:
        stop.set()
        feeder.join(2)
        publisher.destroy_node()
        context.try_shutdown()


def test_ros2_run_every_executable_stopped_by_sigterm_to_each_group(start, probe, domain_id):
    """``ros2 run`` of the three nodes, as three systemd services would run them; stopped
    with SIGTERM to each process group (systemd's KillMode=control-group)."""
    env = ros_env(domain_id)
    shm_before = shm_segments()
    node = start(["ros2", "run", "seg_perception", "perception_node"], env)
    cam = start(["ros2", "run", "seg_perception", "sim_camera_node",
                 "--ros-args", "-p", "rate:=4.0"], env)
    bridge = start(["ros2", "run", "seg_perception", "moveit_bridge_node"], env)
    bridge_probe = probe("/moveit_bridge_node")
    assert_node_runs_and_publishes(node, probe())
    wait_for(lambda: bridge_probe.state() == "active", 60, "moveit_bridge_node to be active",
             lambda: bridge.output()[-3000:])
    got = ros2(["lifecycle", "get", "/moveit_bridge_node", "--no-daemon"], domain_id)
    assert got.stdout.startswith("active"), got.stdout + got.stderr

    # The command-line tool is an executable of the package too.
    listed = ros2(["run", "seg_perception", "seg-perception", "backends"], domain_id)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "geometric" in listed.stdout, listed.stdout

    for started in (node, bridge, cam):
        took = started.stop(signal.SIGTERM, group=True)
        assert_clean_exit(started, took, shm_before)


def test_console_scripts_stopped_by_sigint_to_each_node(start, probe, domain_id):
    """The ``perception_node`` console script on PATH with a parameter file and ``-p``
    topics, and ``moveit_bridge_node`` on its output; SIGINT to each node alone (what
    ``ros2 launch`` sends): the perception node stops its workers itself."""
    topics = {"color": "/cam_a/color/image_raw",
              "depth": "/cam_a/aligned_depth_to_color/image_raw",
              "info": "/cam_a/color/camera_info"}
    shm_before = shm_segments()
    node = start(["perception_node", "--ros-args", "--params-file", "config/default.yaml",
                  "-p", f"color_topic:={topics['color']}", "-p", f"depth_topic:={topics['depth']}",
                  "-p", f"camera_info_topic:={topics['info']}"], ros_env(domain_id))
    bridge = start(["moveit_bridge_node"], ros_env(domain_id))
    bridge_probe = probe("/moveit_bridge_node")
    with camera(domain_id, topics):
        assert_node_runs_and_publishes(node, probe())
    wait_for(lambda: bridge_probe.state() == "active", 60, "moveit_bridge_node to be active",
             lambda: bridge.output()[-3000:])
    for started in (node, bridge):
        took = started.stop(signal.SIGINT, group=False)
        assert_clean_exit(started, took, shm_before)


def test_python_m_stopped_by_sigterm_to_the_node(start, probe, domain_id):
    """``python -m seg_perception.ros.nodes.perception_node``; SIGTERM to the node process
    alone: the workers get no signal, the node must end them."""
    shm_before = shm_segments()
    node = start([sys.executable, "-m", "seg_perception.ros.nodes.perception_node",
                  "--ros-args", "--params-file", "config/default.yaml"], ros_env(domain_id))
    with camera(domain_id):
        assert_node_runs_and_publishes(node, probe())
    took = node.stop(signal.SIGTERM, group=False)
    assert_clean_exit(node, took, shm_before)


def test_bringup_sim_stopped_by_ctrl_c(start, probe, domain_id):
    """``seg-perception bringup sim:=true`` (the launch file's nodes without launch_ros);
    Ctrl-C: SIGINT to the whole process group."""
    shm_before = shm_segments()
    started = start(["seg-perception", "bringup", "sim:=true", "sim_rate:=4.0"],
                    ros_env(domain_id))
    assert_node_runs_and_publishes(started, probe())
    took = started.stop(signal.SIGINT, group=True)
    assert_clean_exit(started, took, shm_before)


# Loaded by every interpreter started with this folder on PYTHONPATH (in place of any
# system sitecustomize): a multiprocessing spawn child (the only one with
# --multiprocessing-fork) dies at start-up, as one that cannot load its modules or get
# its memory would; the node process itself runs normally.
_BROKEN_SPAWN = '''
import os
import sys

if "--multiprocessing-fork" in getattr(sys, "orig_argv", ()):
    sys.stderr.write("test sitecustomize: this spawned interpreter refuses to start\\n")
    sys.stderr.flush()
    os._exit(3)
'''

FALLBACK = "worker processes could not start"


def _diagnostic_texts(messages) -> list[str]:
    return [" ".join([s.message, *(kv.value for kv in s.values)])
            for m in list(messages) for s in m.status]


def test_worker_start_failure_falls_back_in_process(start, probe, domain_id, tmp_path):
    """Worker processes that cannot start: the node says why (log and /diagnostics),
    runs the pipeline in its own process, and still publishes objects."""
    hook = tmp_path / "broken_spawn"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(textwrap.dedent(_BROKEN_SPAWN))
    env = ros_env(domain_id)
    env["PYTHONPATH"] = f"{hook}:{env.get('PYTHONPATH', '')}"
    shm_before = shm_segments()
    p = probe()
    node = start(["perception_node", "--ros-args", "--params-file", "config/default.yaml"], env)
    with camera(domain_id):
        assert_node_runs_and_publishes(node, p, workers=1)
    out = node.output()
    assert FALLBACK in out and "died (exit code" in out, out[-4000:]
    assert "this spawned interpreter refuses to start" in out  # the child's own words
    assert not worker_processes(node)
    wait_for(lambda: any(FALLBACK in t for t in _diagnostic_texts(p.diagnostics)), 30,
             f"/diagnostics to say {FALLBACK!r}",
             lambda: "\n".join(_diagnostic_texts(p.diagnostics)[-3:]))
    took = node.stop(signal.SIGINT, group=False)
    assert_clean_exit(node, took, shm_before)
