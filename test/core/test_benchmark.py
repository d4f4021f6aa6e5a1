"""The benchmark core in quick mode on tiny frames: report structure and files, no timing asserts."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from seg_perception.benchmark import (
    BASELINE_STAGES,
    PIPELINE_STAGES,
    BenchConfig,
    naive_baseline,
    parse_size,
    render_bench_frames,
    run_benchmark,
    stage_shares,
)
from seg_perception.sim.synthetic import preset_objects, render_scene

SIZE = (160, 120)


def _fake_node_runner(frames, *, rates, step_s, progress, log_path):
    """Stands in for the ROS rate sweep: the shape run_rate_sweep returns."""
    assert frames and frames[0].size == SIZE and not progress
    steps = [{"rate_hz": r, "sent": 10, "published_hz": r, "received": 10 if r < 10 else 7,
              "output_hz": min(r, 8.0), "node_dropped": 0 if r < 10 else 3, "lost_other": 0,
              "node_skipped": 0, "node_errors": 0,
              "latency_ms": {"p50": 100.0 + r, "p95": 120.0 + r, "mean": 101.0, "max": 130.0,
                             "n": 10},
              "node_pipeline_ms": {"p50": 96.0, "p95": 110.0, "mean": 97.0, "max": 115.0, "n": 10},
              "overhead_ms": {"p50": 4.0 + r, "p95": 8.0 + r, "mean": 5.0, "max": 9.0, "n": 10},
              "node_cpu_percent": 50.0, "node_rss_mb": 300.0, "sustained": r < 10}
             for r in rates]
    return {"mode": "fake", "latency_ms": steps[0]["latency_ms"], "latency_rate_hz": rates[0],
            "node_pipeline_ms": steps[0]["node_pipeline_ms"],
            "overhead_per_frame_ms": steps[0]["overhead_ms"],
            "throughput_hz": 8.0, "highest_rate_without_drops_hz": 5.0, "steps": steps}


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    config = BenchConfig.quick_preset(sizes=(SIZE,), frames=3, warmup=1, baseline_frames=2,
                               frame_source="synthetic", scenes=1, frames_per_scene=2,
                               learned_models=("yolo_seg", "unet"), onnx=True,
                               node_size=SIZE, node_rates=(5.0, 10.0))
    report = run_benchmark(config, out, node_runner=_fake_node_runner, progress=False, log=None)
    return report, out


def test_report_files_are_written_and_json_round_trips(bench):
    _, out = bench
    for name in ("bench.json", "bench.md", "stages.png", "frame_latency.png", "node_rates.png",
                 "learned.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    on_disk = json.loads((out / "bench.json").read_text())
    assert set(on_disk) == {"meta", "frames", "pipeline", "stream", "baseline", "node", "learned",
                            "targets"}
    md = (out / "bench.md").read_text()
    for heading in ("## Targets", "## Bare pipeline", "Where the time goes", "## Stream throughput",
                    "## Naive baseline",
                    "## perception_node over DDS", "## Learned models"):
        assert heading in md


def test_stream_section_counts_every_frame_through_the_workers(bench):
    report, _ = bench
    (stream,) = report["stream"]  # quick preset: 2 workers, first size only
    assert stream["workers"] == 2 and stream["iterations"] == 3 and stream["fps"] > 0
    assert stream["latency_ms"]["n"] == 3 and 0 < stream["latency_ms"]["p50"]
    assert stream["objects_found_mean"] > 0


def test_pipeline_section_has_every_stage_with_positive_numbers(bench):
    report, _ = bench
    key = f"{SIZE[0]}x{SIZE[1]}"
    pipe = report["pipeline"][key]
    assert set(PIPELINE_STAGES) <= set(pipe["stages"])
    for stage in ("conversion", "instance", "semantic", "total", "end_to_end"):
        s = pipe["stages"][stage]
        assert s["n"] == 3 and 0 < s["p50"] <= s["p95"] <= s["max"]
    assert pipe["stages"]["end_to_end"]["p50"] >= pipe["stages"]["total"]["p50"] * 0.99
    assert pipe["fps"] > 0 and pipe["fps_mean"] > 0 and pipe["rss_peak_mb"] > 0
    assert pipe["cpu_percent"] >= 0 and len(pipe["per_frame_ms"]) == 3
    assert pipe["objects_found_mean"] > 0 and pipe["objects_true_mean"] > 0
    assert pipe["backends"] == {"instance": "geometric", "semantic": "geometric_layout"}
    assert "merge" in pipe["instance_substages"]  # the geometric segmenter's own stages
    shares = stage_shares(pipe)
    assert abs(sum(share for _, _, share in shares) - 1.0) < 1e-6
    # The default layout runs after the 3D stage (CPU): counted whole, not "beyond".
    assert pipe["layout_thread"] is False
    layout = [ms for name, ms, _ in shares if name.startswith("semantic")]
    assert layout == [pytest.approx(pipe["stages"]["semantic"]["mean"])]


def test_baseline_section_and_speedup(bench):
    report, _ = bench
    key = f"{SIZE[0]}x{SIZE[1]}"
    base = report["baseline"][key]
    assert set(base) == {"voxel"}  # quick mode skips the full-cloud variant
    v = base["voxel"]
    assert set(BASELINE_STAGES) <= set(v["stages"])
    assert v["stages"]["end_to_end"]["p50"] > 0 and v["fps"] > 0
    ours = report["pipeline"][key]["stages"]["end_to_end"]["p50"]
    assert v["speedup_of_ours"] == pytest.approx(v["stages"]["end_to_end"]["p50"] / ours, rel=0.01)


def test_node_section_gets_overhead_against_the_bare_pipeline(bench):
    report, _ = bench
    node = report["node"]
    assert node["size"] == "160x120" and node["highest_rate_without_drops_hz"] == 5.0
    bare = report["pipeline"]["160x120"]["stages"]["end_to_end"]["p50"]
    assert node["bare_pipeline_p50_ms"] == bare
    assert node["overhead_p50_ms"] == pytest.approx(105.0 - bare, abs=0.01)
    assert node["overhead_paired_p50_ms"] == 9.0  # per frame, from the runner (5 Hz step)
    overhead = next(t for t in report["targets"] if t["target"].startswith("node overhead"))
    # Issue 21's bar is 5 ms per frame.
    assert overhead["reached"] is False and "9.0 ms per frame" in overhead["measured"]


@pytest.mark.parametrize("own, reached", [(4.4, True), (5.2, False)])
def test_node_overhead_is_judged_without_the_bench_cameras_sending(own, reached):
    """The bench camera's own sending (rclpy converting its Python messages) is not the
    node's overhead: the bar applies to what is left; both numbers are shown."""
    from seg_perception.benchmark.targets import report_targets

    report = _fabricated_report(overhead=5.6)
    report["node"]["node_overhead_p50_ms"] = own
    (row,) = [t for t in report_targets(report, BenchConfig.quick_preset())
              if t["target"].startswith("node overhead")]
    assert row["reached"] is reached
    assert f"{own:.1f} ms per frame (e2e - the node's own pipeline time - the bench camera" \
        in row["measured"]
    assert "5.6 ms per frame with the camera's sending" in row["measured"]


