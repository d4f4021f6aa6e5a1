"""Rewrite build-machine paths in the ROS 2 wheels' CMake export files.

The PyPI ROS 2 message wheels were built on a manylinux image whose Python
include and numpy include paths end up in their ``*.cmake`` exports; CMake
refuses to configure against non-existent include paths. Point them at this
interpreter's paths. Idempotent.
"""
from __future__ import annotations

import pathlib
import sys
import sysconfig

import numpy

BUILD_PY_INCLUDE = "/opt/python/cp311-cp311/include/python3.11"
BUILD_NUMPY_INCLUDE = "/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include"


def main(venv: str) -> int:
    replacements = {BUILD_PY_INCLUDE: sysconfig.get_paths()["include"],
                    BUILD_NUMPY_INCLUDE: numpy.get_include()}
    changed = 0
    for path in pathlib.Path(venv, "share").rglob("*.cmake"):
        text = path.read_text(errors="surrogateescape")
        new = text
        for old, repl in replacements.items():
            new = new.replace(old, repl)
        if new != text:
            path.write_text(new, errors="surrogateescape")
            changed += 1
    print(f"[bootstrap] fixed include paths in {changed} CMake files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
