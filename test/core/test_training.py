"""Training loops (seg_perception.training): augmentation, falling loss, resume, round trips.

Small in-memory scenes from the analytic ray caster (no pybullet) and slim
models keep this fast; one CLI test runs on a tiny exported COCO folder.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch

from seg_perception import cli
from seg_perception.errors import ConfigError
from seg_perception.frames import RGBDFrame
from seg_perception.results import LAYOUT_CLASSES, InstanceMasks, SemanticMap
from seg_perception.segmenters import build_instance_segmenter, build_semantic_segmenter
from seg_perception.segmenters._learned import TorchSemanticSegmenter
from seg_perception.segmenters._weights import file_sha256, read_sidecar
from seg_perception.segmenters.mask_rcnn import MaskRCNNSegmenter
from seg_perception.sim.synthetic import look_at, preset_objects, render_scene
from seg_perception.training import (
    IGNORE_LABEL,
    AugmentConfig,
    TrainConfig,
    augment,
    load_checkpoint,
    train,
)

W, H = 160, 120
SMALL_UNET = {"base_channels": 8, "depth": 3}
SMALL_MASKRCNN = {"backbone": "mobilenet_v3_small", "fpn_channels": 32}


@dataclass(frozen=True)
class Sample:
    frame: RGBDFrame
    instances: InstanceMasks
    semantic: SemanticMap


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    out = []
    views = [(0.0, -0.55, 0.55), (0.1, -0.5, 0.6)]
    for i, name in enumerate(("separated", "touching", "stacked", "flat", "textured")):
        scene = render_scene(preset_objects(name), width=W, height=H,
                             camera=look_at(views[i % 2]))
        out.append(Sample(scene.frame, InstanceMasks.from_label_image(scene.instance_labels),
                          SemanticMap(scene.semantic_labels, LAYOUT_CLASSES)))
    return out


def unet_config(**kw: Any) -> TrainConfig:
    base = dict(epochs=12, batch_size=5, lr=3e-3, warmup_steps=2, augment=None, val_fraction=0.0,
                model_config=SMALL_UNET, seed=0)
    base.update(kw)
    return TrainConfig(**base)


def losses(result: Any) -> np.ndarray:
    return np.array([s["loss"] for s in result.history["steps"]])


# --------------------------------------------------------------------------- augmentation

def test_augment_moves_colour_depth_masks_and_labels_together(samples):
    s = samples[0]
    rng = np.random.default_rng(3)
    cfg = AugmentConfig(hflip=1.0, scale=(0.6, 0.6), brightness=0.0, contrast=0.0,
                        saturation=0.0, hue=0.0)
    rgb, depth, masks, sem = augment(s.frame.rgb, s.frame.depth, s.instances.masks,
                                     s.semantic.labels, size=(W, H), rng=rng, config=cfg)
    assert rgb.shape == (H, W, 3) and rgb.dtype == np.uint8
    assert depth.shape == (H, W) and masks.shape == (3, H, W) and sem.dtype == np.uint8
    # Scaled down: the frame is padded; padding is no depth, no label, no object.
    pad = sem == IGNORE_LABEL
    assert 0.3 < pad.mean() < 0.8
    assert (depth[pad] == 0).all() and not masks[:, pad].any()
    assert (rgb[pad] == 0).all(axis=1).mean() > 0.95  # bilinear colour blends at the border
    # Object pixels of the labels are exactly the union of the masks (same warp).
    assert np.array_equal(masks.any(axis=0), sem == LAYOUT_CLASSES.index("object"))
    # The flip: the red box (instance 0, left in the scene) ends up on the right.
    assert np.mean(np.nonzero(masks[0])[1]) > np.mean(np.nonzero(masks[2])[1])
    red = rgb[masks[0]].astype(int)
    assert (red[:, 0] > red[:, 2] + 60).mean() > 0.8
    # Depth inside an object is the scene's own depth (nearest, not blended).
    assert np.isin(depth[masks[1]], s.frame.depth[s.instances.masks[1]]).all()
    # No augmentation: a centre crop at the same scale is the identity.
    same = augment(s.frame.rgb, s.frame.depth, s.instances.masks, s.semantic.labels,
                   size=(W, H), rng=rng, config=None)
    assert np.array_equal(same[0], s.frame.rgb) and np.array_equal(same[2], s.instances.masks)
    # Deterministic for a seed.
    a = augment(s.frame.rgb, s.frame.depth, None, None, size=(96, 64),
                rng=np.random.default_rng(5))
    b = augment(s.frame.rgb, s.frame.depth, None, None, size=(96, 64),
                rng=np.random.default_rng(5))
    assert np.array_equal(a[0], b[0]) and a[0].shape == (64, 96, 3) and a[2] is None


# --------------------------------------------------------------------------- U-Net

@pytest.fixture(scope="module")
def unet_run(samples, tmp_path_factory):
    out = tmp_path_factory.mktemp("unet")
    # lr 1e-2: 12 steps learn the layout (at 3e-3 the net still says "support_surface"
    # everywhere, which scores as well as the trivial model).
    return train("unet", samples, out, val_data=samples[:1], config=unet_config(lr=1e-2),
                 progress=False, command="pytest")


def test_unet_overfits_and_writes_its_outputs(unet_run, samples):
    loss = losses(unet_run)
    assert len(loss) == 12 and np.isfinite(loss).all()
    assert loss[-3:].mean() < 0.6 * loss[:3].mean(), loss
    out = unet_run.out_dir
    for name in ("model.safetensors", "model.safetensors.json", "history.json",
                 "loss_curve.png", "checkpoints/last.pt"):
        assert (out / name).is_file(), name
    history = json.loads((out / "history.json").read_text())
    assert [e["epoch"] for e in history["epochs"]] == list(range(1, 13))
    # The last validation scored the final model on samples[:1]: recomputed here.
    from seg_perception.metrics.semantic import confusion_matrix, per_class_iou

    final = TorchSemanticSegmenter(unet_run.model, name="unet", class_names=LAYOUT_CLASSES,
                                   device="cpu", in_channels=4, resize_size=H,
                                   size_multiple=8, fp16=False, meta={})
    k = len(LAYOUT_CLASSES)
    confusion = confusion_matrix(final.segment(samples[0].frame).labels,
                                 samples[0].semantic.labels, k)
    val = history["epochs"][-1]["val"]
    assert val["miou"] == pytest.approx(float(np.nanmean(per_class_iou(confusion))), abs=1e-6)
    assert val["pixel_accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum(), abs=1e-6)
    meta = read_sidecar(out / "model.safetensors")["meta"]
    assert meta["arch"] == "unet" and meta["categories"] == list(LAYOUT_CLASSES)
    assert meta["in_channels"] == 4 and meta["config"] == SMALL_UNET
    assert meta["transforms"]["resize_size"] == H
    assert meta["training"]["command"] == "pytest" and meta["training"]["epochs_completed"] == 12
    assert meta["metrics"]["val"]["miou"] == pytest.approx(history["epochs"][-1]["val"]["miou"],
                                                           abs=1e-4)
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt")
    assert ckpt["epoch"] == 12 and ckpt["step"] == 12 and "optimizer" in ckpt


def test_unet_weights_round_trip_through_the_builder(unet_run, samples):
    loaded = build_semantic_segmenter("unet", weights=unet_run.weights.path)
    assert loaded.in_channels == 4 and loaded.resize_size == H
    trained = TorchSemanticSegmenter(unet_run.model, name="unet", class_names=LAYOUT_CLASSES,
                                     device="cpu", in_channels=4, resize_size=H,
                                     size_multiple=8, fp16=False, meta={})
    for s in samples[:2]:
        a, b = trained.segment(s.frame), loaded.segment(s.frame)
        assert np.array_equal(a.labels, b.labels)
        np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-6)
    # Learned something: over-fitted, it removes at least half of the errors of the trivial
    # model, the most frequent class everywhere (75 % of this frame; the U-Net gets ~95 %).
    truth = samples[0].semantic.labels
    trivial = np.bincount(truth.ravel()).max() / truth.size
    accuracy = (loaded.segment(samples[0].frame).labels == truth).mean()
    assert accuracy > trivial + (1 - trivial) / 2, (accuracy, trivial)


def test_unet_onnx_export_runs_in_onnxruntime_like_torch(unet_run, samples, tmp_path, capsys):
    onnx_path = tmp_path / "unet.onnx"
    rc = cli.main(["export-onnx", "unet", unet_run.weights.path, str(onnx_path)])
    printed = capsys.readouterr().out
    assert rc == 0 and onnx_path.is_file(), printed
    diffs = json.loads(printed.split("frame: ", 1)[1].strip())
    assert diffs["max_abs_logit_diff"] < 1e-3 and diffs["label_agreement"] > 0.999
    onnx_seg = build_semantic_segmenter("onnx_semantic", weights=str(onnx_path))
    torch_seg = build_semantic_segmenter("unet", weights=unet_run.weights.path)
    a, b = onnx_seg.segment(samples[1].frame), torch_seg.segment(samples[1].frame)
    assert (a.labels == b.labels).mean() > 0.999
    np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-4)


def test_resume_after_a_time_stop_continues_exactly(samples, tmp_path):
    cfg = unet_config(epochs=2, batch_size=2, lr=1e-3)  # 2 steps per epoch
    straight = train("unet", samples, tmp_path / "straight", config=cfg, progress=False)
    # A budget spent at once stops after the first step, inside epoch 1.
    stopped = train("unet", samples, tmp_path / "parts", config=unet_config(
        epochs=2, batch_size=2, lr=1e-3, max_minutes=1e-6), progress=False)
    assert stopped.stopped_early and stopped.epochs_completed == 0
    ckpt = load_checkpoint(stopped.checkpoint)
    assert (ckpt["epoch"], ckpt["batch"], ckpt["step"]) == (0, 1, 1) and ckpt["stopped"]
    resumed = train("unet", samples, tmp_path / "parts", config=cfg, resume=stopped.checkpoint,
                    progress=False)
    assert not resumed.stopped_early and resumed.epochs_completed == 2
    assert [r["start_step"] for r in resumed.history["runs"]] == [0, 1]
    np.testing.assert_allclose(losses(resumed), losses(straight), rtol=1e-5)
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6) for k in a)
    # Resuming with another model is refused with the reason.
    with pytest.raises(ConfigError, match="another model"):
        train("unet", samples, tmp_path / "other", config=unet_config(in_channels=3),
              resume=stopped.checkpoint, progress=False)


# --------------------------------------------------------------------------- Mask R-CNN

@pytest.fixture(scope="module")
def maskrcnn_run(samples, tmp_path_factory):
    out = tmp_path_factory.mktemp("maskrcnn")
    cfg = TrainConfig(epochs=6, batch_size=2, lr=1e-3, warmup_steps=2, augment=None,
                      val_fraction=0.0, model_config=SMALL_MASKRCNN, seed=0)
    return train("maskrcnn", samples, out, val_data=samples[:1], config=cfg, progress=False)


def test_maskrcnn_loss_falls_and_meta_describes_the_model(maskrcnn_run):
    loss = losses(maskrcnn_run)
    assert len(loss) == 12 and np.isfinite(loss).all()
    assert loss[-3:].mean() < 0.75 * loss[:3].mean(), loss
    step = maskrcnn_run.history["steps"][0]
    assert {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness"} <= set(step)
    meta = maskrcnn_run.weights.meta
    assert meta["arch"] == "maskrcnn_mobilenet"
    assert meta["categories"] == ["__background__", "object"] and meta["in_channels"] == 4
    assert meta["transforms"] == {"min_size": H, "max_size": W}
    assert meta["config"] == SMALL_MASKRCNN
    assert set(meta["metrics"]["val"]) >= {"mask_AP", "mask_AP50"}
    assert maskrcnn_run.weights.sha256 == file_sha256(maskrcnn_run.weights.path)


def test_maskrcnn_weights_round_trip_through_the_builder(maskrcnn_run, samples):
    loaded = build_instance_segmenter("maskrcnn_mobilenet", weights=maskrcnn_run.weights.path,
                                      score_threshold=0.05)
    trained = MaskRCNNSegmenter(maskrcnn_run.model, name="maskrcnn_mobilenet",
                                categories=("__background__", "object"), device="cpu",
                                in_channels=4, score_threshold=0.05)
    for s in samples[:2]:
        a, b = trained.segment(s.frame), loaded.segment(s.frame)
        assert len(a) == len(b) > 0
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-2)
        assert (a.masks == b.masks).mean() > 0.999


# --------------------------------------------------------------------------- command line

def test_cli_trains_on_an_exported_dataset(tmp_path, capsys):
    from seg_perception.sim.dataset import export_coco
    from seg_perception.sim.scenes import SceneConfig

    data = tmp_path / "data"
    export_coco(data, 4, seed=0, config=SceneConfig(width=W, height=H, shadows=False),
                progress=False)
    out = tmp_path / "run"
    rc = cli.main(["train", "unet", "--data", str(data), "--out", str(out), "--epochs", "1",
                   "--batch-size", "3", "--image-size", "160x112", "--quiet",
                   "--model-config", json.dumps(SMALL_UNET)])
    printed = capsys.readouterr().out
    assert rc == 0 and "done: 1 epochs" in printed and "data_holdout" in printed
    meta = read_sidecar(out / "model.safetensors")["meta"]
    assert meta["training"]["command"].startswith("seg-perception train unet --data")
    assert meta["training"]["num_train_images"] == 3  # one of four held out for validation
    assert meta["transforms"]["resize_size"] == 112
    seg = build_semantic_segmenter("unet", weights=str(out / "model.safetensors"))
    frame = render_scene(preset_objects("separated"), width=W, height=H).frame
    assert seg.segment(frame).labels.shape == (H, W)
    with pytest.raises(SystemExit):
        cli.main(["train", "unet", "--data", str(data), "--out", str(out), "--image-size", "big"])
    assert "WIDTHxHEIGHT" in capsys.readouterr().err
