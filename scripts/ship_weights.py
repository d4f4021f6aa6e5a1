#!/usr/bin/env python3
"""Copy trained weights into seg_perception/weights/ as a bundled checkpoint.

    python scripts/ship_weights.py out/train_unet/model.safetensors unet_sim_layout_v1.safetensors

Copies the ``.safetensors`` file, writes its sidecar (SHA-256 and the training
meta) next to it, and prints the weights enum line to add (see
seg_perception/weights/README.md). Refuses files over 25 MB: larger models are
documented as a training command instead of shipped.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seg_perception.segmenters._weights import WEIGHTS_DIR, read_sidecar, write_sidecar  # noqa: E402

MAX_BYTES = 25 * 1024 * 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="trained .safetensors (with its .json sidecar)")
    parser.add_argument("name", help="file name inside seg_perception/weights/")
    args = parser.parse_args(argv)
    if not args.name.endswith(".safetensors") or "/" in args.name:
        parser.error("name must be a plain file name ending in .safetensors")
    side = read_sidecar(args.source)
    if side is None:
        parser.error(f"{args.source} has no .json sidecar: save it with save_weights")
    size = args.source.stat().st_size
    if size > MAX_BYTES:
        parser.error(f"{args.source} is {size / 2**20:.1f} MB, over the 25 MB shipping limit")
    target = WEIGHTS_DIR / args.name
    shutil.copyfile(args.source, target)
    target.chmod(0o644)
    weights = write_sidecar(target, side["meta"])
    print(f"{target} ({size / 2**20:.1f} MB, sha256 {weights.sha256})")
    print(f'    MEMBER = bundled_weights("{args.name}")')
    return 0


if __name__ == "__main__":
    sys.exit(main())
