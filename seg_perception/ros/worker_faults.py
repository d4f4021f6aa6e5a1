"""Worker faults and frame-size memory of perception_node, measured over DDS
(``seg-perception bench --worker-faults gap|memory|all``).

perception_node runs as its own process with its default configuration
(``workers`` auto: one worker process per core), fed by a fixture camera in this
process (``seg_perception.ros.node_bench.NodeBench``). Two measurements:

* ``gap``: a 10 Hz camera of 640x480 sim frames; every ``--period`` seconds one
  worker process is killed with SIGKILL (as the OOM killer would). For each kill:
  the largest gap between consecutive ``~/objects`` messages around it (from 1 s
  before to the next kill), the time until the replacement process exists, and
  the POSIX shared-memory segments (``/dev/shm/psm_*``) mapped by the node's
  processes and present in /dev/shm. A baseline stretch without kills gives the
  largest gap of normal operation.
* ``memory``: resident memory of the node process and its workers (RSS; USS,
  the pages only that process holds, where readable) after 640x480 frames,
  after five 3840x2160 frames, after 640x480 frames again, twice over.

``write_worker_faults`` writes ``worker_faults.json``, ``gaps.csv``, ``memory.csv`` and
``worker_faults.md``.
"""
from __future__ import annotations

import csv
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from ..benchmark.resources import worker_processes
from ..io import write_json
from .node_bench import NodeBench

__all__ = ["largest_gap_s", "run_frame_memory", "run_worker_gap", "worker_faults_markdown",
           "write_worker_faults"]

_MB = 1024.0 * 1024.0


# -- processes ---------------------------------------------------------------------------
def shm_segments() -> set[str]:
    """Python shared-memory segments in /dev/shm (every process's, not only the node's)."""
    try:
        return {n for n in os.listdir("/dev/shm") if n.startswith("psm_")}
    except FileNotFoundError:
        return set()


def mapped_segments(procs) -> set[str]:
    """psm_ segments mapped by ``procs`` (from /proc/<pid>/maps)."""
    names = set()
    for p in procs:
        try:
            with open(f"/proc/{p.pid}/maps") as f:
                for line in f:
                    if "/dev/shm/psm_" in line:
                        names.add(line.split("/dev/shm/")[1].split()[0])
        except OSError:
            continue
    return names


def memory_mb(node) -> dict:
    """RSS and USS (MB) of the node process and its workers."""
    procs = [node, *worker_processes(node)]
    rss = [p.memory_info().rss / _MB for p in procs]
    try:
        uss = [p.memory_full_info().uss / _MB for p in procs]
    except Exception:  # noqa: BLE001 - /proc/<pid>/smaps not readable here
        uss = [float("nan")] * len(procs)
    return {"node_rss_mb": round(rss[0], 1), "workers_rss_mb": round(sum(rss[1:]), 1),
            "total_rss_mb": round(sum(rss), 1), "node_uss_mb": round(uss[0], 1),
            "workers_uss_mb": round(sum(uss[1:]), 1), "total_uss_mb": round(sum(uss), 1),
            "workers": len(procs) - 1}


# -- gap after a worker death ------------------------------------------------------------
def largest_gap_s(times_ns: list[int], start_ns: int, end_ns: int) -> tuple[float, int]:
    """Largest interval between consecutive receive times that overlaps [start, end];
    also how many outputs fell in it."""
    inside = [t for t in times_ns if start_ns <= t <= end_ns]
    before = [t for t in times_ns if t < start_ns]
    after = [t for t in times_ns if t > end_ns]
    seq = ([before[-1]] if before else []) + inside + ([after[0]] if after else [])
    gaps = [(b - a) / 1e9 for a, b in zip(seq, seq[1:])]
    return (max(gaps) if gaps else float("inf")), len(inside)


