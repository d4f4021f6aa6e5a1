"""COCO RGB-D export of simulated frames and its loader."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from seg_perception.errors import InvalidFrameError
from seg_perception.frames import RGBDFrame
from seg_perception.results import LAYOUT_CLASSES
from seg_perception.sim.dataset import (
    CocoRGBDDataset,
    CocoRGBDSample,
    export_coco,
    frame_seed,
    load_coco_rgbd,
)
from seg_perception.sim.scenes import SceneConfig, TabletopSim

# pycocotools' decode warns about NumPy 2's copy= keyword; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

CONFIG = SceneConfig(width=160, height=120, num_objects=(3, 5), hard_case_probability=0.7,
                     shadows=False, depth_noise=True)
NUM_FRAMES = 3


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("coco")
    coco = export_coco(out, NUM_FRAMES, seed=5, config=CONFIG, progress=False)
    return out, coco


def _read(path: Path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, path
    return image


def test_files_and_json_layout(exported: tuple[Path, dict]) -> None:
    out, coco = exported
    assert json.loads((out / "annotations.json").read_text()) == coco
    assert coco["categories"] == [{"id": 1, "name": "object", "supercategory": "object"}]
    assert coco["layout_classes"] == list(LAYOUT_CLASSES)
    assert coco["info"]["config"]["width"] == 160
    assert len(coco["images"]) == NUM_FRAMES
    for im in coco["images"]:
        for key in ("file_name", "depth_file", "depth_gt_file", "semantic_file", "instance_file"):
            assert (out / im[key]).is_file(), im[key]
        assert _read(out / im["depth_file"]).dtype == np.uint16
        assert _read(out / im["instance_file"]).dtype == np.uint16
        assert _read(out / im["semantic_file"]).dtype == np.uint8
        assert set(im["intrinsics"]) == {"fx", "fy", "cx", "cy"}
        assert np.asarray(im["camera_pose"]).shape == (4, 4)
        assert isinstance(im["case_tags"], list)
    assert sum(len(im["case_tags"]) for im in coco["images"]) > 0


def test_pycocotools_reads_it_and_masks_match_label_images(exported: tuple[Path, dict]) -> None:
    out, _ = exported
    api = COCO(str(out / "annotations.json"))
    assert sorted(api.getImgIds()) == list(range(1, NUM_FRAMES + 1))
    n_anns = 0
    for image_id in api.getImgIds():
        im = api.loadImgs(image_id)[0]
        labels = _read(out / im["instance_file"])
        anns = api.loadAnns(api.getAnnIds(imgIds=image_id))
        assert {a["instance_id"] for a in anns} == set(np.unique(labels)) - {0}
        for ann in anns:
            mask = api.annToMask(ann).astype(bool)
            np.testing.assert_array_equal(mask, labels == ann["instance_id"])
            assert ann["area"] == int(mask.sum()) > 0
            ys, xs = np.nonzero(mask)
            np.testing.assert_allclose(ann["bbox"], [xs.min(), ys.min(), xs.max() - xs.min() + 1,
                                                     ys.max() - ys.min() + 1])
            assert ann["iscrowd"] == 0 and ann["category_id"] == 1
            assert ann["kind"] and isinstance(ann["tags"], list)
            assert mask_utils.area(ann["segmentation"]) == ann["area"]
            n_anns += 1
    assert n_anns >= NUM_FRAMES * 2


def test_frames_can_be_rerendered_from_their_seed(exported: tuple[Path, dict]) -> None:
    """Frame i of the export is TabletopSim(config, frame_seed(seed, i)).render()."""
    out, coco = exported
    im = coco["images"][1]
    assert im["seed"] == frame_seed(5, 1)
    with TabletopSim(CONFIG, seed=im["seed"]) as sim:
        frame = sim.render()
    np.testing.assert_array_equal(_read(out / im["instance_file"]), frame.instance_labels)
    np.testing.assert_array_equal(_read(out / im["file_name"])[:, :, ::-1], frame.rgb)
    depth_mm = _read(out / im["depth_file"]).astype(np.float64)
    np.testing.assert_allclose(depth_mm / 1000.0, frame.depth, atol=5e-4)
    gt_mm = _read(out / im["depth_gt_file"]).astype(np.float64)
    np.testing.assert_allclose(gt_mm / 1000.0, frame.depth_gt, atol=5e-4)
    assert list(frame.case_tags) == im["case_tags"]


def test_loader_yields_frames_with_ground_truth(exported: tuple[Path, dict]) -> None:
    out, coco = exported
    dataset = CocoRGBDDataset(out)
    assert len(dataset) == NUM_FRAMES
    samples = list(load_coco_rgbd(out))
    assert [s.image_id for s in samples] == [1, 2, 3]
    for sample in samples:
        assert isinstance(sample, CocoRGBDSample) and isinstance(sample.frame, RGBDFrame)
        assert sample.frame.intrinsics.fx == pytest.approx(CONFIG.intrinsics.fx)
        assert sample.frame.rgb.shape == (120, 160, 3)
        assert sample.depth_gt is not None and sample.depth_gt.dtype == np.float32
        # Noisy depth has holes the exact depth does not.
        assert (sample.frame.depth == 0).sum() > (sample.depth_gt == 0).sum()
        labels = sample.instance_labels
        assert labels is not None and len(sample.instances) == len(sample.instance_ids)
        for mask, instance_id in zip(sample.instances.masks, sample.instance_ids):
            np.testing.assert_array_equal(mask, labels == instance_id)
        assert set(sample.instances.class_names) <= {"object"}
        assert len(sample.kinds) == len(sample.instances)
        assert sample.semantic is not None
        np.testing.assert_array_equal(sample.semantic.mask_of("object"), labels > 0)
        assert tuple(sample.image["case_tags"]) == sample.case_tags
    assert dataset[0].image_id == samples[0].image_id


def test_export_is_deterministic_and_shows_progress(tmp_path: Path, capsys) -> None:
    config = dataclasses.replace(CONFIG, width=64, height=48, depth_noise=False)
    a = export_coco(tmp_path / "a", 2, seed=1, config=config, progress=True)
    assert "rendering" in capsys.readouterr().err  # the tqdm bar
    b = export_coco(tmp_path / "b", 2, seed=1, config=config, progress=False)
    assert a == b
    assert not (tmp_path / "a" / "depth_gt").exists()
    for name in ("rgb/000001.png", "depth/000001.png", "instances/000001.png"):
        np.testing.assert_array_equal(_read(tmp_path / "a" / name), _read(tmp_path / "b" / name))
    c = export_coco(tmp_path / "c", 1, seed=2, config=config, progress=False)
    assert c["images"][0]["seed"] != a["images"][0]["seed"]


def test_loader_errors_name_the_problem(tmp_path: Path, exported: tuple[Path, dict]) -> None:
    with pytest.raises(FileNotFoundError, match="export_coco"):
        CocoRGBDDataset(tmp_path / "missing")
    out, coco = exported
    broken = json.loads(json.dumps(coco))
    del broken["images"][0]["depth_file"]
    del broken["images"][1]["intrinsics"]
    (out / "broken.json").write_text(json.dumps(broken))
    dataset = CocoRGBDDataset(out, annotation_file="broken.json")
    with pytest.raises(InvalidFrameError, match="depth_file"):
        dataset[0]
    with pytest.raises(InvalidFrameError, match="intrinsics="):
        dataset[1]
    fixed = CocoRGBDDataset(out, annotation_file="broken.json", intrinsics=CONFIG.intrinsics)
    assert fixed[1].frame.intrinsics == CONFIG.intrinsics
    with pytest.raises(ValueError, match="num_frames"):
        export_coco(tmp_path / "x", -1)
