"""``seg-perception bench --against TREE``: this checkout's pipeline against another
source tree's on the same frames (issue 19 item 4: speed before / after)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from seg_perception.benchmark import render_bench_frames
from seg_perception.benchmark.against import compare_trees, markdown_against
from seg_perception.tools import bench

SIZE = (160, 120)
THIS = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def frames():
    return render_bench_frames(*SIZE, scenes=1, frames_per_scene=2, source="synthetic")


@pytest.fixture(scope="module")
def copy_of_this(tmp_path_factory):
    # "Another tree": a copy of this package, so the two turns run the same code from
    # two places (the child must import each tree's own package, not this one).
    root = tmp_path_factory.mktemp("other")
    shutil.copytree(THIS / "seg_perception", root / "seg_perception",
                    ignore=shutil.ignore_patterns("__pycache__", "msg"))
    return root


def test_both_trees_run_in_turns_on_the_same_frames(frames, copy_of_this):
    result = compare_trees(frames, copy_of_this, rounds=2, iterations=3, warmup=1, stream=4,
                           progress=False)
    other, this = result["trees"]["other"], result["trees"]["this"]
    assert other["path"] == str(copy_of_this.resolve())
    assert this["path"] == str(THIS)
    assert len(other["p50_ms"]) == len(this["mean_ms"]) == len(this["fps"]) == 2
    assert min(other["p50_ms"] + this["p50_ms"] + other["mean_ms"] + other["fps"]) > 0
    # Same code, same frames: the same objects found, whichever tree.
    assert other["found_mean"] == this["found_mean"] > 0
    assert result["ratio_p50"] == pytest.approx(this["median_p50_ms"] / other["median_p50_ms"],
                                                abs=1e-3)
    assert result["ratio_fps"] == pytest.approx(this["median_fps"] / other["median_fps"],
                                                abs=1e-3)
    # Each frame timed on its own: both frames, in each tree, in every turn.
    assert len(this["per_frame_ms"]) == len(frames) and all(this["per_frame_ms"])
    ratios = [t / o for t, o in zip(this["per_frame_ms"], other["per_frame_ms"], strict=True)]
    assert result["ratio_per_frame"] == pytest.approx(float(np.exp(np.mean(np.log(ratios)))),
                                                      abs=1e-3)
    text = markdown_against(result)
    assert str(copy_of_this.resolve()) in text and "this / other" in text
    assert "stream rate" in text and "Each frame's median" in text


def test_a_tree_without_the_package_is_refused_with_what_to_give(tmp_path, frames):
    with pytest.raises(FileNotFoundError, match="no seg_perception/ package"):
        compare_trees(frames, tmp_path, rounds=1, iterations=1, progress=False)


def test_a_tree_whose_pipeline_fails_is_named_with_its_error(tmp_path, frames):
    (tmp_path / "seg_perception").mkdir()
    (tmp_path / "seg_perception" / "__init__.py").write_text("raise ImportError('broken tree')\n")
    with pytest.raises(RuntimeError, match="broken tree") as info:
        compare_trees(frames, tmp_path, rounds=1, iterations=1, progress=False)
    assert str(tmp_path) in str(info.value)


def test_the_cli_writes_the_table_and_json(tmp_path, copy_of_this, capsys):
    import argparse

    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    out = tmp_path / "against"
    args = parser.parse_args(["--against", str(copy_of_this), "--rounds", "1", "--frames", "2",
                              "--sizes", "160x120", "--source", "synthetic", "--no-progress",
                              "--stream-frames", "0", "--out", str(out)])
    assert bench.run(args) == 0
    saved = json.loads((out / "against.json").read_text())
    assert saved["frames"]["size"] == "160x120" and saved["rounds"] == 1
    assert saved["ratio_fps"] is None and saved["trees"]["this"]["fps"] == []  # no stream
    assert "| this |" in (out / "against.md").read_text()
    assert "this / other" in capsys.readouterr().out
    args.against = str(tmp_path / "nowhere")
    assert bench.run(args) == 2
