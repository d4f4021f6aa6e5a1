"""Launch files, read by the real ``launch`` / ``launch_ros`` (the installed package's
share/seg_perception/launch), and the node lists they share with ``seg-perception bringup``.

Running them: test/robot (``ros2 launch``, launch_pytest). Here, without starting a
process: ``ros2 launch ... --show-args`` documents every argument, invalid choices are
refused, and each Node action names an executable the package installs, with parameter
files that exist.
"""
from __future__ import annotations

import ast
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from robot.conftest import require_real_launch
from seg_perception.ros.bringup import EXECUTABLES, LAUNCH_ARGUMENTS, _command, node_specs

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))
# Arguments a wrapper launch file fixes (launch_description(**forced)): not declared there.
FORCED = {"sim.launch.py": {"sim"}}


@pytest.fixture
def real_launch() -> None:
    require_real_launch()  # skip without it; under CI=true a failure


@pytest.fixture
def gazebo_standins(tmp_path, monkeypatch) -> Path:
    """ros_gz_sim / ros_gz_bridge stand-ins on the ament index (Gazebo is not installable
    here), so gazebo.launch.py can be read; everything else is the real thing."""
    from robot.conftest import gazebo_standins

    prefix = tmp_path / "gz"
    gazebo_standins(prefix)
    monkeypatch.setenv("AMENT_PREFIX_PATH", f"{prefix}:{os.environ.get('AMENT_PREFIX_PATH', '')}")
    return prefix


def _installed_launch_file(name: str) -> Path:
    from ament_index_python.packages import get_package_share_directory

    path = Path(get_package_share_directory("seg_perception")) / "launch" / name
    assert path.is_file(), f"{name} is not installed: rebuild (colcon build / make)"
    return path


def _nodes(name: str, **arguments: str) -> list:
    """The launch_ros Node actions the launch file yields for ``arguments`` (as given on
    the ``ros2 launch`` command line), substitutions performed, nothing executed."""
    from launch import LaunchContext
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    from launch_ros.actions import Node

    context = LaunchContext()
    context.launch_configurations.update(arguments)
    source = PythonLaunchDescriptionSource(str(_installed_launch_file(name)))
    nodes: list = []

    def walk(entities) -> None:
        # visit() is what LaunchService does with each entity: declares arguments, runs
        # OpaqueFunctions, includes files. Nodes are only expanded, not started.
        for entity in entities:
            if isinstance(entity, Node):
                entity._perform_substitutions(context)
                nodes.append((entity, context))
            else:
                walk(entity.visit(context) or [])

    walk([source.get_launch_description(context)])
    return nodes


def _command_line(node, context) -> list[str]:
    """The node's command line as launch would run it, less the name/namespace remaps
    (they need the running action)."""
    from launch.substitutions import LocalSubstitution
    from launch.utilities import perform_substitutions

    return [perform_substitutions(context, part) for part in node.cmd
            if not any(isinstance(s, LocalSubstitution) for s in part)]


def _parameters(cmd: list[str]) -> dict:
    """The node's parameters: every --params-file in order, later files winning."""
    merged: dict = {}
    files = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--params-file"]
    for path in files:
        data = yaml.safe_load(Path(path).read_text())
        for section in data.values():
            merged.update(section["ros__parameters"])
        if Path(path).name.startswith("launch_params_"):  # launch's temporary dict files
            Path(path).unlink()
    return merged


