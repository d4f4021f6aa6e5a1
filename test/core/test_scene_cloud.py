"""seg_perception.scene_cloud: a scene's objects as one labelled, coloured point set."""
from __future__ import annotations

import numpy as np

from seg_perception.frames import CameraIntrinsics, RGBDFrame
from seg_perception.results import InstanceMasks, ObjectGeometry, Scene, SceneObject
from seg_perception.scene_cloud import UNCOLOURED_POINT_RGB, display_id, scene_cloud


def _geometry(points: np.ndarray, colors: np.ndarray | None) -> ObjectGeometry:
    eye = np.eye(3)
    return ObjectGeometry(points=points.astype(np.float32), colors=colors,
                          centroid=points.mean(0), box_center=points.mean(0), box_rotation=eye,
                          box_extent=np.ones(3), principal_axes=eye, top_normal=eye[2])


def _object(index: int, geometry: ObjectGeometry | None, track_id: int = -1) -> SceneObject:
    return SceneObject(index=index, class_id=0, class_name="object", score=1.0,
                       box_2d=np.zeros(4, np.float32), mask=np.zeros((4, 4), bool),
                       geometry=geometry, track_id=track_id)


def _scene(objects: list[SceneObject]) -> Scene:
    K = CameraIntrinsics(4, 4, 4.0, 4.0, 1.5, 1.5)
    frame = RGBDFrame.create(np.zeros((4, 4, 3), np.uint8), np.ones((4, 4), np.float32), K)
    return Scene(frame=frame, instances=InstanceMasks.empty(4, 4), semantic=None, objects=objects)


def test_display_id_is_the_track_when_tracked_else_the_index() -> None:
    assert display_id(_object(3, None)) == 3
    assert display_id(_object(3, None, track_id=7)) == 7
    assert display_id(_object(3, None, track_id=0)) == 0


def test_points_colours_and_labels_of_every_object_with_3d_in_object_order() -> None:
    red = np.array([[255, 0, 0], [255, 0, 0]], np.uint8)
    a = _object(0, _geometry(np.array([[0, 0, 1], [0, 0, 2]], float), red), track_id=4)
    b = _object(1, None)  # no 3D: no points
    c = _object(2, _geometry(np.array([[1, 1, 1]], float), None))
    cloud = scene_cloud(_scene([a, b, c]))
    np.testing.assert_array_equal(cloud.points, [[0, 0, 1], [0, 0, 2], [1, 1, 1]])
    assert cloud.points.dtype == np.float32
    np.testing.assert_array_equal(cloud.colors, [[255, 0, 0], [255, 0, 0], UNCOLOURED_POINT_RGB])
    assert cloud.colors.dtype == np.uint8
    np.testing.assert_array_equal(cloud.labels, [5, 5, 3])
    assert cloud.labels.dtype == np.uint32


def test_a_scene_without_3d_gives_an_empty_cloud() -> None:
    cloud = scene_cloud(_scene([_object(0, None)]))
    assert cloud.points.shape == (0, 3) and cloud.colors.shape == (0, 3)
    assert cloud.labels.shape == (0,)
    assert (cloud.points.dtype, cloud.colors.dtype, cloud.labels.dtype) == (
        np.float32, np.uint8, np.uint32)
