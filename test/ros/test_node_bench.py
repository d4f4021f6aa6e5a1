"""The node benchmark and soak harness over real DDS (short runs; numbers are not asserted).

What is checked is the bookkeeping the README's tables rely on, against the
node's own counters (``/diagnostics``, or its stats in-process): the outputs the
listener received are the frames the node counts as processed; every set the
node took in is processed, dropped (replaced by a newer one), skipped or failed;
it took in no more sets than were sent; "lost elsewhere" is what the node never
took in plus what it skipped or failed on. Latencies are positive and split into
pipeline + overhead, and a soak run reports memory samples and time windows.
"""
from __future__ import annotations

import pytest

from seg_perception.benchmark import render_bench_frames

pytest.importorskip("psutil")

from seg_perception.ros.node_bench import run_rate_sweep  # noqa: E402
from seg_perception.ros.soak import run_soak  # noqa: E402


@pytest.fixture(scope="module")
def frames() -> list:
    return render_bench_frames(160, 120, scenes=1, frames_per_scene=3, source="synthetic")


def _check_accounting(r: dict, processed: int) -> None:
    """The bench's counts of one run or step against the node's own counters."""
    # Two independent counts: the listener's outputs and the node's processed frames.
    assert r["received"] == processed > 0
    # The node's own books close: each set it took in ended one way or another.
    assert r["node_input"] == (processed + r["node_dropped"] + r["node_skipped"]
                               + r["node_errors"])
    assert 0 < r["node_input"] <= r["sent"]
    # Lost elsewhere = never reached the node's input + taken in but skipped or failed.
    never_in = r["sent"] - r["node_input"]
    assert r["lost_other"] == never_in + r["node_skipped"] + r["node_errors"]
    assert r["node_errors"] == 0


def test_rate_sweep_accounts_for_every_frame(frames: list) -> None:
    report = run_rate_sweep(frames, rates=(4, 8), step_s=1.5, warmup_s=1.0, in_process=True,
                            node_params={"publish_overlay": False}, startup_timeout_s=60)
    assert report["mode"].startswith("in-process")
    assert [s["rate_hz"] for s in report["steps"]] == [4.0, 8.0]
    for step in report["steps"]:
        assert step["sent"] >= 5
        _check_accounting(step, step["node_processed"])
        assert step["latency_ms"]["p50"] > 0
        # The node's own split: pipeline time is part of the end-to-end latency.
        assert 0 < step["node_pipeline_ms"]["p50"] <= step["latency_ms"]["p50"]
        # The camera's own sending is timed for every frame (a part of the input time).
        parts = step["overhead_parts_ms"]
        assert parts["camera"]["n"] == parts["input"]["n"] > 0
        assert 0 < parts["camera"]["p50"] < parts["input"]["p50"]
        # The node's share: the overhead less the camera's sending, frame by frame.
        assert step["node_overhead_ms"]["n"] == step["overhead_ms"]["n"]
        assert step["node_overhead_ms"]["p50"] < step["overhead_ms"]["p50"]
    assert report["throughput_hz"] > 0
    # Every output the node publishes had a subscriber and got the frames; overlay is off.
    outputs = report["outputs_subscribed"]
    for topic in ("objects", "instance_labels", "semantic_labels", "objects_cloud", "markers"):
        assert f"/perception_node/{topic}" in outputs, outputs
    assert "/perception_node/overlay" not in outputs
    counts = report["output_counts"]
    assert counts["/perception_node/markers"] > 0 and counts["/perception_node/objects_cloud"] > 0
    assert 0 < report["active_s"] <= report["startup_to_first_output_s"]
    # In-process the bench shares the process: no footprint, no 30 Hz step in these rates.
    assert report["footprint"] is None and report["camera_30hz"] is None
    # One step with only ~/objects subscribed comes before the others get subscribers.
    assert report["objects_only"]["received"] > 0
    assert report["objects_only"]["overhead_ms"]["p50"] is not None
    if report["steps"][0]["sustained"]:
        assert report["highest_rate_without_drops_hz"] >= 4.0


def test_soak_samples_memory_and_windows(frames: list) -> None:
    report = run_soak(frames, rate_hz=10, count=40, warmup_frames=5, window_s=1.0,
                      sample_period_s=0.25, in_process=True,
                      node_params={"publish_overlay": False}, startup_timeout_s=60)
    assert report["sent"] == 40
    _check_accounting(report, report["processed"])
    assert len(report["samples"]) >= 3 and report["rss_start_mb"] > 0
    assert sum(w["sent"] for w in report["windows"]) == 40
    assert len(report["latency_series"]) == report["received"]
