"""The installed ``perception.launch.py sim:=true`` under launch_pytest, the ROS 2 way of
testing a launch file: the real LaunchService runs it in the test process, the test
checks the running nodes (lifecycle state, worker processes, ``~/objects``; the outputs
with launch_testing_ros's ``WaitForTopics``), then launch's own shutdown (SIGINT to each
node, as ``ros2 launch`` on Ctrl-C) must end everything cleanly.
"""
from __future__ import annotations

import os
import time

import psutil
import pytest

from .conftest import (assert_clean_exit, assert_node_runs_and_publishes, real_launch_problem,
                       shm_segments, worker_processes)


class LaunchedProcesses:
    """What the launch started, seen through launch's own process events; ``tree()`` and
    ``output()`` as conftest's ``Started`` has them, so its assertions apply."""

    def __init__(self) -> None:
        self.pids: dict[str, int] = {}
        self.exits: dict[str, tuple[int, float]] = {}  # name -> (return code, when)
        self._chunks: list[str] = []

    def actions(self) -> list:
        from launch.actions import RegisterEventHandler
        from launch.event_handlers import OnProcessExit, OnProcessIO, OnProcessStart

        return [
            RegisterEventHandler(OnProcessStart(on_start=self._started)),
            RegisterEventHandler(OnProcessIO(on_stdout=self._io, on_stderr=self._io)),
            RegisterEventHandler(OnProcessExit(on_exit=self._exited)),
        ]

    def _started(self, event, context) -> None:
        # launch names processes '<executable>-<n>'
        self.pids[event.action.name.rsplit("-", 1)[0]] = event.pid

    def _io(self, event) -> None:
        self._chunks.append(event.text.decode(errors="replace"))

    def _exited(self, event, context) -> None:
        self.exits[event.action.name.rsplit("-", 1)[0]] = (event.returncode, time.monotonic())

    def output(self) -> str:
        return "".join(self._chunks)

    def tree(self) -> list[psutil.Process]:
        found = []
        for pid in self.pids.values():
            try:
                root = psutil.Process(pid)
                found += [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                pass
        return found


@pytest.fixture
def launched() -> LaunchedProcesses:
    return LaunchedProcesses()


def perception_sim_launch(domain_id, launched, monkeypatch):
    """The launch_pytest fixture: the installed launch file on the test's own domain."""
    import launch_pytest
    from ament_index_python.packages import get_package_share_directory
    from launch import LaunchDescription
    from launch.actions import IncludeLaunchDescription, SetEnvironmentVariable
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    # SetEnvironmentVariable writes this process's os.environ (launch's context
    # environment): monkeypatch puts the values back after the test.
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain_id))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    path = os.path.join(get_package_share_directory("seg_perception"), "launch",
                        "perception.launch.py")
    return LaunchDescription([
        SetEnvironmentVariable("ROS_DOMAIN_ID", str(domain_id)),
        SetEnvironmentVariable("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST"),
        SetEnvironmentVariable("PYTHONUNBUFFERED", "1"),
        *launched.actions(),
        IncludeLaunchDescription(PythonLaunchDescriptionSource(path),
                                 launch_arguments={"sim": "true", "sim_rate": "4.0"}.items()),
        launch_pytest.actions.ReadyToTest(),
    ])


def _runs_then_shuts_down_cleanly(launched, probe, domain_id):
    """The launch test: checks while running; after the yield, launch's shutdown."""
    from launch_testing_ros import WaitForTopics
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from seg_perception.msg import ObjectInstanceArray

    shm_before = shm_segments()
    assert_node_runs_and_publishes(launched, probe())
    assert set(launched.pids) >= {"perception_node", "sim_camera_node"}, launched.pids
    workers = worker_processes(launched)

    topics = [("/perception_node/objects", ObjectInstanceArray),
              ("/perception_node/detections", Detection2DArray),
              ("/perception_node/semantic_labels", Image)]
    with WaitForTopics(topics, timeout=60.0) as seen:  # raises naming the silent topics
        labels = seen.received_messages("/perception_node/semantic_labels")[-1]
        assert (labels.width, labels.height) == (640, 480) and labels.encoding == "mono8"
        assert seen.received_messages("/perception_node/detections")[-1].detections

    stop_at = time.monotonic()
    yield  # launch_pytest shuts the launch down here (and checks launch's return code 0)

    assert set(launched.exits) == set(launched.pids), launched.exits
    codes = {name: code for name, (code, _) in launched.exits.items()}
    assert all(code == 0 for code in codes.values()), (codes, launched.output()[-4000:])
    took = max(when for _, when in launched.exits.values()) - stop_at
    assert not [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE], \
        "worker processes outlived their node"
    assert_clean_exit(launched, took, shm_before)


# Registered only where launch_pytest imports. Else a stand-in test that conftest's
# autouse fixture skips saying what is missing (fails under CI=true). No module-level
# skip: launch_testing's pytest plugin imports test modules while collecting their
# folder, and a skip raised there drops every other module of the folder too.
_problem = real_launch_problem()
if not _problem:
    import launch_pytest

    # launch_pytest finds the fixture by the function's own name
    perception_sim_launch = launch_pytest.fixture(perception_sim_launch)
    test_perception_launch_sim_runs_and_shuts_down_cleanly = pytest.mark.launch(
        fixture=perception_sim_launch)(_runs_then_shuts_down_cleanly)
else:
    def test_perception_launch_sim_runs_and_shuts_down_cleanly():
        pytest.fail(f"not run: {_problem}")  # the autouse fixture skips or fails first