def run_worker_gap(frames: Sequence[Any], *, kills: int = 5, rate_hz: float = 10.0,
                   period_s: float = 6.0, baseline_s: float = 6.0, size: str = "",
                   log_path: Path | None = None) -> dict[str, Any]:
    """The ``gap`` measurement (module docstring): ``kills`` workers SIGKILLed, one every
    ``period_s`` seconds after ``baseline_s`` seconds without kills, at a ``rate_hz`` camera."""

    shm_before_node = shm_segments()
    rows = []
    with NodeBench(frames, log_path=log_path) as bench:
        node = bench.node_process
        bench.wait_ready(120)
        bench.drain(bench.publish_at(rate_hz, duration_s=3.0))  # warm-up
        procs = [node, *worker_processes(node)]
        ever_mapped = mapped_segments(procs)  # every segment the node's processes used
        start = {"mapped": len(ever_mapped), "in_dev_shm": len(shm_segments()),
                 "workers": len(procs) - 1}
        total_s = baseline_s + kills * period_s + 1.0
        sent: list[int] = []
        publisher = threading.Thread(
            target=lambda: sent.extend(bench.publish_at(rate_hz, duration_s=total_s)),
            name="camera", daemon=True)
        before_counters = bench.node_counters()
        t_base = time.time_ns()
        publisher.start()
        time.sleep(baseline_s)
        done: list[dict[str, Any]] = []
        for k in range(kills):
            victims = sorted(worker_processes(node), key=lambda p: p.pid)
            if not victims:
                raise RuntimeError("the node has no worker processes (one core?)")
            victim = victims[k % len(victims)]
            victim_blocks = mapped_segments([victim])
            ever_mapped |= mapped_segments([node, *victims])
            t_kill = time.time_ns()
            os.kill(victim.pid, signal.SIGKILL)
            replaced_s = None
            deadline = time.monotonic() + period_s - 0.5
            while time.monotonic() < deadline:
                pids = {p.pid for p in worker_processes(node)}
                if replaced_s is None and victim.pid not in pids and len(pids) == len(victims):
                    replaced_s = (time.time_ns() - t_kill) / 1e9
                time.sleep(0.02)
            procs = [node, *worker_processes(node)]
            mapped_now = mapped_segments(procs)
            ever_mapped |= mapped_now
            done.append({"kill": k + 1, "t_kill_ns": t_kill, "victim_pid": victim.pid,
                          "replacement_process_after_s": replaced_s,
                          # the dead worker's blocks still in /dev/shm and used by nobody
                          "victim_blocks": len(victim_blocks),
                          "victim_blocks_left": len((victim_blocks & shm_segments())
                                                    - mapped_now),
                          "shm_mapped": len(mapped_now),
                          "shm_in_dev_shm": len(shm_segments()),
                          "workers": len(procs) - 1})
        publisher.join()
        bench.drain(sent)
        after_counters = bench.node_counters()
        got, latencies = bench.latencies_ms(sent)
        times = sorted(s + int(ms * 1e6) for s, ms in zip(got, latencies))
        base_gap, base_n = largest_gap_s(times, t_base + int(1e9), done[0]["t_kill_ns"]
                                         - int(0.5e9)) if done else (float("nan"), 0)
        for i, kill in enumerate(done):
            end = (done[i + 1]["t_kill_ns"] if i + 1 < len(done)
                   else t_base + int(total_s * 1e9)) - int(0.5e9)
            gap, n = largest_gap_s(times, kill["t_kill_ns"] - int(1e9), end)
            rows.append({**{k: v for k, v in kill.items() if k != "t_kill_ns"},
                         "largest_gap_s": round(gap, 3), "outputs_in_window": n})
        received = len(times)
    shm_after_node = shm_segments()
    return {
        "rate_hz": rate_hz, "size": size, "period_s": period_s,
        "baseline_largest_gap_s": round(base_gap, 3), "baseline_outputs": base_n,
        "sent": len(sent), "received": received,
        "node_errors": after_counters["errors"] - before_counters["errors"],
        "node_dropped": after_counters["dropped_frames"] - before_counters["dropped_frames"],
        "start": start, "kills": rows,
        "shm_in_dev_shm_before_node": len(shm_before_node),
        "shm_in_dev_shm_after_node_exit": len(shm_after_node),
        "shm_ever_mapped_by_node": len(ever_mapped),
        "shm_left_by_node": sorted(ever_mapped & shm_after_node),
    }


# -- memory after large frames -------------------------------------------------------------
def run_frame_memory(small: Sequence[Any], big: Any, *, rate_hz: float = 10.0, size: str = "",
                     log_path: Path | None = None) -> dict[str, Any]:
    """The ``memory`` measurement (module docstring): ``small`` frames, five ``big`` ones,
    small ones again, twice over."""
    large = f"{big.rgb.shape[1]}x{big.rgb.shape[0]}"

    n_small = len(small)
    big_index = n_small  # NodeBench publishes frame ``index % len(frames)``
    rows = []
    with NodeBench([*small, big], log_path=log_path) as bench:
        node = bench.node_process

        def small_frames(count):
            stamps = []
            for i in range(count):
                stamps.append(bench.publish_one(i % n_small))
                time.sleep(1.0 / rate_hz)
            bench.drain(stamps)
            time.sleep(2.0)  # let the workers' replies and frees settle
            return stamps

        deadline = time.monotonic() + 120
        i = 0
        while not bench.received and time.monotonic() < deadline:
            bench.publish_one(i % n_small)
            i += 1
            time.sleep(0.5)
        small_frames(30)
        rows.append({"phase": f"after 30 {size} frames", **memory_mb(node)})
        for cycle in (1, 2):
            peak = 0.0
            for _ in range(5):
                stamp = bench.publish_one(big_index)
                t_end = time.monotonic() + 300
                while stamp not in bench.received and time.monotonic() < t_end:
                    peak = max(peak, memory_mb(node)["total_rss_mb"])
                    time.sleep(0.2)
                if stamp not in bench.received:
                    raise TimeoutError(f"no output for a {large} frame within 300 s")
            time.sleep(2.0)
            rows.append({"phase": f"cycle {cycle}: after five {large} frames",
                         "peak_total_rss_mb": round(peak, 1), **memory_mb(node)})
            small_frames(50)
            rows.append({"phase": f"cycle {cycle}: then 50 {size} frames", **memory_mb(node)})
    base = rows[0]["total_rss_mb"]
    for r in rows:
        r["total_rss_vs_start_mb"] = round(r["total_rss_mb"] - base, 1)
    return {"size": size, "large": large, "rows": rows}


