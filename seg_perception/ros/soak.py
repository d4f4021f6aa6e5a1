"""Long runs against perception_node over DDS: the soak (memory and latency over thousands
of frames) and the fuzz run (corrupted camera messages, then good ones).

``seg-perception bench --soak`` runs :func:`run_soak` and writes ``soak.json``
(every sample), ``soak.md`` and ``soak.png`` (RSS and latency over time):
frames sent / processed / dropped, RSS at start and end, growth, latency
p50/p95 per time window. Defaults (2000 frames at 15 Hz, 320x240, 150 warm-up
frames) take about 2.5-3 minutes.

``seg-perception bench --soak --fuzz SECONDS`` runs :func:`run_fuzz`, the long
run of test/ros/test_fuzz.py against the node process (default configuration):
clean frames, then randomly corrupted colour / depth / camera_info sets
(:mod:`seg_perception.ros.fuzz_inputs`, seeded) for SECONDS, then clean frames
again. Writes ``fuzz.json``, ``fuzz.csv`` and ``fuzz.md``: sets sent by mutation,
frames the node skipped by reason, errors, outputs, whether the node process and
its workers are the same, the objects on clean frames before and after, and
/diagnostics afterwards.

Both measure the node from the outside: its outputs, its ``/diagnostics`` counters
and its process (psutil), through :class:`~seg_perception.ros.node_bench.NodeBench`.
"""
from __future__ import annotations

import ast
import csv
import os
import threading
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..benchmark.resources import worker_processes
from ..io import write_json
from .node_bench import NodeBench, summary_ms

__all__ = ["fuzz_markdown", "plot_soak", "run_fuzz", "run_soak", "soak_markdown", "write_fuzz",
           "write_soak"]


def run_soak(frames: Sequence[Any], *, rate_hz: float = 15.0, count: int = 2000,
             warmup_frames: int = 150, window_s: float = 10.0, sample_period_s: float = 1.0,
             in_process: bool = False, node_params: dict[str, Any] | None = None,
             progress: bool = False, log_path: str | os.PathLike[str] | None = None,
             startup_timeout_s: float = 120.0) -> dict[str, Any]:
    """Publish ``count`` frames at ``rate_hz`` and watch the node's memory and latency.

    The node's resident memory (psutil) is sampled every ``sample_period_s``
    from the end of a ``warmup_frames`` warm-up on. Returns sent / processed /
    dropped counts, RSS at start and end, growth (% and a least-squares slope
    in MB per minute), and per-``window_s`` windows of latency p50/p95 and drops.
    """
    from tqdm import tqdm

    samples: list[tuple[float, float, float]] = []  # (seconds since start, rss MB, cpu %)
    stop = threading.Event()
    with NodeBench(frames, in_process=in_process, node_params=node_params,
                   log_path=log_path) as bench:
        ready_s = bench.wait_ready(startup_timeout_s)
        if warmup_frames:
            bench.drain(bench.publish_at(rate_hz, count=warmup_frames))
        before = bench.node_counters()
        t_start = time.monotonic()
        bench.node_cpu_percent()

        def sampler() -> None:
            while True:
                samples.append((time.monotonic() - t_start, bench.node_rss_mb(),
                                bench.node_cpu_percent()))
                if stop.wait(sample_period_s):
                    return

        thread = threading.Thread(target=sampler, name="soak_rss_sampler", daemon=True)
        thread.start()
        send_times: list[float] = []
        with tqdm(total=count, desc=f"soak {rate_hz:g} Hz", unit="frame",
                  disable=not progress, dynamic_ncols=True) as bar:
            def on_publish(_i: int) -> None:
                send_times.append(time.monotonic() - t_start)
                bar.update(1)
            t0 = time.perf_counter()
            stamps = bench.publish_at(rate_hz, count=count, on_publish=on_publish)
            published_s = time.perf_counter() - t0
        bench.drain(stamps)
        stop.set()
        thread.join()
        after = bench.node_counters()
        got, lat = bench.latencies_ms(stamps)
        pipeline = bench.pipeline_ms(got)
        mode = bench.mode
    received = dict(zip(got, lat))
    windows = []
    n_windows = int(np.ceil((send_times[-1] + 1e-9) / window_s)) if send_times else 0
    for w in range(n_windows):
        lo, hi = w * window_s, (w + 1) * window_s
        idx = [i for i, t in enumerate(send_times) if lo <= t < hi]
        w_lat = [received[stamps[i]] for i in idx if stamps[i] in received]
        w_pipe = [pipeline[stamps[i]] for i in idx if stamps[i] in pipeline]
        rss = [s[1] for s in samples if lo <= s[0] < hi]
        windows.append({"t_start_s": lo, "t_end_s": hi, "sent": len(idx), "received": len(w_lat),
                        "latency_ms": summary_ms(w_lat), "node_pipeline_ms": summary_ms(w_pipe),
                        "rss_mb": round(float(np.mean(rss)), 1) if rss else None})
    t = np.array([s[0] for s in samples])
    rss_arr = np.array([s[1] for s in samples])
    slope = float(np.polyfit(t / 60.0, rss_arr, 1)[0]) if len(samples) >= 3 else float("nan")
    rss_start, rss_end = float(rss_arr[0]), float(rss_arr[-1])
    dropped = after["dropped_frames"] - before["dropped_frames"]
    return {
        "mode": mode, "rate_hz": rate_hz, "startup_to_first_output_s": round(ready_s, 2),
        "rss_note": ("in-process: the RSS is this whole process, including the bench's own "
                     "per-frame records (~1 KB a frame), so it overstates the node's growth"
                     if in_process else "the perception_node process's own RSS"),
        "warmup_frames": warmup_frames, "duration_s": round(published_s, 1),
        "published_hz": round((len(stamps) - 1) / published_s, 2) if len(stamps) > 1 else rate_hz,
        "sent": len(stamps), "received": len(got),
        "node_input": after["input_frames"] - before["input_frames"],
        "processed": after["processed_frames"] - before["processed_frames"],
        "node_dropped": dropped, "lost_other": len(stamps) - len(got) - dropped,
        "node_skipped": after["skipped_frames"] - before["skipped_frames"],
        "node_errors": after["errors"] - before["errors"],
        "latency_ms": summary_ms(lat),
        "node_pipeline_ms": summary_ms(list(pipeline.values())),
        "overhead_ms": summary_ms([received[st] - pipeline[st] for st in got if st in pipeline]),
        "rss_start_mb": round(rss_start, 1), "rss_end_mb": round(rss_end, 1),
        "rss_peak_mb": round(float(rss_arr.max()), 1),
        "rss_growth_percent": round((rss_end - rss_start) / rss_start * 100.0, 2),
        "rss_slope_mb_per_min": round(slope, 3),
        "node_cpu_percent_mean": round(float(np.mean([s[2] for s in samples[1:]])), 1)
        if len(samples) > 1 else None,
        "samples": [{"t_s": round(a, 2), "rss_mb": round(b, 2), "cpu_percent": round(c, 1)}
                    for a, b, c in samples],
        "windows": windows,
        "latency_series": [{"t_s": round(send_times[i], 3), "latency_ms": round(received[s], 2)}
                           for i, s in enumerate(stamps) if s in received],
    }

