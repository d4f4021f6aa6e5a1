"""The ROS 2 layer of seg_perception: message conversions, QoS, parameters and nodes.

Everything that imports rclpy or ROS message types lives under this package;
the core library (``seg_perception`` minus ``ros``) stays ROS-free. Import the
submodules directly, e.g. ``from seg_perception.ros.conversions import image_to_rgb``.
"""
