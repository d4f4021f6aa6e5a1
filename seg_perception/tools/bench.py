"""`seg-perception bench`: latency / throughput of the pipeline, a naive baseline, the node, models.

One run writes ``bench.json``, ``bench.md`` and plots (``stages.png``,
``frame_latency.png``, ``node_rates.png``, ``learned.png``) to ``--out`` and
prints the Markdown. See :mod:`seg_perception.benchmark` for what each section
measures. ``--quick`` is the short CI configuration (640x480 only, few frames,
no slow learned models, short node steps). The ``yolo_seg`` row times a stand-in
model (random weights, the real output layout) or ``--yolo-weights model.onnx``,
with its pre-processing, inference and post-processing apart.

``--soak``: instead, thousands of frames at camera rate through DDS into
perception_node (its own process, or ``--in-process``), its memory sampled every
second; writes ``soak.json``, ``soak.md`` and ``soak.png`` to ``--out`` (default
out/soak). ``--soak --fuzz SECONDS``: the long fuzz run instead (corrupted camera
messages, then clean ones); writes ``fuzz.json``, ``fuzz.csv`` and ``fuzz.md``.
See :mod:`seg_perception.ros.soak`. ``--worker-faults gap|memory|all``: worker processes
killed while frames flow, and memory after 4K frames (:mod:`seg_perception.ros.worker_faults`).

``--against TREE``: before / after instead: this checkout's bare pipeline and the one
of the source tree ``TREE`` (e.g. ``git worktree add /tmp/old <commit>``) on the same
rendered frames, timed in turns (:mod:`seg_perception.benchmark.against`); writes
``against.md`` and ``against.json`` (default out/against).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

__all__: list[str] = []


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", help="output folder (default out/bench; with --soak out/soak)")
    parser.add_argument("--quick", action="store_true",
                        help="short run: 640x480 only, few frames, skip slow learned models")
    parser.add_argument("--sizes", help="comma-separated WxH sizes (default 640x480,1280x720)")
    parser.add_argument("--frames", type=int,
                        help="timed pipeline frames per size (--soak: frames to send, "
                             "default 2000)")
    parser.add_argument("--backends",
                        help="comma-separated learned models to time (default: all; see "
                             "seg_perception.benchmark.LEARNED_MODELS), or 'none'")
    parser.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"),
                        help="device of the learned models (default cpu)")
    parser.add_argument("--skip-node", action="store_true", help="skip the node-over-DDS section")
    parser.add_argument("--skip-learned", action="store_true", help="skip the learned models")
    parser.add_argument("--no-onnx", action="store_true", help="skip the ONNX exports")
    parser.add_argument("--node-rates", help="comma-separated camera rates, Hz "
                                             "(default 5,10,15,20,30)")
    parser.add_argument("--node-step", type=float, help="seconds per node rate step (default 6)")
    parser.add_argument("--node-size", help="frame size of the node section (default 640x480)")
    parser.add_argument("--in-process", action="store_true",
                        help="run perception_node in this process instead of its own")
    parser.add_argument("--frame-source", "--source", dest="frame_source",
                        choices=("tabletop", "synthetic"),
                        help="rendered frames: pybullet tabletop scenes (default) or fast "
                             "synthetic presets")
    parser.add_argument("--yolo-weights", metavar="MODEL.onnx",
                        help="a YOLO-seg ONNX export for the yolo_seg row (default: a stand-in "
                             "model with random weights and the real output layout)")
    parser.add_argument("--seed", type=int, default=0, help="scene seed (--fuzz: fuzz seed)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--against", metavar="TREE",
                        help="before/after instead of the benchmark: this checkout's bare "
                             "pipeline against the seg_perception source tree TREE (e.g. a git "
                             "worktree of an older commit) on the same frames, in turns")
    parser.add_argument("--rounds", type=int, default=3,
                        help="--against: turns per tree (default 3)")
    parser.add_argument("--stream-frames", type=int, default=120,
                        help="--against: frames per turn through each tree's 2 worker "
                             "processes (default 120; 0: no stream)")
    soak = parser.add_argument_group("soak and fuzz runs (perception_node over DDS)")
    soak.add_argument("--soak", action="store_true",
                      help="soak run instead of the benchmark: --frames frames at --rate into "
                           "perception_node, memory and latency over time")
    soak.add_argument("--rate", type=float, default=15.0, help="camera rate, Hz (default 15)")
    soak.add_argument("--size", default="320x240", help="frame size (default 320x240)")
    soak.add_argument("--warmup", type=int, default=150, help="warm-up frames, not counted")
    soak.add_argument("--window", type=float, default=10.0, help="latency window, s")
    soak.add_argument("--scenes", type=int, default=1, help="rendered scenes")
    soak.add_argument("--frames-per-scene", type=int, default=4,
                      help="rendered frames per scene (objects move between them)")
    soak.add_argument("--fuzz", type=float, default=0.0, metavar="SECONDS",
                      help="with --soak: fuzz run of this many seconds instead of the soak")
    soak.add_argument("--fuzz-exclude", nargs="*", default=[], metavar="MUTATION",
                      help="mutations left out of the fuzz run")
    soak.add_argument("--worker-faults", choices=("gap", "memory", "all"),
                      help="worker-fault run instead: 'gap' kills a worker process every "
                           "--period s at --rate and measures the output gap and the shared "
                           "memory left; 'memory' sends 3840x2160 frames between --size ones "
                           "and samples RSS; writes worker_faults.md/.json/.csv "
                           "(default out/worker_faults)")
    soak.add_argument("--kills", type=int, default=5, help="--worker-faults gap: workers killed")
    soak.add_argument("--period", type=float, default=6.0,
                      help="--worker-faults gap: seconds between kills (and without kills "
                           "before the first)")


def config_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~seg_perception.benchmark.BenchConfig` the options ask for."""
    from ..benchmark import BenchConfig, parse_size

    config = BenchConfig.quick_preset() if args.quick else BenchConfig()
    changes: dict = {"device": args.device, "seed": args.seed}
    if args.sizes:
        changes["sizes"] = tuple(parse_size(s) for s in args.sizes.split(","))
    if args.frames:
        changes["frames"] = args.frames
    if args.backends:
        names = tuple(b.strip() for b in args.backends.split(",") if b.strip())
        if names == ("none",):
            changes["learned"] = False
        else:
            changes["learned_models"] = names
    if args.skip_learned:
        changes["learned"] = False
    if args.skip_node:
        changes["node"] = False
    if args.no_onnx:
        changes["onnx"] = False
    if args.node_rates:
        changes["node_rates"] = tuple(float(r) for r in args.node_rates.split(","))
    if args.node_step:
        changes["node_step_s"] = args.node_step
    if args.node_size:
        changes["node_size"] = parse_size(args.node_size)
    elif args.sizes:
        changes["node_size"] = changes["sizes"][0]
    if args.frame_source:
        changes["frame_source"] = args.frame_source
    if args.yolo_weights:
        changes["yolo_weights"] = args.yolo_weights
    return replace(config, **changes)