def test_learned_section_times_onnx_and_marks_fp16_on_cpu(bench):
    report, _ = bench
    learned = report["learned"]
    assert learned["device"] == "cpu" and not learned["cuda"]
    by_name = {m["name"]: m for m in learned["models"]}
    assert set(by_name) == {"yolo_seg", "unet"}
    assert "maskrcnn" in learned["skipped"]
    yolo, unet = by_name["yolo_seg"]["runs"], by_name["unet"]["runs"]
    assert yolo["onnx"]["latency_ms"]["p50"] > 0 and "detections_mean" in yolo["onnx"]
    assert unet["fp32"]["latency_ms"]["p50"] > 0 and unet["onnx"]["latency_ms"]["p50"] > 0
    assert unet["onnx"]["export_s"] > 0
    assert yolo["fp16"].startswith("n/a") and unet["fp16"].startswith("n/a")
    pair = learned["pairs"][0]
    assert (pair["instance"], pair["semantic"]) == ("yolo_seg", "unet") and pair["fps"] > 0
    gpu = next(t for t in report["targets"] if "GPU" in t["target"])
    assert gpu["reached"] is None and "no CUDA" in gpu["measured"]


def test_targets_are_reported_not_asserted_and_name_640x480():
    config = BenchConfig.quick_preset(sizes=(SIZE,), frames=1, warmup=0, baseline_frames=1,
                               frame_source="synthetic", scenes=1, frames_per_scene=1,
                               learned=False, node=False)
    report = run_benchmark(config, None, progress=False, log=None)
    assert report["node"] is None and report["learned"] is None
    # Targets are defined at 640x480: a run without that size says so instead of guessing;
    # the node rows (overhead, 30 Hz, memory, start-up, heavy libraries) say "not run".
    assert [t["reached"] for t in report["targets"]] == [None] * 7
    assert sum(t["measured"] == "not run" for t in report["targets"]) == 6


