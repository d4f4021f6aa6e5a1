"""`seg-perception bringup`: what `ros2 launch seg_perception perception.launch.py` starts.

Takes the launch files' arguments as ``name:=value``, e.g.
``seg-perception bringup sim:=true camera_namespace:=/camera/camera``.
"""
from __future__ import annotations

import argparse

from ..ros.bringup import LAUNCH_ARGUMENTS, node_specs, run_nodes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    empty = '""'
    lines = [f"  {a.name}:={a.default or empty}  {a.description}" for a in LAUNCH_ARGUMENTS]
    parser.epilog = "launch arguments:\n" + "\n".join(lines)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("launch_args", nargs="*", metavar="NAME:=VALUE")
    parser.add_argument("--duration", type=float, default=None,
                        help="stop after this many seconds (default: until Ctrl-C)")


def parse_launch_args(items: list[str]) -> dict[str, str]:
    known = {a.name: a for a in LAUNCH_ARGUMENTS}
    values: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition(":=")
        if not sep or name not in known:
            raise SystemExit(f"bad launch argument {item!r}: use NAME:=VALUE with NAME one of "
                             f"{', '.join(known)}")
        choices = known[name].choices
        if choices and value not in choices:
            raise SystemExit(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        values[name] = value
    return values


def run(args: argparse.Namespace) -> int:
    specs = node_specs(**parse_launch_args(args.launch_args))
    for spec in specs:
        print(f"starting {spec.executable} as {spec.namespace or ''}/{spec.name}")
    return run_nodes(specs, duration_s=args.duration)
