"""Learned segmentation backends, generated from the registry.

Each learned backend is built with random weights (seeded), its weights are
saved with ``save_weights`` (or exported to ONNX) and loaded back through the
real builder path, ``build_*_segmenter(name, weights=path)``; the loaded
segmenter must reproduce the original's output. Models stay small: tiny
frames, few proposals, the MobileNet Mask R-CNN for the ONNX export.
"""
from __future__ import annotations

import inspect
import json
import shutil
import urllib.error
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from seg_perception.errors import ConfigError, WeightsError
from seg_perception.results import LAYOUT_CLASSES, InstanceMasks, SemanticMap
from seg_perception.segmenters import (
    InstanceSegmenter,
    SemanticSegmenter,
    build_instance_segmenter,
    build_semantic_segmenter,
    list_instance_segmenters,
    list_semantic_segmenters,
)
from seg_perception.segmenters import _api
from seg_perception.segmenters._weights import META_KEYS, file_sha256, save_weights, sidecar_path
from seg_perception.segmenters.onnx_backend import export_maskrcnn_onnx, export_semantic_onnx
from seg_perception.segmenters.torchvision_semantic import VOC_CLASSES
from seg_perception.segmenters.unet import UNet
from seg_perception.sim.synthetic import preset_objects, render_scene

LEARNED_MODULES = {f"seg_perception.segmenters.{m}"
                   for m in ("mask_rcnn", "torchvision_semantic", "unet", "onnx_backend")}


def _learned(table: dict[str, Any], names: list[str]) -> list[str]:
    return [n for n in names if table[n].__module__ in LEARNED_MODULES]


INSTANCE = _learned(_api._INSTANCE, list_instance_segmenters())
SEMANTIC = _learned(_api._SEMANTIC, list_semantic_segmenters())

# Small and quick: few proposals and detections, frames at their own size.
_TINY_RCNN = dict(min_size=192, max_size=256, score_threshold=0.0, rpn_pre_nms_top_n_test=200,
                  rpn_post_nms_top_n_test=50, box_detections_per_img=10)
CONFIG: dict[str, dict[str, Any]] = {
    "maskrcnn": _TINY_RCNN, "maskrcnn_v2": _TINY_RCNN, "maskrcnn_mobilenet": _TINY_RCNN,
    "onnx": {"score_threshold": 0.0},
    "deeplabv3": {}, "fcn": {}, "lraspp": {}, "unet": {}, "onnx_semantic": {},
}
EXPORTED_FROM = {"onnx": "maskrcnn_mobilenet", "onnx_semantic": "unet"}
INSTANCE_SIZE, SEMANTIC_SIZE = (256, 192), (128, 96)  # (width, height)

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device"))]


def frame(size: tuple[int, int], preset: str = "separated"):
    return render_scene(preset_objects(preset), width=size[0], height=size[1]).frame


def build(name: str, **config: Any) -> Any:
    kind = build_instance_segmenter if name in INSTANCE else build_semantic_segmenter
    return kind(name, **config)


def spread_init(seg: Any, example) -> None:  # noqa: ANN001
    """Rescale each backbone conv to unit output std on ``example`` (LSUV, one pass).

    A randomly initialised MobileNetV3 has vanishing features, hence no
    detections to compare; this keeps the test meaningful.
    """
    def hook(module, inputs, output):  # noqa: ANN001, ANN202
        std = output.detach().std().clamp_min(1e-8)
        module.weight.div_(std)
        if module.bias is not None:
            module.bias.div_(std)
        return output / std

    handles = [m.register_forward_hook(hook) for m in seg.model.backbone.modules()
               if isinstance(m, torch.nn.Conv2d)]
    seg.segment(example)
    for handle in handles:
        handle.remove()


@dataclass
class Prepared:
    name: str
    path: Path          # weights file, loadable by the builder
    reference: Any      # the segmenter the weights came from (torch)
    loaded: Any         # built from ``path`` on the CPU
    exact: bool         # loaded must equal reference bit for bit