def _installed_executables() -> set[str]:
    listed = subprocess.run(["ros2", "pkg", "executables", "seg_perception"],
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    return {line.split()[1] for line in listed.stdout.splitlines() if line.strip()}


def test_there_are_launch_files():
    assert {p.name for p in LAUNCH_FILES} >= {"perception.launch.py", "sim.launch.py",
                                              "gazebo.launch.py"}


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_show_args_documents_every_argument(path, real_launch, gazebo_standins):
    shown = subprocess.run(["ros2", "launch", "seg_perception", path.name, "--show-args"],
                           capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    forced = FORCED.get(path.name, set())
    for arg in LAUNCH_ARGUMENTS:
        if arg.name in forced:
            assert f"'{arg.name}':" not in shown.stdout, f"{arg.name} is fixed in {path.name}"
            continue
        entry = shown.stdout.split(f"    '{arg.name}':\n", 1)
        assert len(entry) == 2, f"{path.name} does not declare {arg.name}:\n{shown.stdout}"
        text = entry[1].split("\n\n", 1)[0]
        assert arg.description in text and f"(default: '{arg.default}')" in text, text
        if arg.choices:
            assert f"Valid choices are: {list(arg.choices)}" in text, text


def test_invalid_choice_is_refused_by_launch(real_launch):
    from launch import LaunchContext
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    context = LaunchContext()
    context.launch_configurations["device"] = "gpu"
    source = PythonLaunchDescriptionSource(str(_installed_launch_file("perception.launch.py")))
    declared = source.get_launch_description(context).entities
    device = next(e for e in declared if getattr(e, "name", "") == "device")
    with pytest.raises(Exception, match=r"Argument \"device\" provided value \"gpu\" is not "
                                        r"valid. Valid options are: \['', 'auto', 'cpu', 'cuda'\]"):
        device.visit(context)


@pytest.mark.parametrize("name, arguments, expected", [
    ("perception.launch.py", {}, ["perception_node"]),
    ("perception.launch.py", {"sim": "true", "moveit": "true", "namespace": "robot1"},
     ["perception_node", "moveit_bridge_node", "sim_camera_node"]),
    ("sim.launch.py", {}, ["perception_node", "sim_camera_node"]),
    ("gazebo.launch.py", {}, ["parameter_bridge", "perception_node"]),
], ids=["perception", "perception-sim-moveit-ns", "sim", "gazebo"])
def test_nodes_run_installed_executables(name, arguments, expected, real_launch,
                                         gazebo_standins):
    nodes = _nodes(name, **arguments)
    assert [n.node_executable for n, _ in nodes] == expected
    installed = _installed_executables()
    for node, context in nodes:
        cmd = _command_line(node, context)  # resolves the executable: fails when missing
        params = _parameters(cmd)
        if node.node_package != "seg_perception":  # ros_gz_bridge (stand-in here)
            assert Path(params["config_file"]).is_file()
            continue
        assert node.node_executable in installed and node.node_executable in EXECUTABLES
        assert Path(cmd[0]).parts[-2:] == ("seg_perception", node.node_executable), cmd[0]
        assert os.access(cmd[0], os.X_OK), cmd[0]
        assert node.node_name.endswith(f"/{node.node_executable}")
        if node.node_executable == "perception_node":
            assert params["color_topic"] == "/camera/camera/color/image_raw"
            assert params["workers"] == 0  # the default config: worker processes auto
            if arguments.get("namespace"):
                assert node.expanded_node_namespace == f"/{arguments['namespace']}"
        if node.node_executable == "moveit_bridge_node":
            assert params["objects_topic"] == "/robot1/perception_node/objects"
        if node.node_executable == "sim_camera_node":
            assert params["camera_namespace"] == "/camera/camera"


def test_launch_executables_are_console_scripts():
    """``seg-perception bringup`` and pip installs start the same modules ros2 run does."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    scripts = next(dict(e.split("=", 1) for e in ast.literal_eval(n.value))
                   for n in ast.walk(tree) if isinstance(n, ast.Assign)
                   and getattr(n.targets[0], "id", "") == "CONSOLE_SCRIPTS")
    for exe, module in EXECUTABLES.items():
        assert scripts[exe] == f"{module}:main"


def test_node_specs_topics_and_overrides():
    spec = node_specs(camera_namespace="cam", instance_backend="maskrcnn", device="cpu")[0]
    overrides = spec.parameters[-1]
    assert overrides["color_topic"] == "/cam/color/image_raw"
    assert overrides["depth_topic"] == "/cam/aligned_depth_to_color/image_raw"
    assert overrides["instance_backend"] == "maskrcnn" and overrides["device"] == "cpu"
    assert "semantic_backend" not in overrides  # empty = keep the config file's value


def test_bringup_command_line(tmp_path):
    spec = node_specs(namespace="robot1")[0]
    cmd = _command(spec, tmp_path)
    assert cmd[1:3] == ["-m", "seg_perception.ros.nodes.perception_node"]
    assert "__node:=perception_node" in cmd and "__ns:=/robot1" in cmd
    files = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--params-file"]
    assert files[0].endswith("default.yaml")
    written = yaml.safe_load(Path(files[1]).read_text())
    assert written["/**"]["ros__parameters"]["color_topic"] == "/camera/camera/color/image_raw"


def test_gazebo_world_and_bridge_match_the_node_defaults():
    import xml.etree.ElementTree as ET

    world = ET.parse(ROOT / "sim" / "gazebo" / "tabletop.sdf").getroot()
    sensor = world.find(".//sensor[@type='rgbd_camera']")
    assert sensor is not None
    gz_base = "/" + sensor.findtext("topic").strip("/")
    bridge = yaml.safe_load((ROOT / "config" / "gz_bridge.yaml").read_text())
    by_ros = {b["ros_topic_name"]: b for b in bridge}
    overrides = node_specs()[0].parameters[-1]
    assert by_ros[overrides["color_topic"]]["gz_topic_name"] == f"{gz_base}/image"
    assert by_ros[overrides["depth_topic"]]["gz_topic_name"] == f"{gz_base}/depth_image"
    assert by_ros[overrides["camera_info_topic"]]["gz_topic_name"] == f"{gz_base}/camera_info"
    assert all(b["direction"] == "GZ_TO_ROS" for b in bridge)
    assert sensor.findtext("gz_frame_id") == "camera_color_optical_frame"
