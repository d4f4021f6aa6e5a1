"""`seg-perception` command line: dispatch, help, backends, export-dataset -> eval, replay.

Every run is small (2 frames of 160x120) so each test takes a few seconds.
"""
from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from seg_perception.cli import COMMANDS, main
from seg_perception.segmenters import list_instance_segmenters, list_semantic_segmenters
from seg_perception.sim.synthetic import preset_objects, render_scene

W, H = 160, 120
CHEAP = ["--semantic-backend", "none", "--device", "cpu"]


# ----------------------------------------------------------------------------- dispatch


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_lists_every_command(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([flag]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: seg-perception")
    for name, (_, help_text) in COMMANDS.items():
        assert name in out and help_text[:30] in out


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: seg-perception" in capsys.readouterr().out


def test_unknown_command_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["frobnicate", "--frames", "2"])
    assert info.value.code == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_sub_command_help_and_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["export-dataset", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: seg-perception export-dataset")
    for option in ("--frames", "--width", "--hard-cases", "--no-depth-noise"):
        assert option in out
    with pytest.raises(SystemExit) as info:
        main(["export-dataset", "x", "--frames", "two"])
    assert info.value.code == 2
    assert "--frames: invalid int value: 'two'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["eval"])  # the dataset argument is required
    assert info.value.code == 2 and "required: dataset" in capsys.readouterr().err


def test_backends_lists_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backends"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["instance: " + ", ".join(list_instance_segmenters()),
                     "semantic: " + ", ".join(list_semantic_segmenters())]
    assert "geometric" in lines[0].split(": ")[1].split(", ")
    assert "geometric_layout" in lines[1].split(": ")[1].split(", ")


# ----------------------------------------------------------------------------- export + eval


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("cli") / "sim"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        rc = main(["export-dataset", str(out), "--frames", "2", "--seed", "3", "--width", str(W),
                   "--height", str(H), "--objects", "2,3", "--no-shadows"])
    assert rc == 0
    return out, buffer.getvalue()


def test_export_dataset_writes_a_coco_rgbd_folder(exported: tuple[Path, str]) -> None:
    out, printed = exported
    coco = json.loads((out / "annotations.json").read_text())
    assert len(coco["images"]) == 2
    assert f"2 images, {len(coco['annotations'])} objects -> {out}" in printed
    # --objects 2,3: every frame has 2 or 3 objects.
    per_image = [sum(a["image_id"] == im["id"] for a in coco["annotations"])
                 for im in coco["images"]]
    assert all(2 <= n <= 3 for n in per_image)
    assert coco["info"]["config"]["width"] == W and coco["info"]["config"]["height"] == H
    for im in coco["images"]:
        assert (im["width"], im["height"]) == (W, H)
        rgb = cv2.imread(str(out / im["file_name"]), cv2.IMREAD_UNCHANGED)
        depth = cv2.imread(str(out / im["depth_file"]), cv2.IMREAD_UNCHANGED)
        assert rgb.shape == (H, W, 3) and depth.shape == (H, W) and depth.dtype == np.uint16
    assert (out / "depth_gt").is_dir()  # sensor noise is on by default: exact depth kept too


def test_export_dataset_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "exact"
    assert main(["export-dataset", str(out), "--frames", "1", "--width", "96", "--height", "72",
                 "--objects", "1,1", "--hard-cases", "", "--no-depth-noise",
                 "--no-shadows"]) == 0
    coco = json.loads((out / "annotations.json").read_text())
    assert len(coco["images"]) == 1 and len(coco["annotations"]) == 1
    assert coco["info"]["config"]["depth_noise"] is False
    assert not (out / "depth_gt").exists()
    assert "1 images, 1 objects" in capsys.readouterr().out


def test_eval_on_the_exported_dataset(exported: tuple[Path, str], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    data, _ = exported
    out = tmp_path / "eval"
    assert main(["eval", str(data), "--out", str(out), "--quiet", "--no-plots", *CHEAP]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["dataset"] == f"{data} (coco)"
    geo = report["backends"]["geometric"]
    overall = geo["overall"]
    assert overall["num_frames"] == 2
    # The numbers are the library's for the same pipeline settings and protocol.
    from seg_perception.config import PipelineConfig
    from seg_perception.evaluation import evaluate_dataset
    from seg_perception.pipeline import Pipeline
    from seg_perception.sim.dataset import CocoRGBDDataset

    config = PipelineConfig.from_mapping(geo["settings"]["pipeline_config"], strict=False)
    library = evaluate_dataset(Pipeline(config), CocoRGBDDataset(data), min_segment_depth=0.5,
                               progress=False).overall
    for key in ("AP", "AP50", "overlap_f", "boundary_f", "obj_detected_075_percentage"):
        assert overall[key] == pytest.approx(library[key], abs=1e-12), key
    assert geo["settings"]["pipeline_config"]["semantic_backend"] == "none"
    assert (out / "report.md").read_text().startswith("# Segmentation evaluation")
    assert not (out / "plots").exists()
    # The published protocol, with UCN's OCID threshold for simulated sensor depth.
    assert geo["settings"]["protocol"] == "standard"
    assert geo["settings"]["min_segment_depth"] == 0.5
    printed = capsys.readouterr().out
    assert "protocol: `standard` (OSD/OCID, UOIS-Net/UCN): ground truth scored in full" in printed
    # The printed line carries the report's numbers.
    line = next(ln for ln in printed.splitlines() if ln.startswith("geometric:"))
    assert "frames=2" in line
    for label, key in (("AP", "AP"), ("AP50", "AP50"), ("overlap F", "overlap_f")):
        value = float(re.search(rf" {label}=([0-9.]+)", line).group(1))
        assert value == pytest.approx(overall[key], abs=5e-4), label
    assert f"wrote {out / 'report.md'} and {out / 'report.json'}" in printed


def test_eval_max_frames_and_missing_folder(exported: tuple[Path, str], tmp_path: Path) -> None:
    data, _ = exported
    out = tmp_path / "one"
    assert main(["eval", str(data), "--out", str(out), "--quiet", "--no-plots", "--max-frames",
                 "1", *CHEAP]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["backends"]["geometric"]["overall"]["num_frames"] == 1
    with pytest.raises(SystemExit, match="is not a folder"):
        main(["eval", str(tmp_path / "nothing"), "--quiet"])


# ----------------------------------------------------------------------------- replay


def test_replay_an_image_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "frames"
    scene = render_scene(preset_objects("separated"), W, H)
    for name in ("f0", "f1"):  # the same view twice: tracks continue
        (src / "rgb").mkdir(parents=True, exist_ok=True)
        (src / "depth").mkdir(exist_ok=True)
        cv2.imwrite(str(src / "rgb" / f"{name}.png"), scene.frame.rgb[:, :, ::-1])
        cv2.imwrite(str(src / "depth" / f"{name}.png"),
                    np.round(scene.frame.depth * 1000).astype(np.uint16))
    K = scene.frame.intrinsics
    out = tmp_path / "out"
    assert main(["replay", str(src), "--out", str(out), "--fx", str(K.fx), "--fy", str(K.fy),
                 "--cx", str(K.cx), "--cy", str(K.cy), *CHEAP]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["source"] == str(src) and summary["frames"] == 2
    assert summary["objects_per_frame"] == len(scene.objects) == 3
    assert {"instance", "geometry", "tracking", "total"} <= set(summary["mean_ms"])
    assert "semantic" not in summary["mean_ms"]  # --semantic-backend none
    assert "2 frames, 3.0 objects/frame" in capsys.readouterr().out
    scenes = [json.loads((out / "scenes" / f"{n}.json").read_text()) for n in ("f0", "f1")]
    assert [o["age"] for o in scenes[1]["objects"]] == [2, 2, 2]
    assert ([o["track_id"] for o in scenes[0]["objects"]]
            == [o["track_id"] for o in scenes[1]["objects"]])
    for name, s in zip(("f0", "f1"), scenes):
        overlay = cv2.imread(str(out / "overlays" / f"{name}.png"))
        assert overlay.shape == (H, W, 3)
        # One cloud of all objects, a label per point: track id + 1.
        raw = (out / "clouds" / f"{name}.ply").read_bytes()
        count = int(re.search(rb"element vertex (\d+)", raw).group(1))
        assert count == sum(o["num_points"] for o in s["objects"]) > 0
        end = raw.index(b"end_header\n") + len(b"end_header\n")
        data = np.frombuffer(raw[end:], dtype=[("xyz", "<f4", 3), ("rgb", "u1", 3),
                                               ("label", "<i4")])
        assert sorted(set(data["label"].tolist())) == sorted(o["track_id"] + 1
                                                             for o in s["objects"])


def test_replay_max_frames_and_intrinsics_file(tmp_path: Path) -> None:
    src = tmp_path / "frames"
    src.mkdir()
    scene = render_scene(preset_objects("stacked"), W, H)
    for name in ("a", "b", "c"):
        cv2.imwrite(str(src / f"{name}_rgb.png"), scene.frame.rgb[:, :, ::-1])
        cv2.imwrite(str(src / f"{name}_depth.png"),
                    np.round(scene.frame.depth * 1000).astype(np.uint16))
    K = scene.frame.intrinsics
    (src / "intrinsics.json").write_text(json.dumps({"fx": K.fx, "fy": K.fy, "cx": K.cx,
                                                     "cy": K.cy}))
    out = tmp_path / "out"
    assert main(["replay", str(src), "--out", str(out), "--max-frames", "1", *CHEAP]) == 0
    assert json.loads((out / "summary.json").read_text())["frames"] == 1
    assert sorted(p.name for p in (out / "scenes").iterdir()) == ["a.json"]