# --------------------------------------------------------------------------- reports

def soak_markdown(r: dict[str, Any]) -> str:
    """``soak.md``: the soak result as Markdown tables."""
    lines = [
        f"# perception_node soak ({r['mode']})", "", f"Memory: {r['rss_note']}.", "",
        f"{r['size']} frames at {r['rate_hz']:g} Hz for {r['duration_s']:.0f} s "
        f"(published {r['published_hz']:.2f} Hz) after {r['warmup_frames']} warm-up frames; "
        f"load average {r['load_avg_start']} at start, {r['load_avg_end']} at end "
        f"({os.cpu_count()} cores, shared with other processes).", "",
        "| sent | received | processed | node dropped | lost elsewhere | skipped | errors "
        "| latency p50 | p95 | max |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {r['sent']} | {r['received']} | {r['processed']} | {r['node_dropped']} | "
        f"{r['lost_other']} | {r['node_skipped']} | {r['node_errors']} | "
        f"{r['latency_ms']['p50']:.1f} ms | {r['latency_ms']['p95']:.1f} ms | "
        f"{r['latency_ms']['max']:.1f} ms |", "",
        "| node RSS start (after warm-up) | end | peak | growth | trend (least squares) "
        "| node CPU % mean |",
        "|---|---|---|---|---|---|",
        f"| {r['rss_start_mb']:.1f} MB | {r['rss_end_mb']:.1f} MB | {r['rss_peak_mb']:.1f} MB | "
        f"{r['rss_growth_percent']:+.2f} % | {r['rss_slope_mb_per_min']:+.2f} MB/min | "
        f"{r['node_cpu_percent_mean']} |", "",
        f"Per {r['windows'][0]['t_end_s'] - r['windows'][0]['t_start_s']:g} s window:" if r["windows"]
        else "", "",
        "| window (s) | sent | received | p50 ms | p95 ms | RSS MB |",
        "|---|---|---|---|---|---|",
    ]
    for w in r["windows"]:
        lat = w["latency_ms"]
        p50 = f"{lat['p50']:.1f}" if lat["n"] else "-"
        p95 = f"{lat['p95']:.1f}" if lat["n"] else "-"
        lines.append(f"| {w['t_start_s']:.0f}-{w['t_end_s']:.0f} | {w['sent']} | {w['received']} "
                     f"| {p50} | {p95} | {w['rss_mb']} |")
    return "\n".join(lines) + "\n"


