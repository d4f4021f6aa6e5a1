"""One representation of a frame's instances (issue 21): whichever form the segmenter
hands over (label image, crops, full masks), every message is the one full masks give.

The reference is the objects message as it was built before (standard message
constructors, per-object crop of each full mask), kept here as ``_reference_objects_msg``.
"""
from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message

from seg_perception.geometry.transforms import rotation_matrix_to_quaternion
from seg_perception.results import InstanceMask, InstanceMasks, Scene, SceneObject
from seg_perception.ros.conversions import make_header, numpy_to_image, points_to_cloud
from seg_perception.ros.outputs import instance_label_image, scene_to_markers, scene_to_objects_msg
from seg_perception.tracking import ObjectTracker
from seg_perception.visualize import overlay_scene


def _reference_objects_msg(scene: Scene, header: Any, with_clouds: bool = True) -> Any:
    """scene_to_objects_msg as it was: every message made by its constructor, each mask
    the full mask cropped to the ROI."""
    from sensor_msgs.msg import RegionOfInterest

    from seg_perception.msg import ObjectInstance, ObjectInstanceArray

    h_img, w_img = scene.frame.height, scene.frame.width
    out = ObjectInstanceArray(header=header, image_width=w_img, image_height=h_img)
    if scene.support_plane is not None:
        out.has_support_plane = True
        out.support_plane = scene.support_plane.coefficients.astype(np.float64)
    objects = []
    for obj in scene.objects:
        inst = ObjectInstance(id=obj.index, track_id=obj.track_id, track_age=max(obj.age, 0),
                              class_id=obj.class_id, class_name=obj.class_name,
                              score=float(np.float32(obj.score)))
        x1, y1, x2, y2 = np.asarray(obj.box_2d, np.float64)
        x = int(np.clip(np.floor(x1), 0, w_img))
        y = int(np.clip(np.floor(y1), 0, h_img))
        w = int(np.clip(np.ceil(x2), x, w_img)) - x
        h = int(np.clip(np.ceil(y2), y, h_img)) - y
        inst.roi = RegionOfInterest(x_offset=x, y_offset=y, width=w, height=h)
        full = np.asarray(obj.mask, bool)
        assert full.shape == (h_img, w_img)
        inst.mask = numpy_to_image(full[y:y + h, x:x + w].astype(np.uint8) * np.uint8(255),
                                   "mono8", header)
        g = obj.geometry
        inst.has_3d = g is not None
        inst.geometry_status = int(getattr(ObjectInstance,
                                           f"GEOMETRY_{obj.geometry_status.upper()}"))
        if g is not None:
            inst.centroid.x, inst.centroid.y, inst.centroid.z = map(float, g.centroid)
            p = inst.box_pose
            p.position.x, p.position.y, p.position.z = map(float, g.box_center)
            qx, qy, qz, qw = rotation_matrix_to_quaternion(g.box_rotation[None])[0].tolist()
            p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w = qx, qy, qz, qw
            inst.box_size.x, inst.box_size.y, inst.box_size.z = map(float, g.box_extent)
            inst.top_normal.x, inst.top_normal.y, inst.top_normal.z = map(float, g.top_normal)
        if g is not None and with_clouds:
            inst.cloud = points_to_cloud(g.points, header, colors=g.colors)
        else:
            inst.cloud = points_to_cloud(np.zeros((0, 3), np.float32), header,
                                         colors=np.zeros((0, 3), np.uint8))
        if obj.grasp is not None and g is not None:
            gr = obj.grasp
            inst.grasp_point.x, inst.grasp_point.y, inst.grasp_point.z = map(float, gr.point)
            a = inst.grasp_approach
            a.x, a.y, a.z = map(float, gr.approach)
            inst.grasp_axis.x, inst.grasp_axis.y, inst.grasp_axis.z = map(float, gr.axis)
            inst.grasp_width = float(np.float32(gr.width))
        objects.append(inst)
    out.objects = objects
    return out


def _with_instances(scene: Scene, instances: InstanceMasks, lazy: bool) -> Scene:
    """``scene`` with its instances (and each object's mask) taken from ``instances``."""
    objects = [SceneObject(index=o.index, class_id=o.class_id, class_name=o.class_name,
                           score=o.score, box_2d=instances.boxes[o.index],
                           mask=instances.lazy_mask(o.index) if lazy else instances.masks[o.index],
                           geometry=o.geometry, grasp=o.grasp).with_track(o.track_id, o.age)
               for o in scene.objects]
    return Scene(scene.frame, instances, None, objects, scene.support_plane)


def _overlapping(scene: Scene) -> InstanceMasks:
    """The fixture's masks with object 2 grown over object 0 (learned backends overlap)."""
    masks = scene.instances.masks.copy()
    masks[2, 6:14, 5:26] = True
    inst = scene.instances
    return InstanceMasks.from_masks(masks, inst.scores, inst.class_ids, inst.class_names)


def _forms(instances: InstanceMasks, overlapping: bool) -> dict[str, InstanceMasks]:
    forms = {"masks": instances, "crops": pickle.loads(pickle.dumps(instances))}
    if not overlapping:
        labels = instances.label_image().astype(np.int32) * 3  # values 3, 6, 9: remapped
        forms["labels"] = InstanceMasks.from_labels(labels, [3, 6, 9], instances.scores,
                                                    instances.class_ids, instances.class_names)
    return forms