def test_naive_baseline_finds_separated_objects_where_they_are():
    scene = render_scene(preset_objects("separated"), width=320, height=240)
    objects = naive_baseline(scene.frame, voxel_size=0.01)
    assert len(objects) == 3
    found = np.array([o["centroid"] for o in objects])
    truth = np.asarray(scene.visible_centroids())
    # Each true object has a cluster centroid within 3 cm (visible surface vs centroid).
    dists = np.linalg.norm(truth[:, None, :] - found[None, :, :], axis=2)
    assert (dists.min(axis=1) < 0.03).all()
    assert all(o["num_points"] >= 20 and min(o["extent"]) >= 0 for o in objects)


def test_render_bench_frames_synthetic_gives_driver_arrays():
    frames = render_bench_frames(*SIZE, scenes=1, frames_per_scene=3, source="synthetic")
    assert len(frames) == 3
    f = frames[0]
    assert f.rgb.dtype == np.uint8 and f.rgb.shape == (120, 160, 3)
    assert f.depth_mm.dtype == np.uint16 and f.depth_mm.max() > 0
    a, b = f.to_frame(stamp_ns=1), f.to_frame(stamp_ns=2)
    assert a is not b and a.stamp_ns == 1 and np.allclose(a.depth, f.depth_mm / 1000.0)


def test_config_validation_and_cli_flags():
    from seg_perception.tools import bench as tool

    assert BenchConfig().quick is False and BenchConfig.quick_preset().quick is True
    with pytest.raises(ValueError, match="ascending"):
        BenchConfig(node_rates=(10.0, 5.0))
    with pytest.raises(ValueError, match="640x480"):
        parse_size("640-480")
    parser = argparse.ArgumentParser()
    tool.add_arguments(parser)
    args = parser.parse_args(["--quick", "--sizes", "320x240,640x480", "--backends", "unet,lraspp",
                              "--skip-node", "--node-rates", "2,4"])
    config = tool.config_from_args(args)
    assert config.quick and config.sizes == ((320, 240), (640, 480))
    assert config.learned_models == ("unet", "lraspp") and not config.node
    assert config.node_rates == (2.0, 4.0) and config.node_size == (320, 240)
    assert not tool.config_from_args(parser.parse_args(["--backends", "none"])).learned


def test_yolo_seg_row_splits_the_backend_time_in_the_library(bench):
    """The YOLO-seg timing (once scripts/bench_yolo_seg.py) is the library's yolo_seg row."""
    report, out = bench
    yolo = next(m for m in report["learned"]["models"] if m["name"] == "yolo_seg")
    assert yolo["weights"].startswith("stand-in ONNX")
    parts = yolo["runs"]["onnx"]["parts_ms"]
    assert set(parts) == {"preprocess", "inference", "postprocess"}
    assert all(v > 0 for v in parts.values())
    assert sum(parts.values()) <= yolo["runs"]["onnx"]["latency_ms"]["max"] * 1.01
    md = (out / "bench.md").read_text()
    assert "- yolo_seg (onnx, stand-in ONNX" in md and "postprocess" in md