class Zoo:
    """Builds, saves and reloads each backend once per module."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cache: dict[str, Prepared] = {}
        self.outputs: dict[str, Any] = {}
        self.frames = {"instance": frame(INSTANCE_SIZE), "semantic": frame(SEMANTIC_SIZE)}

    def frame_for(self, name: str):  # noqa: ANN201
        return self.frames["instance" if name in INSTANCE else "semantic"]

    def get(self, name: str) -> Prepared:
        if name not in self.cache:
            self.cache[name] = self._prepare(name)
        return self.cache[name]

    def expected(self, name: str) -> Any:
        """The reference segmenter's output on the backend's frame (computed once)."""
        key = f"expected:{name}"
        if key not in self.outputs:
            self.outputs[key] = self.get(name).reference.segment(self.frame_for(name))
        return self.outputs[key]

    def output(self, name: str) -> Any:
        """The loaded segmenter's output on the backend's frame (computed once)."""
        key = f"output:{name}"
        if key not in self.outputs:
            self.outputs[key] = self.get(name).loaded.segment(self.frame_for(name))
        return self.outputs[key]

    def _prepare(self, name: str) -> Prepared:
        if name in EXPORTED_FROM:
            source = self.get(EXPORTED_FROM[name]).loaded
            path = self.root / f"{name}.onnx"
            if name in INSTANCE:
                export_maskrcnn_onnx(source, path, width=INSTANCE_SIZE[0], height=INSTANCE_SIZE[1])
            else:
                export_semantic_onnx(source, path, width=SEMANTIC_SIZE[0], height=SEMANTIC_SIZE[1])
            return Prepared(name, path, source, build(name, weights=str(path), **CONFIG[name]),
                            exact=False)
        torch.manual_seed(0)
        reference = build(name, **CONFIG[name])
        if name == "maskrcnn_mobilenet":
            spread_init(reference, self.frame_for(name))
        path = self.root / f"{name}.safetensors"
        save_weights(reference.model.state_dict(), path, reference.meta)
        return Prepared(name, path, reference, build(name, weights=str(path), **CONFIG[name]),
                        exact=True)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> Zoo:  # noqa: ANN001
    return Zoo(tmp_path_factory.mktemp("zoo"))


# --------------------------------------------------------------------------- checks

def check_instances(out: InstanceMasks, seg: Any, fr) -> None:  # noqa: ANN001
    n = len(out)
    assert isinstance(out, InstanceMasks)
    assert out.masks.dtype == bool and out.masks.shape == (n, fr.height, fr.width)
    assert out.scores.dtype == np.float32 and out.scores.shape == (n,)
    assert np.all(np.diff(out.scores) <= 0) and np.all((out.scores >= 0) & (out.scores <= 1))
    assert out.class_ids.dtype == np.int32 and out.boxes.dtype == np.float32
    assert out.boxes.shape == (n, 4)
    assert np.all(out.boxes[:, [0, 2]] <= fr.width) and np.all(out.boxes[:, [1, 3]] <= fr.height)
    assert np.all(out.boxes >= 0) and np.all(out.masks.reshape(n, -1).any(axis=1))
    assert all(seg.class_names[i] == c for i, c in zip(out.class_ids, out.class_names))


def check_semantic(out: SemanticMap, seg: Any, fr) -> None:  # noqa: ANN001
    assert isinstance(out, SemanticMap)
    assert out.labels.dtype == np.uint8 and out.labels.shape == (fr.height, fr.width)
    assert out.class_names == seg.class_names and out.labels.max() < len(seg.class_names)
    assert out.confidence is not None and out.confidence.dtype == np.float32
    assert out.confidence.shape == out.labels.shape
    assert np.all(out.confidence >= 1.0 / len(seg.class_names) - 1e-5)
    assert np.all(out.confidence <= 1.0 + 1e-6)


def assert_instances_close(a: InstanceMasks, b: InstanceMasks, *, score_tol: float,
                           box_tol: float, mask_px: int) -> None:
    assert len(a) == len(b) > 0
    np.testing.assert_allclose(a.scores, b.scores, atol=score_tol)
    np.testing.assert_allclose(a.boxes, b.boxes, atol=box_tol)
    assert a.class_names == b.class_names
    differing = (a.masks != b.masks).reshape(len(a), -1).sum(axis=1)
    assert differing.max() <= mask_px, differing


def assert_semantic_close(a: SemanticMap, b: SemanticMap, *, agree: float, conf_tol: float) -> None:
    assert (a.labels == b.labels).mean() >= agree
    same = a.labels == b.labels
    assert a.confidence is not None and b.confidence is not None
    np.testing.assert_allclose(a.confidence[same], b.confidence[same], atol=conf_tol)


# --------------------------------------------------------------------------- registry

def test_registry_lists_the_learned_backends_with_keyword_only_builders():
    assert set(INSTANCE) == {"maskrcnn", "maskrcnn_mobilenet", "maskrcnn_v2", "onnx"}
    assert set(SEMANTIC) == {"deeplabv3", "fcn", "lraspp", "onnx_semantic", "unet"}
    assert set(INSTANCE + SEMANTIC) <= set(CONFIG), "give a new backend a small test config"
    for name in INSTANCE + SEMANTIC:
        table = _api._INSTANCE if name in INSTANCE else _api._SEMANTIC
        params = inspect.signature(table[name]).parameters
        assert name == name.lower() and name.isidentifier()
        assert all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for p in params.values()), name
        assert params["weights"].default is None and params["device"].default == "cpu"
        assert "fp16" in params and table[name].__doc__


# --------------------------------------------------------------------------- round trips

def build_on_gpu(name: str, path: Path) -> Any:
    """Build on CUDA; an onnxruntime without CUDA provider falls back to the CPU, warning."""
    import onnxruntime

    # Full float32 on the GPU (no TF32), so results are comparable with the CPU's.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

    if name in EXPORTED_FROM and "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        with pytest.warns(RuntimeWarning, match="no CUDA provider"):
            seg = build(name, weights=str(path), device="cuda", **CONFIG[name])
        assert seg.device == "cpu"
        return seg
    seg = build(name, weights=str(path), device="cuda", **CONFIG[name])
    assert seg.device.startswith("cuda")
    return seg


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", INSTANCE)
def test_instance_weights_round_trip(zoo, name, device):
    p = zoo.get(name)
    fr = zoo.frame_for(name)
    seg = p.loaded if device == "cpu" else build_on_gpu(name, p.path)
    assert isinstance(seg, InstanceSegmenter) and seg.name == name
    out = zoo.output(name) if device == "cpu" else seg.segment(fr)
    check_instances(out, seg, fr)
    assert len(out) > 0
    expected = zoo.expected(name)
    if device == "cpu" and p.exact:
        assert np.array_equal(out.masks, expected.masks)
        assert np.array_equal(out.scores, expected.scores)
        assert np.array_equal(out.boxes, expected.boxes)
    elif device == "cpu":  # onnxruntime vs torch: the stated tolerance
        assert_instances_close(out, expected, score_tol=1e-4, box_tol=0.01, mask_px=3)
    else:  # cuDNN vs CPU kernels: the best detection agrees
        iou = (out.masks[0] & expected.masks[0]).sum() / (out.masks[0] | expected.masks[0]).sum()
        assert iou > 0.9 and abs(out.scores[0] - expected.scores[0]) < 1e-2


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", SEMANTIC)
def test_semantic_weights_round_trip(zoo, name, device):
    p = zoo.get(name)
    fr = zoo.frame_for(name)
    seg = p.loaded if device == "cpu" else build_on_gpu(name, p.path)
    assert isinstance(seg, SemanticSegmenter) and seg.name == name
    out = zoo.output(name) if device == "cpu" else seg.segment(fr)
    check_semantic(out, seg, fr)
    expected = zoo.expected(name)
    if device == "cpu" and p.exact:
        assert np.array_equal(out.labels, expected.labels)
        assert np.array_equal(out.confidence, expected.confidence)
    else:
        assert_semantic_close(out, expected, agree=0.999 if device == "cpu" else 0.98,
                              conf_tol=1e-4 if device == "cpu" else 1e-2)


def test_onnx_matches_torch_at_another_frame_size(zoo):
    """The exports take any input size (dynamic axes), not only the traced one."""
    other = frame((320, 240), "touching")
    p = zoo.get("onnx")
    assert p.loaded.input_size is None
    assert_instances_close(p.loaded.segment(other), p.reference.segment(other),
                           score_tol=1e-4, box_tol=0.01, mask_px=3)
    q = zoo.get("onnx_semantic")
    assert_semantic_close(q.loaded.segment(other), q.reference.segment(other),
                          agree=0.999, conf_tol=1e-4)


@pytest.mark.parametrize("name", INSTANCE + SEMANTIC)
def test_segment_batch_matches_segment(zoo, name):
    seg = zoo.get(name).loaded
    frames = [zoo.frame_for(name), frame((96, 64), "flat")]
    if name in SEMANTIC:  # frames of one size share a forward pass
        frames.insert(1, frame(SEMANTIC_SIZE, "stacked"))
    batch = seg.segment_batch(frames)
    assert len(batch) == len(frames) and seg.segment_batch([]) == []
    for fr, got in zip(frames, batch):
        (check_instances if name in INSTANCE else check_semantic)(got, seg, fr)
    # The largest frame is not padded in the batch: its result is as if alone.
    if name in INSTANCE:
        assert_instances_close(batch[0], zoo.output(name), score_tol=1e-4, box_tol=0.05, mask_px=3)
    else:
        assert_semantic_close(batch[0], zoo.output(name), agree=0.999, conf_tol=1e-4)


@pytest.mark.parametrize("name", INSTANCE + SEMANTIC)
def test_saved_meta_schema(zoo, name):
    """What save_weights / the exporters store lets the builder rebuild the model."""
    p = zoo.get(name)
    side = json.loads(sidecar_path(p.path).read_text())
    assert side["sha256"] == file_sha256(p.path) and side["file"] == p.path.name
    meta = side["meta"]
    assert set(META_KEYS) <= set(meta) and meta["arch"] == name
    assert meta["in_channels"] == 3 and isinstance(meta["num_params"], int)
    seg = p.loaded
    background = ("__background__",) if name in INSTANCE else ()
    assert tuple(meta["categories"]) == background + tuple(seg.class_names)
    if name not in EXPORTED_FROM:
        assert meta["num_params"] == sum(t.numel() for t in seg.model.parameters())
        assert meta == seg.meta  # the loaded model describes itself as the saved one


# --------------------------------------------------------------------------- bad weights

def _donor(name: str) -> str:
    return {"unet": "lraspp", "onnx": "onnx_semantic", "onnx_semantic": "onnx"}.get(name, "unet")


@pytest.mark.parametrize("name", INSTANCE + SEMANTIC)
def test_weights_of_another_architecture_are_refused(zoo, tmp_path, name):
    donor = zoo.get(_donor(name))
    config = {k: v for k, v in CONFIG[name].items()}
    with pytest.raises(WeightsError, match=f"for the '{donor.name}' backend, not '{name}'"):
        build(name, weights=str(donor.path), **config)
    # Without meta the keys (or the ONNX layout) tell.
    bare = tmp_path / f"bare{donor.path.suffix}"
    if name in EXPORTED_FROM:
        shutil.copy(donor.path, bare)
        import onnx

        model = onnx.load(str(bare))
        del model.metadata_props[:]
        onnx.save(model, str(bare))
        with pytest.raises(WeightsError, match=f"does not have the '{name}' layout"):
            build(name, weights=str(bare), **config)
    else:
        bare = tmp_path / "bare.pt"
        torch.save(donor.reference.model.state_dict(), bare)
        with pytest.raises(WeightsError, match=r"do not fit this model's architecture \(keys missing: "):
            build(name, weights=str(bare), **config)


@pytest.mark.parametrize("name", INSTANCE + SEMANTIC)
def test_missing_corrupt_and_tampered_weights(zoo, tmp_path, name):
    suffix = zoo.get(name).path.suffix
    with pytest.raises(WeightsError, match="nope.*does not exist"):
        build(name, weights=str(tmp_path / f"nope{suffix}"), **CONFIG[name])
    junk = tmp_path / f"junk{suffix}"
    junk.write_bytes(b"\x00\x01 not weights " * 50)
    with pytest.raises(WeightsError, match="junk"):
        build(name, weights=str(junk), **CONFIG[name])
    # A copy with its sidecar, then truncated: the checksum catches it.
    good = zoo.get(name).path
    copy = tmp_path / f"copy{suffix}"
    copy.write_bytes(good.read_bytes()[:-100])
    shutil.copy(sidecar_path(good), sidecar_path(copy))
    with pytest.raises(WeightsError, match="sha256"):
        build(name, weights=str(copy), **CONFIG[name])


class _Marker:
    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):  # noqa: ANN204
        return (open, (self.path, "w"))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
@pytest.mark.parametrize("name", [n for n in INSTANCE + SEMANTIC if n not in EXPORTED_FROM])
def test_malicious_checkpoint_through_the_builder_runs_nothing(tmp_path, name):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    torch.save({"backbone.weight": torch.zeros(1), "x": _Marker(marker)}, evil)
    with pytest.raises(WeightsError, match="could run code"):
        build(name, weights=str(evil), **CONFIG[name])
    assert not marker.exists()


def test_onnx_backends_need_a_model_file():
    for name in EXPORTED_FROM:
        with pytest.raises(WeightsError, match="needs weights=<path to an .onnx file>"):
            build(name)


# --------------------------------------------------------------------------- options

def test_class_names_graspable_filter_and_conflicts(tmp_path):
    fr = frame(INSTANCE_SIZE)
    torch.manual_seed(0)
    seg = build_instance_segmenter("maskrcnn_mobilenet", class_names=["mug", "box"], **_TINY_RCNN)
    spread_init(seg, fr)
    with torch.no_grad():  # class scores that depend on the region: both classes show
        torch.nn.init.normal_(seg.model.roi_heads.box_predictor.cls_score.weight, std=0.5)
    assert seg.class_names == ("mug", "box") and seg.categories[0] == "__background__"
    path = tmp_path / "two.safetensors"
    save_weights(seg.model.state_dict(), path, seg.meta)
    everything = seg.segment(fr)
    assert set(everything.class_names) == {"mug", "box"}
    boxes_only = build_instance_segmenter("maskrcnn_mobilenet", weights=str(path),
                                          graspable_classes="box", **_TINY_RCNN).segment(fr)
    assert set(boxes_only.class_names) == {"box"}
    assert len(boxes_only) == sum(c == "box" for c in everything.class_names)
    renamed = build_instance_segmenter("maskrcnn_mobilenet", weights=str(path),
                                       class_names=["cup", "carton"], **_TINY_RCNN)
    assert renamed.class_names == ("cup", "carton")
    with pytest.raises(ConfigError, match="graspable_classes \\['plate'\\]"):
        build_instance_segmenter("maskrcnn_mobilenet", weights=str(path),
                                 graspable_classes=["plate"], **_TINY_RCNN)
    with pytest.raises(ConfigError, match="class_names gives 3 object classes but the weights have 2"):
        build_instance_segmenter("maskrcnn_mobilenet", weights=str(path),
                                 class_names=["a", "b", "c"], **_TINY_RCNN)
    with pytest.raises(ConfigError, match="in_channels=4 conflicts with the weights"):
        build_instance_segmenter("maskrcnn_mobilenet", weights=str(path), in_channels=4,
                                 **_TINY_RCNN)
    with pytest.raises(ConfigError, match="backbone='mobilenet_v3_small' conflicts"):
        build_instance_segmenter("maskrcnn_mobilenet", weights=str(path),
                                 backbone="mobilenet_v3_small", **_TINY_RCNN)
    with pytest.raises(ConfigError, match="score_threshold=1.5"):
        build_instance_segmenter("maskrcnn_mobilenet", score_threshold=1.5)
    # Raising the threshold later filters without a rebuild.
    seg.score_threshold = float(everything.scores[2])
    assert len(seg.segment(fr)) == 3


def test_rgbd_input_uses_depth_and_round_trips(tmp_path):
    fr = frame(INSTANCE_SIZE)
    far = type(fr)(rgb=fr.rgb, depth=fr.depth + 0.5, intrinsics=fr.intrinsics)
    torch.manual_seed(2)
    seg = build_instance_segmenter("maskrcnn_mobilenet", in_channels=4, **_TINY_RCNN)
    spread_init(seg, fr)
    first = seg.model.backbone.body["0"][0]
    assert first.in_channels == 4 and seg.model.transform.image_mean[3] == 1.0
    path = tmp_path / "rgbd.safetensors"
    save_weights(seg.model.state_dict(), path, seg.meta)
    loaded = build_instance_segmenter("maskrcnn_mobilenet", weights=str(path), **_TINY_RCNN)
    assert loaded.in_channels == 4  # from the sidecar
    a, b = seg.segment(fr), loaded.segment(fr)
    assert len(a) > 0 and np.array_equal(a.masks, b.masks) and np.array_equal(a.scores, b.scores)
    assert not np.array_equal(loaded.segment(far).scores, a.scores)  # depth reaches the model
    # The semantic side, through ONNX too.
    unet = build_semantic_segmenter("unet", in_channels=4, base_channels=8, depth=3)
    small = frame(SEMANTIC_SIZE)
    onnx_path = tmp_path / "unet4.onnx"
    export_semantic_onnx(unet, onnx_path, width=SEMANTIC_SIZE[0], height=SEMANTIC_SIZE[1])
    ort_seg = build_semantic_segmenter("onnx_semantic", weights=str(onnx_path))
    assert ort_seg.in_channels == 4 and ort_seg.size_multiple == 8
    assert_semantic_close(ort_seg.segment(small), unet.segment(small), agree=0.999, conf_tol=1e-4)


def test_fp16_is_ignored_with_a_warning_on_the_cpu():
    with pytest.warns(RuntimeWarning, match="fp16 is CUDA only"):
        seg = build_semantic_segmenter("unet", fp16=True, device="cpu")
    assert seg.fp16 is False
    with pytest.warns(RuntimeWarning, match="fp16 is CUDA only"):
        seg = build_instance_segmenter("maskrcnn_mobilenet", fp16=True, device="cpu")
    assert seg.fp16 is False


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["unet", "maskrcnn_mobilenet"])
def test_fp16_on_cuda_runs_half_precision(zoo, name):
    p = zoo.get(name)
    seg = build(name, weights=str(p.path), device="cuda", fp16=True, **CONFIG[name])
    assert seg.fp16 is True
    dtypes = []
    head = seg.model.head if name == "unet" else seg.model.backbone
    head.register_forward_hook(lambda m, i, o: dtypes.append(
        o.dtype if torch.is_tensor(o) else next(iter(o.values())).dtype))
    fr = zoo.frame_for(name)
    out = seg.segment(fr)
    assert dtypes == [torch.float16]
    if name == "unet":
        check_semantic(out, seg, fr)
        assert (out.labels == zoo.expected(name).labels).mean() > 0.8
    else:
        check_instances(out, seg, fr)


def test_unet_module_contract():
    net = UNet(in_channels=3, num_classes=len(LAYOUT_CLASSES))
    assert 1_000_000 < sum(p.numel() for p in net.parameters()) < 2_500_000
    assert net(torch.zeros(2, 3, 32, 48)).shape == (2, 5, 32, 48)
    with pytest.raises(ValueError, match="multiple of 16"):
        net(torch.zeros(1, 3, 30, 48))
    seg = build_semantic_segmenter("unet")
    assert seg.class_names == LAYOUT_CLASSES and seg.size_multiple == 16
    odd = frame((100, 70))  # padded to 112x80 inside, cropped back
    check_semantic(seg.segment(odd), seg, odd)


# --------------------------------------------------------------------------- torchvision weights

def _fake_hub(monkeypatch, state):  # noqa: ANN001, ANN202
    calls = []

    def load(url, **kwargs):  # noqa: ANN001, ANN003, ANN202
        calls.append(url)
        return {k: v.clone() for k, v in state.items()}

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", load)
    return calls


def test_torchvision_semantic_weights_through_the_hub(monkeypatch):
    from torchvision.models import segmentation

    torch.manual_seed(3)
    # torchvision's checkpoint layout, training-only aux head included.
    tv = segmentation.deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None,
                                                   num_classes=21, aux_loss=True)
    state = tv.state_dict()
    assert any(k.startswith("aux_classifier.") for k in state)
    calls = _fake_hub(monkeypatch, state)
    seg = build_semantic_segmenter("deeplabv3", weights="torchvision:DEFAULT")
    assert calls == [segmentation.DeepLabV3_MobileNet_V3_Large_Weights.DEFAULT.url]
    assert seg.class_names == VOC_CLASSES and seg.resize_size == 520
    assert seg.meta["source"].endswith("DeepLabV3_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1")
    assert torch.equal(seg.model.classifier[4].weight, state["classifier.4.weight"])
    # RGB-D from RGB weights: the colour filters are kept, depth is added.
    rgbd = build_semantic_segmenter("deeplabv3", weights="torchvision:DEFAULT", in_channels=4)
    conv = rgbd.model.backbone["0"][0]
    assert conv.in_channels == 4
    assert torch.equal(conv.weight[:, :3], state["backbone.0.0.weight"])
    out = rgbd.segment(frame(SEMANTIC_SIZE))
    assert out.labels.shape == (SEMANTIC_SIZE[1], SEMANTIC_SIZE[0])


def test_torchvision_maskrcnn_weights_through_the_hub(monkeypatch):
    from torchvision.models import detection
    from torchvision.ops import misc

    torch.manual_seed(4)
    source = build_instance_segmenter("maskrcnn", num_classes=91, **_TINY_RCNN)
    calls = _fake_hub(monkeypatch, source.model.state_dict())
    seg = build_instance_segmenter("maskrcnn", weights="torchvision:COCO_V1", **_TINY_RCNN)
    assert calls == [detection.MaskRCNN_ResNet50_FPN_Weights.COCO_V1.url]
    assert len(seg.categories) == 91 and seg.class_names[0] == "person"
    eps = {m.eps for m in seg.model.modules() if isinstance(m, misc.FrozenBatchNorm2d)}
    assert eps == {0.0} and seg.meta["config"]["frozen_bn_eps"] == 0.0
    with pytest.raises(WeightsError, match="publishes no Mask R-CNN weights"):
        build_instance_segmenter("maskrcnn_mobilenet", weights="torchvision:DEFAULT")


def test_torchvision_weights_offline_is_a_weights_error(monkeypatch):
    def offline(url, **kwargs):  # noqa: ANN001, ANN003, ANN202
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(WeightsError, match="pass a local file"):
        build_semantic_segmenter("lraspp", weights="torchvision:DEFAULT")
    with pytest.raises(WeightsError, match="has no LRASPP_MobileNet_V3_Large_Weights.V9"):
        build_semantic_segmenter("lraspp", weights="torchvision:V9")


def test_onnx_providers_are_selectable(zoo):
    path = str(zoo.get("onnx_semantic").path)
    seg = build_semantic_segmenter("onnx_semantic", weights=path,
                                   providers=["CPUExecutionProvider"], num_threads=1)
    assert seg.providers == ("CPUExecutionProvider",) and seg.device == "cpu"
    with pytest.raises(ConfigError, match="not available here"):
        build_semantic_segmenter("onnx_semantic", weights=path,
                                 providers=["NoSuchExecutionProvider"])
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        with pytest.warns(RuntimeWarning, match="no CUDA provider"):
            seg = build_semantic_segmenter("onnx_semantic", weights=path, device="cuda")
        assert seg.device == "cpu"
    else:
        seg = build_semantic_segmenter("onnx_semantic", weights=path, device="cuda")
        assert seg.device.startswith("cuda") and "CUDAExecutionProvider" in seg.providers
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_semantic_segmenter("onnx_semantic", weights=path, device="cpu")


@pytest.mark.parametrize("mask_shape", [(0,), (0, 1, 48, 64), (0, 48, 64)])
def test_no_detections_give_empty_instances(mask_shape):
    from seg_perception.segmenters.mask_rcnn import detections_to_instances

    out = detections_to_instances(np.zeros((0, 4)), np.zeros(0), np.zeros(0), np.zeros(mask_shape),
                                  height=48, width=64, categories=("__background__", "object"),
                                  score_threshold=0.5, mask_threshold=0.5)
    assert len(out) == 0 and out.masks.shape == (0, 48, 64)
