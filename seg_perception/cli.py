"""`seg-perception`: the project's command line.

Each sub-command lives in ``seg_perception/tools/<name>.py`` with
``add_arguments(parser)`` and ``run(args) -> int``; they are imported only when
chosen, so ``seg-perception --help`` is instant.
"""
from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main"]

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "simulated camera + perception node over DDS; saves overlays, PLY, summary"),
    "bringup": ("bringup", "start the nodes of a launch file without launch_ros"),
    "replay": ("replay", "run the pipeline over a rosbag2 or an RGB-D image folder"),
    "export-dataset": ("export_dataset", "render simulated frames to a COCO RGB-D dataset"),
    "eval": ("evaluate", "evaluate segmentation on a COCO RGB-D dataset (AP, OSD P/R/F, mIoU, 3D)"),
    "bench": ("bench", "latency / throughput benchmark: pipeline, baseline and node over DDS"),
    "train": ("train", "train Mask R-CNN or the U-Net on a COCO RGB-D dataset"),
    "export-onnx": ("export_onnx", "export a trained model to ONNX"),
    "backends": ("backends", "list the registered segmentation backends"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seg-perception", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        parser = _parser()
        if argv and argv[0] not in ("-h", "--help"):
            parser.error(f"unknown command {argv[0]!r}")
        parser.print_help()
        return 0 if argv else 2
    module_name, help_text = COMMANDS[argv[0]]
    module = importlib.import_module(f"seg_perception.tools.{module_name}")
    parser = argparse.ArgumentParser(prog=f"seg-perception {argv[0]}", description=help_text)
    module.add_arguments(parser)
    args = parser.parse_args(argv[1:])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