def test_bench_help_lists_soak_and_fuzz_and_no_library_loads_files_by_path(capsys):
    from pathlib import Path

    from seg_perception.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--soak", "--fuzz", "--fuzz-exclude", "--rate", "--yolo-weights"):
        assert flag in text
    # The library never runs scripts/ or test/ code by file path.
    root = Path(__file__).resolve().parents[2] / "seg_perception"
    assert not [p for p in root.rglob("*.py") if "spec_from_file_location" in p.read_text()]
    assert not (root.parent / "scripts" / "soak.py").exists()
    assert not (root.parent / "scripts" / "bench_yolo_seg.py").exists()


def test_soak_options_reach_the_soak_run(monkeypatch, tmp_path):
    """--soak routes to seg_perception.ros.soak with the script's options and defaults."""
    pytest.importorskip("rclpy")
    from seg_perception.ros import soak
    from seg_perception.tools import bench as tool

    seen = {}

    def fake_run_soak(frames, **kwargs):
        seen.update(kwargs, frames=len(frames), size=frames[0].size)
        return {"fake": True}

    monkeypatch.setattr(soak, "run_soak", fake_run_soak)
    monkeypatch.setattr(soak, "write_soak", lambda result, out: "soak table\n")
    parser = argparse.ArgumentParser()
    tool.add_arguments(parser)
    args = parser.parse_args(["--soak", "--frames", "7", "--rate", "4", "--size", "64x48",
                              "--source", "synthetic", "--frames-per-scene", "2",
                              "--out", str(tmp_path), "--no-progress"])
    assert tool.run(args) == 0
    assert seen["frames"] == 2 and seen["size"] == (64, 48)
    assert seen["count"] == 7 and seen["rate_hz"] == 4.0 and seen["warmup_frames"] == 150
    assert seen["window_s"] == 10.0 and not seen["in_process"] and not seen["progress"]
    assert seen["log_path"] == tmp_path / "node.log"


def _footprint(node_mb, worker_mb, libs=(), worker_libs=()):
    def entry(pid, mb, lib):
        return {"pid": pid, "rss_mb": mb, "pss_mb": mb * 0.7, "libraries": list(lib),
                "cmd": "python"}
    workers = [entry(11 + i, mb, worker_libs) for i, mb in enumerate(worker_mb)]
    return {"node": entry(10, node_mb, libs), "workers": workers,
            "other": [{"pid": 20, "rss_mb": 12.0, "pss_mb": 7.0, "libraries": [],
                       "cmd": "python -c from multiprocessing.resource_tracker import main"}],
            "workers_count": len(workers),
            "node_workers_rss_mb": node_mb + sum(worker_mb),
            "node_workers_pss_mb": 0.7 * (node_mb + sum(worker_mb)),
            "tree_rss_mb": node_mb + sum(worker_mb) + 12.0,
            "libraries": sorted(set(libs) | set(worker_libs))}


def _fabricated_report(*, e2e_p50=25.0, overhead=3.2, p95_30=80.0, peak=620.0, active=1.4,
                       worker_libs=()):
    lat = {"p50": 40.0, "p95": p95_30, "mean": 45.0, "max": 90.0, "n": 100}
    small = {"p50": 30.0, "p95": 35.0, "mean": 31.0, "max": 36.0, "n": 20}
    node = {"mode": "separate process", "size": "640x480", "latency_ms": small,
            "latency_rate_hz": 5.0, "node_pipeline_ms": small,
            "overhead_per_frame_ms": {**small, "p50": overhead},
            "overhead_paired_p50_ms": overhead, "overhead_p50_ms": 5.0,
            "bare_pipeline_p50_ms": 25.0, "throughput_hz": 29.0,
            "highest_rate_without_drops_hz": 20.0, "active_s": active,
            "startup_to_first_output_s": active + 0.6,
            "outputs_subscribed": [f"/perception_node/{t}" for t in
                                   ("detections", "detections_3d", "instance_labels", "markers",
                                    "objects", "objects_cloud", "overlay", "semantic_labels")],
            "output_counts": {"/perception_node/overlay": 120},
            "objects_only": {"rate_hz": 5.0, "sent": 20, "received": 20, "latency_ms": small,
                             "node_pipeline_ms": small, "overhead_ms": {**small, "p50": 2.5},
                             "overhead_parts_ms": {"publish": {**small, "p50": 1.5}}},
            "camera_30hz": {"rate_hz": 30.0, "sent": 120, "received": 100, "node_dropped": 20,
                            "lost_other": 0, "latency_ms": lat, "output_hz": 25.0},
            "footprint": {"at_active": _footprint(180.0, [60.0, 60.0]),
                          "after_sweep": _footprint(200.0, [150.0, 150.0],
                                                    worker_libs=worker_libs),
                          "peak_node_workers_rss_mb": peak,
                          "libraries": sorted(worker_libs)},
            "steps": [{"rate_hz": 30.0, "sent": 120, "published_hz": 30.0, "received": 100,
                       "output_hz": 25.0, "node_dropped": 20, "lost_other": 0,
                       "latency_ms": lat, "node_pipeline_ms": small, "overhead_ms": small,
                       "node_cpu_percent": 150.0, "node_rss_mb": 200.0,
                       "node_workers_rss_mb": 500.0, "sustained": False}]}
    meta = {"started": "now", "processor": "x86_64", "cpus_usable": 2, "cpu_count": 2,
            "memory_gb": 8, "python": "3.11", "load_avg_start": [1.0], "load_avg_end": [1.0]}
    pipe = {"640x480": {"fps": 1000 / e2e_p50, "stages": {"end_to_end": {"p50": e2e_p50}}}}
    return {"meta": meta, "pipeline": pipe, "stream": [], "baseline": {}, "node": node,
            "learned": None}


