"""`ros2 launch` of every file in launch/ and the ros2 CLI against the running nodes.

Started exactly as on a robot (the installed package, the default config: worker
processes auto), checked from outside with the real ``ros2`` commands.
"""
from __future__ import annotations

import re
import signal

from .conftest import (assert_clean_exit, assert_node_runs_and_publishes, gazebo_standins,
                       ros2, ros_env, shm_segments, wait_for, worker_processes)


def _param(domain_id, *args):
    return ros2(["param", *args, "--no-daemon"], domain_id)


def _check_parameters(domain_id):
    got = _param(domain_id, "get", "/perception_node", "score_threshold")
    assert got.returncode == 0 and "0.5" in got.stdout, got.stdout + got.stderr
    assert "Set parameter successful" in _param(
        domain_id, "set", "/perception_node", "score_threshold", "0.6").stdout
    assert "0.6" in _param(domain_id, "get", "/perception_node", "score_threshold").stdout
    refused = _param(domain_id, "set", "/perception_node", "score_threshold", "7.0")
    assert ("Setting parameter failed: Parameter score_threshold out of range Min: 0.0, "
            "Max: 1.0" in refused.stderr), refused.stdout + refused.stderr
    # A value in range that the node's own check refuses: its reason reaches the CLI.
    refused = _param(domain_id, "set", "/perception_node", "min_depth", "3.5")
    assert "Setting parameter failed: " in refused.stderr and "max_depth" in refused.stderr, \
        refused.stdout + refused.stderr
    described = _param(domain_id, "describe", "/perception_node", "score_threshold").stdout
    assert "Description: Drop instances scoring below this" in described, described
    assert "Min value" in described and "Max value" in described


def _check_introspection(domain_id):
    # Without the daemon each call discovers the graph anew: ask until the node's
    # endpoints are all known (as a user would run it again).
    def node_info() -> str:
        out = ros2(["node", "info", "/perception_node", "--no-daemon"], domain_id).stdout
        return out if "/perception_node/get_state" in out else ""

    info = wait_for(node_info, 30, "ros2 node info to list the node's endpoints")
    assert "/perception_node/objects: seg_perception/msg/ObjectInstanceArray" in info, info
    assert "/camera/camera/color/image_raw: sensor_msgs/msg/Image" in info
    assert "/perception_node/get_state: lifecycle_msgs/srv/GetState" in info
    want = {"/perception_node", "/sim_camera_node", "/moveit_bridge_node"}
    wait_for(lambda: want <= set(ros2(["node", "list", "--no-daemon"], domain_id).stdout.split()),
             30, f"ros2 node list to show {sorted(want)}")


def _topic_rate(domain_id, topic, seconds=8.0):
    """``ros2 topic hz`` for ``seconds``; the last average rate it printed."""
    import subprocess

    proc = subprocess.Popen(["ros2", "topic", "hz", topic], env=ros_env(domain_id),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=10)
    rates = [float(r) for r in re.findall(r"average rate: ([0-9.]+)", out)]
    assert rates, f"ros2 topic hz printed no rate:\n{out[-2000:]}"
    return rates[-1]


def _lifecycle(domain_id, transition):
    out = ros2(["lifecycle", "set", "/perception_node", transition, "--no-daemon"], domain_id)
    assert "Transitioning successful" in out.stdout, out.stdout + out.stderr


def _state(domain_id):
    return ros2(["lifecycle", "get", "/perception_node", "--no-daemon"], domain_id).stdout


def test_ros2_launch_perception_with_sim_and_moveit_and_the_ros2_cli(start, probe, domain_id):
    shm_before = shm_segments()
    launched = start(["ros2", "launch", "seg_perception", "perception.launch.py", "sim:=true",
                      "moveit:=true", "sim_rate:=4.0"], ros_env(domain_id))
    p = probe()
    assert_node_runs_and_publishes(launched, p)

    _check_parameters(domain_id)
    _check_introspection(domain_id)
    assert _topic_rate(domain_id, "/perception_node/objects") > 0.3

    # The lifecycle from outside: deactivate / activate / cleanup / configure / activate.
    _lifecycle(domain_id, "deactivate")
    assert "inactive" in _state(domain_id)
    _lifecycle(domain_id, "activate")
    _lifecycle(domain_id, "deactivate")
    _lifecycle(domain_id, "cleanup")
    assert "unconfigured" in _state(domain_id)
    wait_for(lambda: not worker_processes(launched), 10, "the workers to stop on cleanup")
    _lifecycle(domain_id, "configure")
    _lifecycle(domain_id, "activate")
    assert "active" in _state(domain_id)
    p.objects.clear()
    assert_node_runs_and_publishes(launched, p)  # workers back, objects again

    # Ctrl-C in the terminal: SIGINT to the whole process group.
    took = launched.stop(signal.SIGINT, group=True)
    assert_clean_exit(launched, took, shm_before)


def test_ros2_launch_sim_launch_stopped_by_signal_to_launch_only(start, probe, domain_id):
    shm_before = shm_segments()
    launched = start(["ros2", "launch", "seg_perception", "sim.launch.py", "sim_rate:=4.0"],
                     ros_env(domain_id))
    assert_node_runs_and_publishes(launched, probe())
    # `kill -INT <launch>`: launch alone gets it and sends SIGINT to each node (not to
    # the workers): the node must stop its workers itself. (SIGTERM to ros2 launch
    # orphans its processes by launch's design; SIGTERM to nodes: test_ros2_run.py.)
    took = launched.stop(signal.SIGINT, group=False)
    assert_clean_exit(launched, took, shm_before)


def test_ros2_launch_gazebo_launch_with_standin_gazebo(start, probe, domain_id, tmp_path):
    from ros.rgbd_publisher import RGBDPublisher

    import rclpy

    from seg_perception.sim.synthetic import preset_objects, render_scene

    gazebo_standins(tmp_path / "gz")
    env = ros_env(domain_id)
    env["AMENT_PREFIX_PATH"] = f"{tmp_path / 'gz'}:{env.get('AMENT_PREFIX_PATH', '')}"
    shm_before = shm_segments()
    launched = start(["ros2", "launch", "seg_perception", "gazebo.launch.py"], env)
    # The camera Gazebo would publish through the bridge (config/gz_bridge.yaml topics).
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain_id)
    camera = RGBDPublisher(render_scene(preset_objects("separated"), 320, 240), context=context,
                           topics={"color": "/camera/camera/color/image_raw",
                                   "depth": "/camera/camera/aligned_depth_to_color/image_raw",
                                   "info": "/camera/camera/color/camera_info"})
    import threading
    stop = threading.Event()

    def publish():
        while not stop.wait(0.2):
            camera.publish_frame()

    feeder = threading.Thread(target=publish, daemon=True)
    feeder.start()
    try:
        assert_node_runs_and_publishes(launched, probe())
        out = launched.output()
        assert "gz sim stand-in started with gz_args: -r -s" in out and "tabletop.sdf" in out
        assert "bridge stand-in:" in out and "gz_bridge.yaml" in out
    finally:
        stop.set()
        feeder.join(2)
        camera.destroy_node()
        context.try_shutdown()
    took = launched.stop(signal.SIGINT, group=True)
    assert_clean_exit(launched, took, shm_before)
