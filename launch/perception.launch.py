"""Start the seg_perception perception node on a camera's topics.

    ros2 launch seg_perception perception.launch.py camera_namespace:=/camera/camera
    ros2 launch seg_perception perception.launch.py instance_backend:=maskrcnn \
        instance_weights:=/path/model.safetensors device:=cuda

Arguments and nodes come from seg_perception.ros.bringup, which
`seg-perception bringup` uses too, so both start the same nodes.
"""
from seg_perception.ros.bringup import launch_description


def generate_launch_description():
    return launch_description()
