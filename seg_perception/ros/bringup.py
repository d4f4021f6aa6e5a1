"""The node list of every launch file, and a launcher that starts it without launch_ros.

``launch/*.launch.py`` turn :func:`node_specs` into ``launch_ros`` ``Node``
actions on a normal ROS 2 install; ``seg-perception bringup`` starts the very
same nodes as processes where launch_ros is not installed (pip-only ROS 2).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import yaml

__all__ = ["EXECUTABLES", "LAUNCH_ARGUMENTS", "LaunchArgument", "NodeSpec", "default_config_file",
           "launch_description", "node_specs", "run_nodes", "start_nodes", "stop_nodes"]

PACKAGE = "seg_perception"

# executable name -> module with main(); setup.py and CMakeLists.txt install
# the same names (test/ros/test_launch.py checks all three agree).
EXECUTABLES: dict[str, str] = {
    "perception_node": "seg_perception.ros.nodes.perception_node",
    "sim_camera_node": "seg_perception.ros.nodes.sim_camera_node",
    "moveit_bridge_node": "seg_perception.ros.nodes.moveit_bridge_node",
}


@dataclass(frozen=True)
class LaunchArgument:
    name: str
    default: str
    description: str
    choices: tuple[str, ...] | None = None


LAUNCH_ARGUMENTS: tuple[LaunchArgument, ...] = (
    LaunchArgument("camera_namespace", "/camera/camera",
                   "Namespace of the RGB-D driver's topics: <ns>/color/image_raw, "
                   "<ns>/aligned_depth_to_color/image_raw, <ns>/color/camera_info"),
    LaunchArgument("config_file", "", "Parameter file of the perception node "
                   "(empty: the package's config/default.yaml)"),
    LaunchArgument("instance_backend", "", "Override the instance segmenter "
                   "(empty: as in config_file), e.g. geometric, maskrcnn, yolo_seg"),
    LaunchArgument("instance_weights", "", "Override the instance weights file"),
    LaunchArgument("semantic_backend", "", "Override the semantic segmenter, or 'none'"),
    LaunchArgument("device", "", "Override the compute device (empty: as in config_file)",
                   choices=("", "auto", "cpu", "cuda")),
    LaunchArgument("namespace", "", "Namespace of the perception node"),
    LaunchArgument("sim", "false", "Also start the simulated RGB-D camera",
                   choices=("true", "false")),
    LaunchArgument("moveit", "false", "Also start moveit_bridge_node (collision objects on "
                   "/collision_object)", choices=("true", "false")),
    LaunchArgument("planning_frame", "", "Frame of the collision objects (empty: the "
                   "camera frame); needs tf2 or a static transform in the bridge's parameters"),
    LaunchArgument("sim_rate", "5.0", "Frame rate of the simulated camera, Hz"),
    LaunchArgument("sim_seed", "0", "Random seed of the simulated scene"),
)


@dataclass(frozen=True)
class NodeSpec:
    """One node to start: what a launch_ros ``Node`` action takes."""

    executable: str
    name: str
    namespace: str = ""
    parameters: tuple[Any, ...] = ()  # parameter file paths and dicts, applied in order
    remappings: tuple[tuple[str, str], ...] = ()
    package: str = PACKAGE
    extra: dict[str, Any] = field(default_factory=dict)


def default_config_file() -> str:
    """The installed share/seg_perception/config/default.yaml, else the source tree's."""
    try:
        from ament_index_python.packages import get_package_share_directory
        path = Path(get_package_share_directory(PACKAGE)) / "config" / "default.yaml"
        if path.is_file():
            return str(path)
    except Exception:  # not installed through colcon: use the source tree
        pass
    return str(Path(__file__).resolve().parents[2] / "config" / "default.yaml")


