"""What a robot runs: the real ``ros2 launch`` / ``ros2 run`` / ``ros2`` CLI, launch_pytest.

These tests need the real ROS 2 launch system and CLI (apt ROS 2, or
``../shared/ros2_extras`` that ``make test`` installs into the venv). Where it is
missing they skip with one line saying so; under ``CI=true`` that is a failure.

Every process started here runs on a ROS domain of its own, with discovery on
this host, and is stopped the way ``ros2 launch`` / a terminal stops it.
"""
from __future__ import annotations

import importlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
_REAL_TOOLS = ("launch", "launch_ros", "launch_pytest", "launch_testing", "ros2cli")


def real_launch_problem() -> str:
    """'' when the real launch system and ros2 CLI are importable, else what is missing."""
    missing = []
    for name in _REAL_TOOLS:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if shutil.which("ros2") is None:
        missing.append("the ros2 command")
    if not missing:
        return ""
    return (f"the real ROS 2 launch system is not installed ({', '.join(missing)} missing): "
            "source an apt ROS 2, or run `make test` with ../shared/ros2_extras beside the "
            "checkout")


def require_real_launch() -> None:
    """Skip (fail under CI=true) when :func:`real_launch_problem` names something."""
    problem = real_launch_problem()
    if problem:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI: {problem}", pytrace=False)
        pytest.skip(problem)


@pytest.fixture(autouse=True)
def _real_launch_required() -> None:
    require_real_launch()


@pytest.fixture
def domain_id() -> int:
    """A ROS domain id of its own for the test (20..99: clear of test/ros's 100..199)."""
    return 20 + (os.getpid() * 31 + uuid.uuid4().int) % 80


def ros_env(domain_id: int, **extra: str) -> dict[str, str]:
    env = {**os.environ, "ROS_DOMAIN_ID": str(domain_id),
           "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "PYTHONUNBUFFERED": "1",
           "RCUTILS_COLORIZED_OUTPUT": "0"}
    env.update(extra)
    return env


def shm_segments() -> set[str]:
    return set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()


class Started:
    """A command started in a process group of its own (as a terminal runs it)."""

    def __init__(self, cmd: list[str], env: dict[str, str], log: Path) -> None:
        self.cmd, self.log_path = cmd, log
        self._log = open(log, "wb")
        self.proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def tree(self) -> list[psutil.Process]:
        """This process and all its descendants still alive."""
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self, sig: int = signal.SIGINT, *, group: bool = True,
             timeout_s: float = 5.0) -> float:
        """Sends ``sig`` to the process group (Ctrl-C in a terminal) or the process alone
        (what ``ros2 launch`` sends its nodes); returns the seconds until every process
        of the tree had exited. Kills what is left after ``timeout_s`` (and the test fails
        on the returned time)."""
        procs = self.tree()
        start = time.monotonic()
        try:
            if group:
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.send_signal(sig)
        except ProcessLookupError:
            pass
        _, alive = psutil.wait_procs(procs, timeout=timeout_s)
        took = time.monotonic() - start
        for p in alive:
            p.kill()
        psutil.wait_procs(alive, timeout=5)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self._log.close()
        return took if not alive else float("inf")


@pytest.fixture
def start(tmp_path: Path) -> Any:
    """``start(cmd, env) -> Started``; everything started is stopped after the test."""
    started: list[Started] = []

    def run(cmd: list[str], env: dict[str, str]) -> Started:
        started.append(Started(cmd, env, tmp_path / f"proc{len(started)}.log"))
        return started[-1]

    yield run
    for s in started:
        if s.proc.poll() is None or s.tree():
            s.stop(signal.SIGKILL)


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str,
             on_fail: Callable[[], str] = lambda: "") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}\n{on_fail()}")


def ros2(args: list[str], domain_id: int, timeout_s: float = 30.0) -> subprocess.CompletedProcess:
    """One ``ros2`` CLI call, as a user types it (no daemon: nothing is left running).

    Without the daemon the command discovers the graph itself in ``--spin-time``;
    on a busy machine that can miss the node: asked again then, as a user would.
    """
    if "--no-daemon" in args:
        args = [*args, "--spin-time", "2"]
    for _ in range(5):
        done = subprocess.run(["ros2", *args], env=ros_env(domain_id), capture_output=True,
                              text=True, timeout=timeout_s, cwd=ROOT)
        if "Node not found" not in done.stderr + done.stdout:
            break
        time.sleep(1.0)
    return done


def _mapped_shm() -> set[str]:
    """Shared-memory segments (``psm_*``) that a live process maps."""
    names: set[str] = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/maps") as maps:
                names.update(line.split("/dev/shm/")[1].split()[0] for line in maps
                             if "/dev/shm/psm_" in line)
        except OSError:  # gone meanwhile, or not ours to read
            pass
    return names


CLEAN_EXIT_PROBLEMS = ("Traceback", "leaked shared_memory", "Failed to publish",
                       "KeyboardInterrupt", "context is invalid", "Error in atexit")


