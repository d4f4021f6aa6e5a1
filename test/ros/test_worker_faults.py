"""`seg-perception bench --worker-faults`: worker processes SIGKILLed while frames flow
into perception_node (its own process, default configuration) over real DDS.

A short run through the CLI; what is checked is what the README's table reports: each
kill is seen and the worker replaced, its shared memory does not stay in /dev/shm, the
node goes on publishing. Gap lengths are printed, not asserted (they follow the
machine's speed).
"""
from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("psutil")

from seg_perception.benchmark import render_bench_frames  # noqa: E402
from seg_perception.cli import main  # noqa: E402
from seg_perception.parallel import auto_workers  # noqa: E402
from seg_perception.ros.worker_faults import (largest_gap_s, run_frame_memory,  # noqa: E402
                                              worker_faults_markdown)


def test_largest_gap_spans_the_outputs_around_the_window():
    s = 1_000_000_000
    times = [0, s, 2 * s, 5 * s, 6 * s]
    # The window [1.5 s, 5.5 s] holds the output at 2 s and 5 s: intervals 1-2, 2-5, 5-6.
    assert largest_gap_s(times, int(1.5 * s), int(5.5 * s)) == (3.0, 2)
    # Nothing inside: the gap across the window from the last output before it.
    assert largest_gap_s(times, int(2.5 * s), int(4.5 * s)) == (3.0, 0)
    assert largest_gap_s([], 0, s) == (float("inf"), 0)


def test_cli_rejects_a_run_without_kills(tmp_path):
    assert main(["bench", "--worker-faults", "gap", "--kills", "0", "--out",
                 str(tmp_path)]) == 2


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one CPU core: the default "
                    "configuration runs no worker processes to kill")
def test_killed_workers_are_replaced_and_free_their_shared_memory(tmp_path, capsys):
    rc = main(["bench", "--worker-faults", "gap", "--kills", "2", "--period", "3",
               "--rate", "10", "--size", "160x120", "--frame-source", "synthetic",
               "--out", str(tmp_path)])
    assert rc == 0
    result = json.loads((tmp_path / "worker_faults.json").read_text())
    gap = result["gap"]
    assert [k["kill"] for k in gap["kills"]] == [1, 2]
    pids = [k["victim_pid"] for k in gap["kills"]]
    assert len(set(pids)) == 2  # the second kill hit a live worker, not the dead one
    for kill in gap["kills"]:
        assert kill["replacement_process_after_s"] is not None
        assert kill["victim_blocks_left"] == 0  # unlinked by the node, not left behind
        assert kill["workers"] == gap["start"]["workers"]  # the pool is whole again
        assert kill["outputs_in_window"] > 0  # frames came out after the kill
    assert gap["shm_left_by_node"] == []
    assert 0 < gap["received"] <= gap["sent"]
    assert (tmp_path / "gaps.csv").is_file()
    assert "| kill | largest gap |" in (tmp_path / "worker_faults.md").read_text()
    assert "worker_faults.json" in capsys.readouterr().out


def test_memory_is_sampled_around_large_frames(tmp_path):
    # The CLI's run with 640x480 frames between the small ones instead of 3840x2160 (the
    # same code, a fraction of the time): every phase is measured, for the node and workers.
    small = render_bench_frames(160, 120, scenes=1, frames_per_scene=2, source="synthetic")
    big = render_bench_frames(640, 480, scenes=1, frames_per_scene=1, source="synthetic")[0]
    memory = run_frame_memory(small, big, rate_hz=20, size="160x120",
                              log_path=tmp_path / "node.log")
    assert memory["large"] == "640x480"
    phases = [r["phase"] for r in memory["rows"]]
    assert phases == ["after 30 160x120 frames", "cycle 1: after five 640x480 frames",
                      "cycle 1: then 50 160x120 frames", "cycle 2: after five 640x480 frames",
                      "cycle 2: then 50 160x120 frames"]
    workers = auto_workers("cpu")
    for row in memory["rows"]:
        assert row["node_rss_mb"] > 0 and row["total_rss_mb"] >= row["node_rss_mb"]
        assert row["workers"] == (workers if workers > 1 else 0)  # the node's own pool
    assert memory["rows"][0]["total_rss_vs_start_mb"] == 0.0
    assert ["peak_total_rss_mb" in r for r in memory["rows"]] == [False, True, False, True,
                                                                   False]
    text = worker_faults_markdown({"when": "now", "load_avg": [0.0], "memory": memory})
    assert "## Memory after 640x480 frames" in text and text.count("\n| cycle") == 4
