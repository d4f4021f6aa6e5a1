#!/usr/bin/env python3
"""Soak run: thousands of frames at camera rate through DDS into perception_node.

Frames are rendered once (pybullet tabletop scenes, sensor depth noise) and
published again and again with fresh stamps by a fixture camera in this
process; perception_node runs as its own process (``--in-process``: in this
one) with its default parameters. The node's resident memory is sampled every
second after a warm-up. Prints and writes to ``--out``: ``soak.json`` (every
sample), ``soak.md`` and ``soak.png`` (RSS and latency over time). Frames
sent / processed / dropped, RSS at start and end, growth, latency p50/p95 per
time window.

Defaults (2000 frames at 15 Hz, 320x240, 150 warm-up frames) take about
2.5-3 minutes. Source ``scripts/env.sh`` first.

``--fuzz SECONDS``: instead, the long run of test/ros/test_fuzz.py against the
node process (default configuration): clean frames, then randomly corrupted
colour / depth / camera_info sets (test/ros/fuzz_inputs.py, ``--seed``) for
SECONDS, then clean frames again. Prints and writes ``fuzz.json``, ``fuzz.csv``
and ``fuzz.md``: sets sent by mutation, frames the node skipped by reason,
errors, outputs, whether the node process and its workers are the same, the
objects on clean frames before and after, and /diagnostics afterwards.

Usage:
    python scripts/soak.py [--rate 15] [--frames 2000] [--size 320x240] [--out out/soak]
    python scripts/soak.py --fuzz 120 [--seed 0] [--fuzz-exclude stamp_far_future]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seg_perception.benchmark import parse_size, render_bench_frames
from seg_perception.io import write_json

_ROOT = Path(__file__).resolve().parents[1]


def markdown(r: dict) -> str:
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


def plot(r: dict, path: Path) -> None:
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


def _load_fuzz_inputs():
    """test/ros/fuzz_inputs.py (the generator the fuzz test uses), loaded by path."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("fuzz_inputs",
                                                  _ROOT / "test" / "ros" / "fuzz_inputs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_fuzz(frames, args, out: Path) -> dict:
    """Clean frames, corrupted sets for ``args.fuzz`` seconds, clean frames; see --fuzz."""
    import ast
    import threading
    import time

    from seg_perception.msg import ObjectInstanceArray
    from seg_perception.ros.node_bench import NodeBench
    from seg_perception.ros.qos import RELIABLE_OUTPUT_QOS

    fuzz_inputs = _load_fuzz_inputs()
    names = tuple(m for m in fuzz_inputs.MUTATIONS if m not in set(args.fuzz_exclude))
    objects: list[tuple[int, int, str]] = []  # (receive ns, objects, frame_id)
    lock = threading.Lock()

    def on_objects(msg) -> None:
        with lock:
            objects.append((time.time_ns(), len(msg.objects), msg.header.frame_id))

    def outputs_since(t_ns: int) -> list[tuple[int, int, str]]:
        with lock:
            return [o for o in objects if o[0] >= t_ns]

    def diag() -> dict:
        with bench._lock:
            return dict(bench._diag[1]) if bench._diag else {}

    with NodeBench(frames, log_path=out / "node_fuzz.log") as bench:
        bench._nodes[1].create_subscription(ObjectInstanceArray, "/perception_node/objects",
                                            on_objects, RELIABLE_OUTPUT_QOS)
        bench.wait_ready(120)
        node = bench._psutil_proc
        workers = sorted(c.pid for c in node.children()
                         if "spawn_main" in " ".join(c.cmdline())
                         and "resource_tracker" not in " ".join(c.cmdline()))
        t0 = time.time_ns()
        bench.drain(bench.publish_at(args.rate, duration_s=5.0))
        clean_before = [n for _, n, _ in outputs_since(t0)]
        before = bench.node_counters()
        fuzzer = fuzz_inputs.CameraFuzzer(bench._msgs[0], seed=args.seed, mutations=names)
        period, t_fuzz, next_t = 1.0 / args.rate, time.monotonic(), time.monotonic()
        t_fuzz_ns = time.time_ns()
        while time.monotonic() - t_fuzz < args.fuzz:
            stamp = max(time.time_ns(), bench._last_stamp + 1)
            bench._last_stamp = stamp
            msgs = fuzzer.corrupt(stamp)
            for key in ("depth", "info", "color"):
                if key in msgs:
                    bench._pubs[key].publish(msgs[key])
            next_t += period
            time.sleep(max(0.0, next_t - time.monotonic()))
            if fuzzer.sets % 50 == 0 and not bench.node_alive():
                break
        alive = bench.node_alive()
        outputs_during = len(outputs_since(t_fuzz_ns))
        time.sleep(1.0)
        after_fuzz = bench.node_counters() if alive else {}
        t1 = time.time_ns()
        sent_after = bench.publish_at(args.rate, duration_s=5.0) if alive else []
        bench.drain(sent_after)
        clean_after = [n for _, n, _ in outputs_since(t1)]
        # /diagnostics back to OK once the node's 10 s problem window has passed.
        level_after, deadline = None, time.monotonic() + 20
        while alive and time.monotonic() < deadline:
            bench.publish_at(args.rate, duration_s=1.0)
            level_after = diag().get("_level")
            if level_after == "0":
                break
        final = diag()
        same_workers = alive and sorted(
            c.pid for c in node.children() if "spawn_main" in " ".join(c.cmdline())
            and "resource_tracker" not in " ".join(c.cmdline())) == workers
        skipped = ast.literal_eval(final.get("skipped_by_reason", "{}")) if final else {}
    return {
        "seconds": args.fuzz, "rate_hz": args.rate, "seed": args.seed, "size": args.size,
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


def fuzz_markdown(r: dict) -> str:
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=15.0, help="camera rate, Hz (default 15)")
    parser.add_argument("--frames", type=int, default=2000, help="frames to send (default 2000)")
    parser.add_argument("--size", default="320x240", help="frame size (default 320x240)")
    parser.add_argument("--warmup", type=int, default=150, help="warm-up frames, not counted")
    parser.add_argument("--window", type=float, default=10.0, help="latency window, s")
    parser.add_argument("--scenes", type=int, default=1, help="rendered scenes")
    parser.add_argument("--frames-per-scene", type=int, default=4,
                        help="rendered frames per scene (objects move between them)")
    parser.add_argument("--source", choices=("tabletop", "synthetic"), default="tabletop")
    parser.add_argument("--in-process", action="store_true",
                        help="run perception_node in this process")
    parser.add_argument("--out", default="out/soak", help="output folder (default out/soak)")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--fuzz", type=float, default=0.0, metavar="SECONDS",
                        help="fuzz run of this many seconds instead of the soak")
    parser.add_argument("--seed", type=int, default=0, help="fuzz seed")
    parser.add_argument("--fuzz-exclude", nargs="*", default=[], metavar="MUTATION",
                        help="mutations left out of the fuzz run")
    args = parser.parse_args()

    from seg_perception.ros.node_bench import run_soak

    width, height = parse_size(args.size)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"rendering {args.scenes * args.frames_per_scene} {args.size} frames ...", flush=True)
    frames = render_bench_frames(width, height, scenes=args.scenes,
                                 frames_per_scene=args.frames_per_scene, source=args.source)
    if args.fuzz > 0:
        import csv

        result = run_fuzz(frames[:1], args, out)
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
        print(text)
        print(f"wrote {out / 'fuzz.json'}, {out / 'fuzz.csv'}, {out / 'fuzz.md'}")
        return 0 if result["node_alive"] else 1
    load_start = [round(v, 2) for v in os.getloadavg()]
    result = run_soak(frames, rate_hz=args.rate, count=args.frames, warmup_frames=args.warmup,
                      window_s=args.window, in_process=args.in_process,
                      progress=not args.no_progress, log_path=out / "node.log")
    result.update(size=args.size, load_avg_start=load_start,
                  load_avg_end=[round(v, 2) for v in os.getloadavg()])
    write_json(out / "soak.json", result)
    text = markdown(result)
    (out / "soak.md").write_text(text)
    plot(result, out / "soak.png")
    print(text)
    print(f"wrote {out / 'soak.json'}, {out / 'soak.md'}, {out / 'soak.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