def plot_soak(r: dict[str, Any], path: Path) -> None:
    """``soak.png``: node RSS and latency over the run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    a1.plot([s["t_s"] for s in r["samples"]], [s["rss_mb"] for s in r["samples"]], "-",
            label="perception_node RSS")
    a1.set_ylabel("resident memory, MB")
    a1.grid(alpha=0.3)
    a1.legend(fontsize=8)
    a1.set_title(f"soak: {r['sent']} frames {r['size']} at {r['rate_hz']:g} Hz; RSS "
                 f"{r['rss_growth_percent']:+.2f} %, {r['node_dropped'] + r['lost_other']} "
                 "frames without output")
    series = r["latency_series"]
    a2.plot([p["t_s"] for p in series], [p["latency_ms"] for p in series], ".", ms=1.5,
            alpha=0.4, color="grey", label="per frame")
    mid = [(w["t_start_s"] + w["t_end_s"]) / 2 for w in r["windows"] if w["latency_ms"]["n"]]
    ws = [w for w in r["windows"] if w["latency_ms"]["n"]]
    a2.plot(mid, [w["latency_ms"]["p50"] for w in ws], "o-", label="window p50")
    a2.plot(mid, [w["latency_ms"]["p95"] for w in ws], "^--", label="window p95")
    a2.set_xlabel("time since warm-up, s")
    a2.set_ylabel("latency (receive - stamp), ms")
    a2.grid(alpha=0.3)
    a2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_soak(result: dict[str, Any], out: str | os.PathLike[str]) -> str:
    """Write ``soak.json``, ``soak.md`` and ``soak.png`` to ``out``; returns the Markdown."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "soak.json", result)
    text = soak_markdown(result)
    (out / "soak.md").write_text(text)
    plot_soak(result, out / "soak.png")
    return text