def run(args: argparse.Namespace) -> int:
    if args.soak or args.fuzz > 0 or args.worker_faults:
        return run_soak(args)
    if args.against:
        return run_against(args)
    from ..benchmark import run_benchmark

    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"seg-perception bench: {exc}", file=sys.stderr)
        return 2
    node_runner = None
    if config.node:
        import importlib.util

        missing = [m for m in ("rclpy", "seg_perception.msg") if importlib.util.find_spec(m) is None]
        if missing:
            print(f"node section skipped: {', '.join(missing)} not importable; source "
                  "scripts/env.sh or pass --skip-node", file=sys.stderr)
        else:
            from ..ros.node_bench import run_rate_sweep

            node_runner = partial(run_rate_sweep, in_process=args.in_process)

    out = Path(args.out or "out/bench")
    report = run_benchmark(config, out, node_runner=node_runner,
                           progress=not args.no_progress,
                           log=lambda m: print(f"[bench] {m}", file=sys.stderr, flush=True))
    print((out / "bench.md").read_text())
    print(f"wrote {out / 'bench.json'}, {out / 'bench.md'} and plots to {out}/")
    node = report.get("node") or {}
    return 1 if "error" in node else 0


def run_against(args: argparse.Namespace) -> int:
    """``--against TREE``: see :mod:`seg_perception.benchmark.against`."""
    import json

    from ..benchmark import parse_size, render_bench_frames
    from ..benchmark.against import compare_trees, markdown_against

    try:
        width, height = parse_size((args.sizes or "640x480").split(",")[0])
    except ValueError as exc:
        print(f"seg-perception bench: {exc}", file=sys.stderr)
        return 2
    source = args.frame_source or "tabletop"
    frames = render_bench_frames(width, height, source=source, seed=args.seed)
    try:
        result = compare_trees(frames, args.against, rounds=args.rounds,
                               iterations=args.frames or 90, stream=args.stream_frames,
                               progress=not args.no_progress)
    except (FileNotFoundError, RuntimeError) as exc:
        print(f"seg-perception bench --against: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out or "out/against")
    out.mkdir(parents=True, exist_ok=True)
    (out / "against.json").write_text(json.dumps(result, indent=2))
    text = markdown_against(result)
    (out / "against.md").write_text(text)
    print(text)
    print(f"wrote {out / 'against.json'} and {out / 'against.md'}")
    return 0


def run_soak(args: argparse.Namespace) -> int:
    """``--soak`` (and ``--soak --fuzz SECONDS``): see :mod:`seg_perception.ros.soak`."""
    import importlib.util
    import os

    from ..benchmark import parse_size, render_bench_frames

    missing = [m for m in ("rclpy", "seg_perception.msg")
               if importlib.util.find_spec(m) is None]
    if missing:
        print(f"seg-perception bench --soak: {', '.join(missing)} not importable; source "
              "scripts/env.sh", file=sys.stderr)
        return 2
    try:
        width, height = parse_size(args.size)
    except ValueError as exc:
        print(f"seg-perception bench: {exc}", file=sys.stderr)
        return 2
    if args.worker_faults:
        return _run_worker_faults(args, width, height)
    from ..ros import soak

    out = Path(args.out or "out/soak")
    out.mkdir(parents=True, exist_ok=True)
    print(f"rendering {args.scenes * args.frames_per_scene} {args.size} frames ...", flush=True)
    frames = render_bench_frames(width, height, scenes=args.scenes,
                                 frames_per_scene=args.frames_per_scene,
                                 source=args.frame_source or "tabletop")
    if args.fuzz > 0:
        result = soak.run_fuzz(frames, seconds=args.fuzz, rate_hz=args.rate, seed=args.seed,
                               exclude=args.fuzz_exclude, size=args.size,
                               log_path=out / "node_fuzz.log")
        print(soak.write_fuzz(result, out))
        print(f"wrote {out / 'fuzz.json'}, {out / 'fuzz.csv'}, {out / 'fuzz.md'}")
        return 0 if result["node_alive"] else 1
    load_start = [round(v, 2) for v in os.getloadavg()]
    result = soak.run_soak(frames, rate_hz=args.rate, count=args.frames or 2000,
                           warmup_frames=args.warmup, window_s=args.window,
                           in_process=args.in_process, progress=not args.no_progress,
                           log_path=out / "node.log")
    result.update(size=args.size, load_avg_start=load_start,
                  load_avg_end=[round(v, 2) for v in os.getloadavg()])
    print(soak.write_soak(result, out))
    print(f"wrote {out / 'soak.json'}, {out / 'soak.md'}, {out / 'soak.png'}")
    return 0


def _run_worker_faults(args: argparse.Namespace, width: int, height: int) -> int:
    """``--worker-faults``: see :mod:`seg_perception.ros.worker_faults`."""
    import os
    import time

    from ..benchmark import render_bench_frames
    from ..ros import worker_faults as wf

    if args.kills < 1 or args.period <= 1.0:
        print("seg-perception bench --worker-faults: --kills must be >= 1 and --period > 1 s",
              file=sys.stderr)
        return 2
    out = Path(args.out or "out/worker_faults")
    out.mkdir(parents=True, exist_ok=True)
    source = args.frame_source or "tabletop"
    print(f"rendering {args.size} frames ({source}) ...", flush=True)
    small = render_bench_frames(width, height, scenes=1, frames_per_scene=4, source=source)
    result: dict[str, Any] = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                              "load_avg": [round(v, 2) for v in os.getloadavg()]}
    if args.worker_faults in ("gap", "all"):
        print(f"gap: {args.kills} worker kills at {args.rate:g} Hz ...", flush=True)
        result["gap"] = wf.run_worker_gap(small, kills=args.kills, rate_hz=args.rate,
                                          period_s=args.period, baseline_s=args.period,
                                          size=args.size, log_path=out / "node_gap.log")
    if args.worker_faults in ("memory", "all"):
        print("memory: rendering a 3840x2160 frame ...", flush=True)
        big = render_bench_frames(3840, 2160, scenes=1, frames_per_scene=1,
                                  source="synthetic")[0]
        result["memory"] = wf.run_frame_memory(small, big, rate_hz=args.rate, size=args.size,
                                               log_path=out / "node_memory.log")
    print(wf.write_worker_faults(result, out))
    print(f"wrote {out}/worker_faults.json, worker_faults.md and the CSV tables")
    return 0