def node_specs(camera_namespace: str = "/camera/camera", config_file: str = "",
               instance_backend: str = "", instance_weights: str = "",
               semantic_backend: str = "", device: str = "", namespace: str = "",
               sim: str | bool = False, sim_rate: str | float = 5.0,
               sim_seed: str | int = 0, moveit: str | bool = False,
               planning_frame: str = "") -> list[NodeSpec]:
    """The nodes of ``perception.launch.py`` (and, with ``sim``, of ``sim.launch.py``).

    All values may be strings, as launch arguments are.
    """
    ns = "/" + camera_namespace.strip("/") if camera_namespace.strip("/") else ""
    overrides: dict[str, Any] = {
        "color_topic": f"{ns}/color/image_raw",
        "depth_topic": f"{ns}/aligned_depth_to_color/image_raw",
        "camera_info_topic": f"{ns}/color/camera_info",
    }
    for key, value in (("instance_backend", instance_backend),
                       ("instance_weights", instance_weights),
                       ("semantic_backend", semantic_backend), ("device", device)):
        if value:
            overrides[key] = value
    specs = [NodeSpec("perception_node", "perception_node", namespace,
                      parameters=(config_file or default_config_file(), overrides))]
    if str(moveit).lower() in ("true", "1"):
        node_ns = "/" + namespace.strip("/") if namespace.strip("/") else ""
        bridge: dict[str, Any] = {"objects_topic": f"{node_ns}/perception_node/objects"}
        if planning_frame:
            bridge.update(planning_frame=planning_frame, use_tf=True)
        specs.append(NodeSpec("moveit_bridge_node", "moveit_bridge_node", namespace,
                              parameters=(bridge,)))
    if str(sim).lower() in ("true", "1"):
        specs.append(NodeSpec("sim_camera_node", "sim_camera_node", "", parameters=(
            {"camera_namespace": ns, "rate": float(sim_rate), "seed": int(sim_seed)},)))
    return specs


def _command(spec: NodeSpec, param_dir: Path) -> list[str]:
    cmd = [sys.executable, "-m", EXECUTABLES[spec.executable], "--ros-args",
           "-r", f"__node:={spec.name}"]
    if spec.namespace:
        cmd += ["-r", f"__ns:=/{spec.namespace.strip('/')}"]
    for i, params in enumerate(spec.parameters):
        if isinstance(params, dict):
            path = param_dir / f"{spec.name}_{i}.yaml"
            path.write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}))
            params = str(path)
        cmd += ["--params-file", str(params)]
    for src, dst in spec.remappings:
        cmd += ["-r", f"{src}:={dst}"]
    return cmd


def start_nodes(specs: Sequence[NodeSpec], env: dict[str, str] | None = None,
                **popen: Any) -> list[subprocess.Popen]:
    """Start every node as a process (``python -m <module> --ros-args ...``)."""
    param_dir = Path(tempfile.mkdtemp(prefix="seg_perception_bringup_"))
    return [subprocess.Popen(_command(s, param_dir), env={**os.environ, **(env or {})}, **popen)
            for s in specs]


def stop_nodes(procs: Sequence[subprocess.Popen], timeout_s: float = 10.0) -> None:
    """SIGINT (clean rclpy shutdown) each process, kill those that do not exit in time."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run_nodes(specs: Sequence[NodeSpec], duration_s: float | None = None,
              env: dict[str, str] | None = None) -> int:
    """Start the nodes, wait (Ctrl-C or ``duration_s``), stop them all.

    Returns the first non-zero exit code of a node that died on its own, else 0.
    """
    procs = start_nodes(specs, env)
    start, code = time.monotonic(), 0
    try:
        while duration_s is None or time.monotonic() - start < duration_s:
            dead = [p for p in procs if p.poll() is not None]
            if dead:
                code = next((p.returncode for p in dead if p.returncode), 0)
                break
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        stop_nodes(procs)
    return code


def launch_description(**forced: str) -> Any:
    """A ``launch.LaunchDescription`` declaring :data:`LAUNCH_ARGUMENTS` and starting
    :func:`node_specs` (``forced`` fixes some argument values, for wrapper launch files).

    Imports ``launch``/``launch_ros`` here: they exist on a normal ROS 2 install only.
    """
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    def nodes(context: Any, *args: Any, **kwargs: Any) -> list[Any]:
        values = {a.name: LaunchConfiguration(a.name).perform(context)
                  for a in LAUNCH_ARGUMENTS if a.name not in forced}  # forced: not declared
        values.update(forced)
        return [Node(package=s.package, executable=s.executable, name=s.name,
                     namespace=s.namespace or None, parameters=list(s.parameters),
                     remappings=list(s.remappings), output="screen")
                for s in node_specs(**values)]

    declared = []
    for arg in LAUNCH_ARGUMENTS:
        if arg.name in forced:
            continue
        kwargs: dict[str, Any] = {"default_value": arg.default, "description": arg.description}
        if arg.choices:
            kwargs["choices"] = list(arg.choices)
        declared.append(DeclareLaunchArgument(arg.name, **kwargs))
    return LaunchDescription([*declared, OpaqueFunction(function=nodes)])