# -- report ------------------------------------------------------------------------------
def worker_faults_markdown(result: dict[str, Any]) -> str:
    lines = [f"# perception_node worker faults and memory ({result['when']})", "",
             f"Node: separate process, default parameters (workers auto); "
             f"{os.cpu_count()} cores, load average {result['load_avg']} at start.", ""]
    gap = result.get("gap")
    if gap:
        lines += [
            f"## Output gap after a worker death ({gap['size']} at {gap['rate_hz']:g} Hz)", "",
            f"Baseline (no kill): largest gap {gap['baseline_largest_gap_s']:.3f} s. "
            f"Sent {gap['sent']}, received {gap['received']}, node errors (frames lost in a "
            f"killed worker) {gap['node_errors']}, dropped (newer frame waiting) "
            f"{gap['node_dropped']}.", "",
            f"Shared memory at start: {gap['start']['mapped']} psm segments mapped by the node "
            f"and its {gap['start']['workers']} workers; /dev/shm holds "
            f"{gap['start']['in_dev_shm']} (all processes).", "",
            "| kill | largest gap | replacement process after | outputs in window | "
            "dead worker's blocks left in /dev/shm | segments mapped by node + workers "
            "| psm in /dev/shm (all) | workers |",
            "|---|---|---|---|---|---|---|---|"]
        for r in gap["kills"]:
            rep = r["replacement_process_after_s"]
            lines.append(f"| {r['kill']} | {r['largest_gap_s']:.3f} s | "
                         f"{'-' if rep is None else f'{rep:.2f} s'} | {r['outputs_in_window']} | "
                         f"{r['victim_blocks_left']} of {r['victim_blocks']} | "
                         f"{r['shm_mapped']} | {r['shm_in_dev_shm']} | {r['workers']} |")
        lines += ["", "Replacement '-': no new worker process within the window (the node had "
                      "not noticed the death yet).", "",
                  f"psm segments in /dev/shm (every process's) before the node started: "
                      f"{gap['shm_in_dev_shm_before_node']}, after it exited: "
                      f"{gap['shm_in_dev_shm_after_node_exit']}. Of the "
                      f"{gap['shm_ever_mapped_by_node']} segments the node's processes "
                      f"mapped during the run, left in /dev/shm after it exited: "
                      f"{gap['shm_left_by_node'] or 'none'}.", ""]
    mem = result.get("memory")
    if mem:
        lines += [f"## Memory after {mem['large']} frames", "",
                  "| phase | node RSS | workers RSS | total RSS | vs start | total USS "
                  "| peak total RSS |", "|---|---|---|---|---|---|---|"]
        for r in mem["rows"]:
            peak = r.get("peak_total_rss_mb")
            lines.append(f"| {r['phase']} | {r['node_rss_mb']} MB | {r['workers_rss_mb']} MB | "
                         f"{r['total_rss_mb']} MB | {r['total_rss_vs_start_mb']:+.1f} MB | "
                         f"{r['total_uss_mb']} MB | {'' if peak is None else f'{peak} MB'} |")
    return "\n".join(lines) + "\n"


def write_worker_faults(result: dict[str, Any], out: Path) -> str:
    """Writes ``worker_faults.json``, ``gaps.csv``, ``memory.csv`` (those measured) and
    ``worker_faults.md`` to ``out``; returns the Markdown."""
    out.mkdir(parents=True, exist_ok=True)
    if result.get("gap"):
        _write_csv(out / "gaps.csv", result["gap"]["kills"])
    if result.get("memory"):
        _write_csv(out / "memory.csv", result["memory"]["rows"])
    write_json(out / "worker_faults.json", result)
    text = worker_faults_markdown(result)
    (out / "worker_faults.md").write_text(text)
    return text


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
