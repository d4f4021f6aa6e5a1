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


@pytest.fixture
def fake_launch(monkeypatch):
    """Minimal launch / launch_ros modules with the classes our launch files use."""
    launch = types.ModuleType("launch")
    launch.LaunchDescription = type("LaunchDescription", (_Recorder,), {})
    actions = types.ModuleType("launch.actions")
    actions.DeclareLaunchArgument = type("DeclareLaunchArgument", (_Recorder,), {})
    actions.OpaqueFunction = type("OpaqueFunction", (_Recorder,), {})
    subs = types.ModuleType("launch.substitutions")
    subs.LaunchConfiguration = _LaunchConfiguration
    launch_ros = types.ModuleType("launch_ros")
    ros_actions = types.ModuleType("launch_ros.actions")
    ros_actions.Node = type("Node", (_Recorder,), {})
    for name, module in {"launch": launch, "launch.actions": actions,
                         "launch.substitutions": subs, "launch_ros": launch_ros,
                         "launch_ros.actions": ros_actions}.items():
        monkeypatch.setitem(sys.modules, name, module)
    return types.SimpleNamespace(actions=actions, ros_actions=ros_actions)


def _console_scripts():
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "CONSOLE_SCRIPTS":
            return dict(e.split("=", 1) for e in ast.literal_eval(node.value))


def _run_launch_file(path, fake, **overrides):
    description = runpy.run_path(str(path))["generate_launch_description"]()
    entities = description.args[0]
    declared = {e.args[0]: e.kwargs for e in entities if isinstance(e, fake.actions.DeclareLaunchArgument)}
    context = {a.name: a.default for a in LAUNCH_ARGUMENTS}
    context.update(overrides)
    opaque = [e for e in entities if isinstance(e, fake.actions.OpaqueFunction)]
    nodes = [n for op in opaque for n in op.kwargs["function"](context)]
    return declared, nodes


def test_there_are_launch_files():
    assert {p.name for p in LAUNCH_FILES} >= {"perception.launch.py", "sim.launch.py"}


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_nodes_exist_in_setup(path, fake_launch):
    declared, nodes = _run_launch_file(path, fake_launch)
    assert nodes
    scripts = _console_scripts()
    for node in nodes:
        assert node.kwargs["package"] == "seg_perception"
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