@pytest.mark.parametrize("overlapping", [False, True])
def test_every_form_gives_the_messages_of_full_masks(synthetic_scene: Scene, objects_msgs: Any,
                                                      overlapping: bool) -> None:
    base = _overlapping(synthetic_scene) if overlapping else synthetic_scene.instances
    header = make_header(synthetic_scene.frame.stamp_ns, "cam_optical")
    reference = _with_instances(synthetic_scene, base, lazy=False)
    ref_msg = _reference_objects_msg(reference, header)
    ref_labels = instance_label_image(reference, header)
    ref_overlay = overlay_scene(reference)
    ref_markers = scene_to_markers(reference, header)
    forms = _forms(base, overlapping)
    assert {f: i.form for f, i in forms.items()} == {
        "masks": "masks", "crops": "crops", **({} if overlapping else {"labels": "labels"})}
    for name, instances in forms.items():
        for lazy in (True, False):
            scene = _with_instances(synthetic_scene, instances, lazy)
            msg = scene_to_objects_msg(scene, header)
            assert msg == ref_msg, (name, lazy)
            # Publishable as built (CDR padding bytes are not compared: not deterministic).
            assert deserialize_message(serialize_message(msg), type(msg)) == ref_msg
            assert scene_to_objects_msg(scene, header, with_clouds=False) == \
                _reference_objects_msg(reference, header, with_clouds=False)
            assert instance_label_image(scene, header) == ref_labels, (name, lazy)
            np.testing.assert_array_equal(overlay_scene(scene), ref_overlay)
            assert scene_to_markers(scene, header) == ref_markers
            if lazy:  # nothing above made a full mask
                assert all(isinstance(o.__dict__["_mask"], InstanceMask) for o in scene.objects)
                assert instances.form == "masks" or instances._full is None
            for obj, ref in zip(scene.objects, reference.objects):
                np.testing.assert_array_equal(obj.mask, ref.mask)  # made on request


def test_overlapping_label_image_keeps_the_best_score(synthetic_scene: Scene) -> None:
    base = _overlapping(synthetic_scene)
    crops = pickle.loads(pickle.dumps(base))
    labels = crops.label_image()
    np.testing.assert_array_equal(labels, base.label_image())
    assert labels[12, 22] == 1  # object 0 (score 0.9) over object 2 (0.5)
    assert labels[7, 6] == 3
    with pytest.raises(ValueError):
        labels[0, 0] = 1  # memoised and shared: read-only


def test_forms_agree_on_boxes_crops_windows_and_selection(synthetic_scene: Scene) -> None:
    base = synthetic_scene.instances
    for name, inst in _forms(base, overlapping=False).items():
        np.testing.assert_array_equal(inst.tight_boxes(), base.tight_boxes(), err_msg=name)
        for i in range(len(base)):
            x0, y0, x1, y1 = base.tight_boxes()[i].tolist()
            np.testing.assert_array_equal(inst.crop(i), base.masks[i, y0:y1, x0:x1])
            np.testing.assert_array_equal(inst.window(i, 0, 5, 40, 48), base.masks[i, 5:48, 0:40])
            np.testing.assert_array_equal(inst.mask(i), base.masks[i])
        np.testing.assert_array_equal(inst.union(), base.masks.any(axis=0))
        kept = inst.select([2, 0])
        assert kept.form == inst.form and len(kept) == 2
        np.testing.assert_array_equal(kept.masks, base.masks[[2, 0]])
        np.testing.assert_array_equal(kept.label_image(), base.select([2, 0]).label_image())
        back = pickle.loads(pickle.dumps(inst))
        assert back.form == ("labels" if name == "labels" else "crops")
        np.testing.assert_array_equal(back.masks, base.masks)


def test_a_label_image_in_instance_order_is_its_own_label_image() -> None:
    labels = np.zeros((6, 8), np.uint16)
    labels[1:3, 1:4], labels[4:6, 5:8] = 1, 2
    inst = InstanceMasks.from_labels(labels)
    assert np.shares_memory(inst.label_image(), labels)  # no copy, no masks made
    assert inst._full is None
    assert inst.tight_boxes().tolist() == [[1, 1, 4, 3], [5, 4, 8, 6]]
    np.testing.assert_array_equal(inst.boxes, [[1, 1, 4, 3], [5, 4, 8, 6]])
    # Dropping instance 2 leaves its pixels out of the label image.
    assert inst.select([0]).label_image().max() == 1


def test_tracker_matches_on_crops_as_on_full_masks(synthetic_scene: Scene) -> None:
    base = synthetic_scene.instances
    forms = _forms(base, overlapping=False)
    results = {}
    for name, inst in forms.items():
        for lazy in (True, False):
            tracker = ObjectTracker()
            seq = []
            for stamp in range(3):
                scene = _with_instances(synthetic_scene, inst, lazy)
                seq.append([(o.track_id, o.age) for o in
                            tracker.update(scene.objects, stamp * 10**8)])
            results[(name, lazy)] = seq
            if lazy:
                assert inst.form == "masks" or inst._full is None
    assert len({str(v) for v in results.values()}) == 1
