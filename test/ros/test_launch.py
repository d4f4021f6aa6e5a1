"""Launch files run (against small stand-ins of launch/launch_ros, which pip-only ROS lacks)
and name executables the package really installs."""
import ast
import runpy
import sys
import types
from pathlib import Path

import pytest
import yaml

from seg_perception.ros.bringup import EXECUTABLES, LAUNCH_ARGUMENTS, _command, node_specs

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))


class _Recorder:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class _LaunchConfiguration:
    def __init__(self, name):
        self.name = name

    def perform(self, context):
        return context[self.name]


def _fake_module(name, **attrs):
    """A module whose every other attribute is a class recording its arguments."""
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    module.__getattr__ = lambda attr: type(attr, (_Recorder,), {})
    return module


@pytest.fixture
def fake_launch(monkeypatch, tmp_path):
    """Stand-ins for launch / launch_ros / ament_index_python (absent with pip-only ROS)."""
    modules = {
        "launch": _fake_module("launch", LaunchDescription=type("LaunchDescription", (_Recorder,), {})),
        "launch.actions": _fake_module("launch.actions",
                                       DeclareLaunchArgument=type("DeclareLaunchArgument", (_Recorder,), {}),
                                       OpaqueFunction=type("OpaqueFunction", (_Recorder,), {})),
        "launch.substitutions": _fake_module("launch.substitutions",
                                             LaunchConfiguration=_LaunchConfiguration),
        "launch.launch_description_sources": _fake_module("launch.launch_description_sources"),
        "launch_ros": _fake_module("launch_ros"),
        "launch_ros.actions": _fake_module("launch_ros.actions",
                                           Node=type("Node", (_Recorder,), {})),
        "ament_index_python": _fake_module("ament_index_python"),
        "ament_index_python.packages": _fake_module(
            "ament_index_python.packages",
            get_package_share_directory=lambda pkg: str(ROOT if pkg == "seg_perception" else tmp_path / pkg)),
    }
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    return types.SimpleNamespace(actions=modules["launch.actions"],
                                 ros_actions=modules["launch_ros.actions"], launch=modules["launch"])


def _console_scripts():
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "CONSOLE_SCRIPTS":
            return dict(e.split("=", 1) for e in ast.literal_eval(node.value))


def _entities(description, fake):
    """Flatten nested LaunchDescriptions (wrapper launch files include ours)."""
    for entity in description.args[0]:
        if isinstance(entity, fake.launch.LaunchDescription):
            yield from _entities(entity, fake)
        else:
            yield entity


def _run_launch_file(path, fake, **overrides):
    description = runpy.run_path(str(path))["generate_launch_description"]()
    entities = list(_entities(description, fake))
    declared = {e.args[0]: e.kwargs for e in entities if isinstance(e, fake.actions.DeclareLaunchArgument)}
    context = {a.name: a.default for a in LAUNCH_ARGUMENTS}
    context.update(overrides)
    opaque = [e for e in entities if isinstance(e, fake.actions.OpaqueFunction)]
    nodes = [e for e in entities if isinstance(e, fake.ros_actions.Node)]
    nodes += [n for op in opaque for n in op.kwargs["function"](context)]
    return declared, nodes


def test_there_are_launch_files():
    assert {p.name for p in LAUNCH_FILES} >= {"perception.launch.py", "sim.launch.py"}


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_nodes_exist_in_setup(path, fake_launch):
    declared, nodes = _run_launch_file(path, fake_launch)
    assert nodes
    scripts = _console_scripts()
    for node in nodes:
        if node.kwargs["package"] != "seg_perception":
            continue  # e.g. ros_gz_bridge in gazebo.launch.py
        exe = node.kwargs["executable"]
        assert exe in scripts, f"{path.name} starts {exe}, which setup.py does not install"
        assert scripts[exe] == f"{EXECUTABLES[exe]}:main"
        for params in node.kwargs["parameters"]:
            assert isinstance(params, dict) or Path(params).is_file()
    for name, kwargs in declared.items():
        assert kwargs["description"], f"launch argument {name} has no description"


def test_sim_launch_adds_the_sim_camera(fake_launch):
    _, nodes = _run_launch_file(ROOT / "launch" / "sim.launch.py", fake_launch)
    assert [n.kwargs["executable"] for n in nodes] == ["perception_node", "sim_camera_node"]


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


def test_gazebo_world_and_bridge_match_the_node_defaults(fake_launch):
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
    _, nodes = _run_launch_file(ROOT / "launch" / "gazebo.launch.py", fake_launch)
    executables = [n.kwargs["executable"] for n in nodes]
    assert executables == ["parameter_bridge", "perception_node"]
