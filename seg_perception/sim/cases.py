"""Named sets of simulated eval cases (the clutter cases, the live rooms): one scene
setting per case, looked up at any image size and exported to a COCO RGB-D folder
whose frames carry their case name, so ``seg-perception eval`` reports each case."""
from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Mapping, Sequence

from .scenes import SceneConfig

__all__ = ["case_config", "case_configs", "export_cases_main"]


def case_config(cases: Mapping[str, SceneConfig], case: str, width: int = 640,
                height: int = 480) -> SceneConfig:
    """The settings of ``case`` at another image size (the same vertical field of view,
    so another focal length)."""
    if case not in cases:
        raise KeyError(f"unknown case {case!r}; cases: {', '.join(cases)}")
    return replace(cases[case], width=width, height=height)


def case_configs(cases: Mapping[str, SceneConfig], names: Sequence[str] | None = None
                 ) -> list[SceneConfig]:
    """The settings of ``names`` (default: all), for ``export_coco`` to render in turn."""
    return [case_config(cases, c) for c in (names or tuple(cases))]


def export_cases_main(cases: Mapping[str, SceneConfig], seed: int, description: str,
                      argv: Sequence[str] | None = None) -> int:
    """The command line that exports ``--frames-per-case`` frames of each case."""
    from .dataset import export_coco

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("out", help="output folder (COCO RGB-D, for seg-perception eval)")
    parser.add_argument("--frames-per-case", type=int, default=10)
    parser.add_argument("--seed", type=int, default=seed)
    parser.add_argument("--cases", default=",".join(cases),
                        help="comma-separated subset of " + ",".join(cases))
    args = parser.parse_args(argv)
    configs = case_configs(cases, [c for c in args.cases.split(",") if c])
    coco = export_coco(args.out, args.frames_per_case * len(configs), seed=args.seed,
                       config=configs)
    print(f"{len(coco['images'])} images, {len(coco['annotations'])} objects -> {args.out}")
    return 0