def assert_clean_exit(started: Started, took_s: float, shm_before: set[str]) -> None:
    """Every process ended within 5 s, printed no traceback or leak warning, and left no
    shared-memory segment behind."""
    out = started.output()
    assert took_s <= 5.0, f"processes still alive 5 s after the signal:\n{out[-3000:]}"
    bad = [p for p in CLEAN_EXIT_PROBLEMS if p in out]
    assert not bad, f"{bad} in the output:\n{out[-4000:]}"
    # Our processes have ended: a new segment some live process still maps is another
    # test run's on this machine, not a leak of ours.
    left = {n for n in shm_segments() - shm_before if n.startswith("psm_")} - _mapped_shm()
    assert not left, f"shared memory left in /dev/shm: {sorted(left)}"


def worker_processes(started: Started) -> list[psutil.Process]:
    """The pipeline's worker processes (multiprocessing spawn children) in the tree."""
    found = []
    for p in started.tree():
        try:
            if "spawn_main" in " ".join(p.cmdline()):
                found.append(p)
        except psutil.Error:
            pass
    return found


class Probe:
    """An rclpy node in the test process on the tested domain: receives ``~/objects``,
    ``/diagnostics`` and asks lifecycle states, spun on a thread of its own."""

    def __init__(self, domain_id: int, node_name: str = "/perception_node") -> None:
        import threading

        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from lifecycle_msgs.srv import GetState
        from rclpy.executors import SingleThreadedExecutor

        from seg_perception.msg import ObjectInstanceArray
        from seg_perception.ros.qos import RELIABLE_OUTPUT_QOS

        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node(f"probe_{uuid.uuid4().hex[:6]}", context=self.context)
        self.objects: list[Any] = []
        self.diagnostics: list[Any] = []
        self.node.create_subscription(ObjectInstanceArray, f"{node_name}/objects",
                                      self.objects.append, RELIABLE_OUTPUT_QOS)
        self.node.create_subscription(DiagnosticArray, "/diagnostics",
                                      self.diagnostics.append, 10)
        self._get_state = self.node.create_client(GetState, f"{node_name}/get_state")
        self._executor = SingleThreadedExecutor(context=self.context)
        self._executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set():
            self._executor.spin_once(timeout_sec=0.05)

    def state(self) -> str:
        """The node's lifecycle state label ('' while it does not answer)."""
        from lifecycle_msgs.srv import GetState

        if not self._get_state.service_is_ready():
            return ""
        future = self._get_state.call_async(GetState.Request())
        deadline = time.monotonic() + 2.0
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.02)
        return future.result().current_state.label if future.done() else ""

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()


@pytest.fixture
def probe(domain_id: int) -> Any:
    made: list[Probe] = []

    def make(node_name: str = "/perception_node") -> Probe:
        made.append(Probe(domain_id, node_name))
        return made[-1]

    yield make
    for p in made:
        p.close()


def assert_node_runs_and_publishes(started: Started, probe: Probe, *, workers: int | None = None,
                                   timeout_s: float = 90.0) -> None:
    """The perception node reaches *active*, runs its worker processes (``workers``:
    default the auto count here) and ``~/objects`` arrives with objects in it."""
    from seg_perception.parallel import auto_workers

    want = auto_workers("cpu") if workers is None else workers
    log = lambda: started.output()[-4000:]  # noqa: E731
    wait_for(lambda: probe.state() == "active", timeout_s, "the perception node to be active",
             log)
    if want > 1:
        wait_for(lambda: len(worker_processes(started)) == want, 30,
                 f"{want} worker processes", log)
    wait_for(lambda: any(len(m.objects) > 0 for m in probe.objects), timeout_s,
             "~/objects with objects", log)
    assert "configure failed" not in started.output()


_GZ_SIM_STANDIN = '''
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, LogInfo
from launch.substitutions import LaunchConfiguration


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("gz_args", default_value=""),
        LogInfo(msg=["gz sim stand-in started with gz_args: ", LaunchConfiguration("gz_args")]),
    ])
'''

_BRIDGE_STANDIN = '''#!{python}
import os, sys
import rclpy
from rclpy.executors import ExternalShutdownException
rclpy.init(args=sys.argv)
node = rclpy.create_node("gz_bridge")
path = node.declare_parameter("config_file", "").value
assert os.path.isfile(path), f"bridge config {{path!r}} does not exist"
node.get_logger().info(f"bridge stand-in: {{path}}")
try:
    rclpy.spin(node)
except (KeyboardInterrupt, ExternalShutdownException):
    pass
'''


def gazebo_standins(prefix: Path) -> None:
    """ros_gz_sim / ros_gz_bridge packages that start nothing: Gazebo is not installable
    here. Only they are stand-ins; the launch file and our nodes run for real."""
    index = prefix / "share" / "ament_index" / "resource_index" / "packages"
    index.mkdir(parents=True)
    for pkg in ("ros_gz_sim", "ros_gz_bridge"):
        (index / pkg).write_text("")
    (prefix / "share" / "ros_gz_sim" / "launch").mkdir(parents=True)
    (prefix / "share" / "ros_gz_sim" / "launch" / "gz_sim.launch.py").write_text(
        textwrap.dedent(_GZ_SIM_STANDIN))
    bridge = prefix / "lib" / "ros_gz_bridge" / "parameter_bridge"
    bridge.parent.mkdir(parents=True)
    bridge.write_text(_BRIDGE_STANDIN.format(python=sys.executable))
    bridge.chmod(0o755)
