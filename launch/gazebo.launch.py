"""Gazebo (gz sim) tabletop world + ros_gz_bridge + the perception node.

    ros2 launch seg_perception gazebo.launch.py

Needs ros_gz_sim and ros_gz_bridge (e.g. apt install ros-jazzy-ros-gz). The
bridge (config/gz_bridge.yaml) publishes the camera on the RealSense topic
names, so the perception node runs with its defaults. Not run in this
project's CI: no Gazebo there.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch_ros.actions import Node

from seg_perception.ros.bringup import launch_description


def generate_launch_description():
    share = get_package_share_directory("seg_perception")
    gz_launch = os.path.join(get_package_share_directory("ros_gz_sim"), "launch",
                             "gz_sim.launch.py")
    world = os.path.join(share, "sim", "gazebo", "tabletop.sdf")
    return LaunchDescription([
        IncludeLaunchDescription(PythonLaunchDescriptionSource(gz_launch),
                                 launch_arguments={"gz_args": f"-r -s {world}"}.items()),
        Node(package="ros_gz_bridge", executable="parameter_bridge", name="gz_bridge",
             parameters=[{"config_file": os.path.join(share, "config", "gz_bridge.yaml"),
                          "use_sim_time": True}], output="screen"),
        launch_description(),
    ])
