"""`seg-perception bench`: latency / throughput of the pipeline, a naive baseline, the node, models.

One run writes ``bench.json``, ``bench.md`` and plots (``stages.png``,
``frame_latency.png``, ``node_rates.png``, ``learned.png``) to ``--out`` and
prints the Markdown. See :mod:`seg_perception.benchmark` for what each section
measures. ``--quick`` is the short CI configuration (640x480 only, few frames,
no slow learned models, short node steps).
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
    parser.add_argument("--out", default="out/bench", help="output folder (default out/bench)")
    parser.add_argument("--quick", action="store_true",
                        help="short run: 640x480 only, few frames, skip slow learned models")
    parser.add_argument("--sizes", help="comma-separated WxH sizes (default 640x480,1280x720)")
    parser.add_argument("--frames", type=int, help="timed pipeline frames per size")
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
    parser.add_argument("--node-step", type=float, help="seconds per node rate step (default 4)")
    parser.add_argument("--node-size", help="frame size of the node section (default 640x480)")
    parser.add_argument("--in-process", action="store_true",
                        help="run perception_node in this process instead of its own")
    parser.add_argument("--frame-source", choices=("tabletop", "synthetic"),
                        help="rendered frames: pybullet tabletop scenes (default) or fast "
                             "synthetic presets")
    parser.add_argument("--seed", type=int, default=0, help="scene seed")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


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
    return replace(config, **changes)


def run(args: argparse.Namespace) -> int:
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

    out = Path(args.out)
    report = run_benchmark(config, out, node_runner=node_runner,
                           progress=not args.no_progress,
                           log=lambda m: print(f"[bench] {m}", file=sys.stderr, flush=True))
    print((out / "bench.md").read_text())
    print(f"wrote {out / 'bench.json'}, {out / 'bench.md'} and plots to {out}/")
    node = report.get("node") or {}
    return 1 if "error" in node else 0
