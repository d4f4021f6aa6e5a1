"""3D geometry verbs on numpy arrays: projection, planes, clusters, boxes, filters.

Import the submodules directly (``from seg_perception.geometry.projection import
depth_to_points``); none of them imports ROS, and Open3D only where noted.
"""
