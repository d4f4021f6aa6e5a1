"""`seg-perception backends`: list the registered segmenters."""
from __future__ import annotations

import argparse

from ..segmenters import list_instance_segmenters, list_semantic_segmenters


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options


def run(args: argparse.Namespace) -> int:
    print("instance:", ", ".join(list_instance_segmenters()))
    print("semantic:", ", ".join(list_semantic_segmenters()))
    return 0