def test_issue21_target_rows_from_a_fabricated_result():
    from seg_perception.benchmark.targets import report_targets

    config = BenchConfig.quick_preset()
    rows = {t["target"]: t for t in report_targets(_fabricated_report(), config)}

    def row(start):
        (hit,) = [t for name, t in rows.items() if name.startswith(start)]
        return hit

    assert not any(name.startswith("node overhead <= 10") for name in rows)
    assert row("one frame in one process <= 30 ms")["reached"] is True
    assert "25.0 ms p50" in row("one frame in one process")["measured"]
    assert row("node overhead <= 5 ms")["reached"] is True
    assert "2.5 ms per frame with only ~/objects" in row("node overhead <= 5 ms")["measured"]
    at30 = row("over DDS at a 30 Hz camera")
    assert at30["reached"] is True and "p95 80.0 ms" in at30["measured"]
    assert "8 output topics" in at30["measured"]
    memory = row("node + workers <= 800 MB")
    assert memory["reached"] is True and "peak 620 MB" in memory["measured"]
    assert row("node active <= 3 s")["reached"] is True
    heavy = row("no torch / open3d / onnxruntime")
    assert heavy["reached"] is True and "2 workers" in heavy["measured"]

    bad = {t["target"]: t for t in report_targets(
        _fabricated_report(e2e_p50=41.0, overhead=7.5, p95_30=130.0, peak=950.0, active=4.2,
                           worker_libs=("open3d",)), config)}
    assert [t["reached"] for name, t in bad.items()
            if "GPU" not in name and "fps" not in name] == [False] * 6
    heavy_bad = next(t for name, t in bad.items() if name.startswith("no torch"))
    assert "worker 1: open3d" in heavy_bad["measured"]
    assert "worker 2: open3d" in heavy_bad["measured"]


def test_markdown_node_section_shows_footprint_and_30hz():
    from seg_perception.benchmark.report import markdown_report
    from seg_perception.benchmark.targets import report_targets

    report = _fabricated_report(worker_libs=("torch",))
    report["targets"] = report_targets(report, BenchConfig.quick_preset())
    report["pipeline"] = {}
    md = markdown_report(report)
    assert "### Start-up and footprint" in md
    assert "process start -> lifecycle *active*: 1.40 s" in md
    assert "| after the sweep | worker 2 | 12 | 150 |" in md
    assert "| after the sweep | **node + workers** |  | **500** |" in md
    assert "At a 30 Hz camera: image stamp -> `~/objects` p50 40.0 ms, p95 80.0 ms" in md
    assert "`overlay (120)`" in md and "8 outputs" in md
    assert "Only `~/objects` subscribed (one 5 Hz step" in md
    assert "| at active | multiprocessing resource tracker | 20 | 12 |" in md
    assert "node + workers RSS MB" in md
