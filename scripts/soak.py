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

Usage:
    python scripts/soak.py [--rate 15] [--frames 2000] [--size 320x240] [--out out/soak]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seg_perception.benchmark import parse_size, render_bench_frames
from seg_perception.io import write_json


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
    args = parser.parse_args()

    from seg_perception.ros.node_bench import run_soak

    width, height = parse_size(args.size)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"rendering {args.scenes * args.frames_per_scene} {args.size} frames ...", flush=True)
    frames = render_bench_frames(width, height, scenes=args.scenes,
                                 frames_per_scene=args.frames_per_scene, source=args.source)
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
