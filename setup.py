"""pip install of seg_perception (the Python package and its command-line tools).

In a ROS 2 workspace colcon builds the package through CMakeLists.txt instead,
which also generates the messages and installs the same executables under
lib/seg_perception for `ros2 run`.
"""
from setuptools import find_packages, setup

# Keep in sync with SEG_PERCEPTION_EXECUTABLES in CMakeLists.txt (a test checks).
CONSOLE_SCRIPTS = [
    "perception_node=seg_perception.ros.nodes.perception_node:main",
    "sim_camera_node=seg_perception.ros.nodes.sim_camera_node:main",
    "moveit_bridge_node=seg_perception.ros.nodes.moveit_bridge_node:main",
    "seg-perception=seg_perception.cli:main",
]

setup(
    name="seg_perception",
    version="0.1.0",
    description="RGB-D instance and semantic segmentation for ROS 2 pick-and-place",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["seg_perception", "seg_perception.*"]),
    package_data={"seg_perception": ["py.typed", "weights/*", "config/*.yaml"]},
    install_requires=["numpy", "scipy", "opencv-python-headless", "pyyaml", "tqdm"],
    extras_require={
        "learned": ["torch", "torchvision", "onnx", "onnxruntime", "safetensors"],
        "sim": ["pybullet", "pycocotools", "matplotlib"],
        "geometry": ["open3d"],
        "bags": ["rosbags"],
    },
    entry_points={"console_scripts": CONSOLE_SCRIPTS},
)
