"""`seg-perception export-dataset`: simulated RGB-D frames in COCO format, for training and evaluation.

    seg-perception export-dataset out/sim_train --frames 200 --seed 0
    seg-perception export-dataset out/sim_val --frames 50 --seed 1000 --hard-cases touching,stacked
"""
from __future__ import annotations

import argparse

from ..sim.dataset import export_coco
from ..sim.scenes import CLUTTER_MODES, HARD_CASES, SceneConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", help="output folder (annotations.json, rgb/, depth/, ...)")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0, help="first scene seed (frames use seed+i)")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--objects", default="3,8", help="min,max objects per scene")
    parser.add_argument("--clutter", choices=CLUTTER_MODES, default="random")
    parser.add_argument("--hard-cases", default=",".join(HARD_CASES),
                        help=f"comma-separated subset of {','.join(HARD_CASES)} ('' for none)")
    parser.add_argument("--hard-case-probability", type=float, default=0.5)
    parser.add_argument("--no-depth-noise", action="store_true", help="exact depth")
    parser.add_argument("--no-shadows", action="store_true", help="faster rendering")


def run(args: argparse.Namespace) -> int:
    low, high = (int(v) for v in args.objects.split(","))
    cases = tuple(c for c in args.hard_cases.split(",") if c)
    config = SceneConfig(width=args.width, height=args.height, num_objects=(low, high),
                         clutter=args.clutter, hard_cases=cases,
                         hard_case_probability=args.hard_case_probability,
                         depth_noise=not args.no_depth_noise, shadows=not args.no_shadows)
    coco = export_coco(args.out, args.frames, seed=args.seed, config=config, progress=True)
    print(f"{len(coco['images'])} images, {len(coco['annotations'])} objects -> {args.out}")
    return 0