def write_fuzz(result: dict[str, Any], out: str | os.PathLike[str]) -> str:
    """Write ``fuzz.json``, ``fuzz.csv`` and ``fuzz.md`` to ``out``; returns the Markdown."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "fuzz.json", result)
    with open(out / "fuzz.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["kind", "name", "count"])
        w.writerows(("sent", k, v) for k, v in sorted(result["sent_by_mutation"].items()))
        w.writerows(("skipped", k, v)
                    for k, v in sorted(result["skipped_by_reason_total"].items()))
        for key in ("sets_sent", "outputs_during_fuzz", "processed_during_fuzz",
                    "skipped_during_fuzz", "errors_during_fuzz", "outputs_clean_after",
                    "sent_clean_after"):
            w.writerow(("summary", key, result[key]))
    text = fuzz_markdown(result)
    (out / "fuzz.md").write_text(text)
    return text


# --------------------------------------------------------------------------- fuzz

def run_fuzz(frames: Sequence[Any], *, seconds: float, rate_hz: float = 15.0, seed: int = 0,
             exclude: Sequence[str] = (), size: str = "",
             log_path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Clean frames for 5 s, corrupted sets for ``seconds``, clean frames again (module docstring).

    The node runs in its own process with its default parameters; only the first
    of ``frames`` is used (the fuzzer corrupts copies of it). ``exclude`` names
    mutations of :data:`~seg_perception.ros.fuzz_inputs.MUTATIONS` left out.
    """
    from ..msg import ObjectInstanceArray
    from .fuzz_inputs import MUTATIONS, CameraFuzzer
    from .qos import RELIABLE_OUTPUT_QOS

    names = tuple(m for m in MUTATIONS if m not in set(exclude))
    objects: list[tuple[int, int, str]] = []  # (receive ns, objects, frame_id)
    lock = threading.Lock()

    def on_objects(msg: Any) -> None:
        with lock:
            objects.append((time.time_ns(), len(msg.objects), msg.header.frame_id))

    def outputs_since(t_ns: int) -> list[tuple[int, int, str]]:
        with lock:
            return [o for o in objects if o[0] >= t_ns]

    def workers_of(node: Any) -> list[int]:
        return sorted(p.pid for p in worker_processes(node))

    with NodeBench(list(frames)[:1], log_path=log_path) as bench:
        bench.listener.create_subscription(ObjectInstanceArray, "/perception_node/objects",
                                           on_objects, RELIABLE_OUTPUT_QOS)
        bench.wait_ready(120)
        node = bench.node_process
        workers = workers_of(node)
        t0 = time.time_ns()
        bench.drain(bench.publish_at(rate_hz, duration_s=5.0))
        clean_before = [n for _, n, _ in outputs_since(t0)]
        before = bench.node_counters()
        fuzzer = CameraFuzzer(bench.camera_messages(0), seed=seed, mutations=names)
        period, t_fuzz, next_t = 1.0 / rate_hz, time.monotonic(), time.monotonic()
        t_fuzz_ns = time.time_ns()
        while time.monotonic() - t_fuzz < seconds:
            bench.publish_messages(fuzzer.corrupt(bench.next_stamp()))
            next_t += period
            time.sleep(max(0.0, next_t - time.monotonic()))
            if fuzzer.sets % 50 == 0 and not bench.node_alive():
                break
        alive = bench.node_alive()
        outputs_during = len(outputs_since(t_fuzz_ns))
        time.sleep(1.0)
        after_fuzz = bench.node_counters() if alive else {}
        t1 = time.time_ns()
        sent_after = bench.publish_at(rate_hz, duration_s=5.0) if alive else []
        bench.drain(sent_after)
        clean_after = [n for _, n, _ in outputs_since(t1)]
        # /diagnostics back to OK once the node's 10 s problem window has passed.
        level_after, deadline = None, time.monotonic() + 20
        while alive and time.monotonic() < deadline:
            bench.publish_at(rate_hz, duration_s=1.0)
            level_after = bench.diagnostics().get("_level")
            if level_after == "0":
                break
        final = bench.diagnostics()
        same_workers = alive and workers_of(node) == workers
        skipped = ast.literal_eval(final.get("skipped_by_reason", "{}")) if final else {}
    return {
        "seconds": seconds, "rate_hz": rate_hz, "seed": seed, "size": size,
        "mutations": list(names), "sets_sent": fuzzer.sets, "sent_by_mutation": dict(fuzzer.sent),
        "node_alive": alive, "same_worker_processes": same_workers,
        "outputs_during_fuzz": outputs_during,
        "processed_during_fuzz": (after_fuzz.get("processed_frames", 0)
                                  - before["processed_frames"]) if after_fuzz else None,
        "skipped_during_fuzz": (after_fuzz.get("skipped_frames", 0)
                                - before["skipped_frames"]) if after_fuzz else None,
        "errors_during_fuzz": (after_fuzz.get("errors", 0) - before["errors"])
        if after_fuzz else None,
        "skipped_by_reason_total": skipped,
        "objects_clean_before": sorted(set(clean_before)), "outputs_clean_before": len(clean_before),
        "objects_clean_after": sorted(set(clean_after)), "outputs_clean_after": len(clean_after),
        "sent_clean_after": len(sent_after),
        "diagnostics_level_after": {"0": "OK", "1": "WARN", "2": "ERROR", "3": "STALE"}.get(
            str(level_after), str(level_after)),
        "diagnostics_message_after": final.get("_message", ""),
    }


def fuzz_markdown(r: dict[str, Any]) -> str:
    """``fuzz.md``: the fuzz result as Markdown tables."""
    lines = [f"# perception_node fuzz ({r['seconds']:g} s at {r['rate_hz']:g} Hz, seed "
             f"{r['seed']}, {r['size']})", "",
             "Node: separate process, default parameters (workers auto).", "",
             "| sets sent | node alive | same workers | outputs during | processed | skipped "
             "| errors | clean before: objects (outputs) | clean after: objects (outputs / sent) "
             "| /diagnostics after |", "|---|---|---|---|---|---|---|---|---|---|",
             f"| {r['sets_sent']} | {r['node_alive']} | {r['same_worker_processes']} | "
             f"{r['outputs_during_fuzz']} | {r['processed_during_fuzz']} | "
             f"{r['skipped_during_fuzz']} | {r['errors_during_fuzz']} | "
             f"{r['objects_clean_before']} ({r['outputs_clean_before']}) | "
             f"{r['objects_clean_after']} ({r['outputs_clean_after']} / {r['sent_clean_after']}) "
             f"| {r['diagnostics_level_after']} |", "",
             "| mutation | applied |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(r["sent_by_mutation"].items())]
    lines += ["", "| node skipped (total, by reason) | frames |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(r["skipped_by_reason_total"].items())]
    return "\n".join(lines) + "\n"
