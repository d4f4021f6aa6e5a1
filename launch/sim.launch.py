"""The simulated RGB-D camera (pybullet tabletop) and the perception node.

    ros2 launch seg_perception sim.launch.py sim_rate:=5.0 sim_seed:=3

Same arguments as perception.launch.py, with `sim` fixed to true.
"""
from seg_perception.ros.bringup import launch_description


def generate_launch_description():
    return launch_description(sim="true")
