"""Choosing the compute device of the learned backends.

torch is imported only when this is called and an NVIDIA driver is present, and
its absence is not an error:
without torch there is only the CPU (the geometric and onnxruntime backends
need no torch).

Example:
    >>> resolve_device("cpu")
    'cpu'
    >>> resolve_device("auto") in ("cpu", "cuda")
    True
"""
from __future__ import annotations

import re
import warnings
from typing import Any

from .errors import ConfigError, DeviceUnavailableError

__all__ = ["available_devices", "resolve_device"]

_CUDA = re.compile(r"^cuda(?::(\d+))?$")


def _torch() -> Any | None:
    try:
        import torch
    except ImportError:  # no torch at all, or a broken install: CPU only
        return None
    return torch


def _cuda_driver_present() -> bool:
    """An NVIDIA driver is installed (device nodes or libcuda), checked without torch:
    importing torch only to learn there is no GPU costs ~2 s and ~400 MB per process."""
    import ctypes.util
    import glob

    return bool(glob.glob("/dev/nvidia[0-9]*") or glob.glob("/dev/nvhost-*")
                or ctypes.util.find_library("cuda"))


def _cuda_count() -> int:
    if not _cuda_driver_present():
        return 0
    torch = _torch()
    if torch is None or not torch.cuda.is_available():
        return 0
    return int(torch.cuda.device_count())


def available_devices() -> list[str]:
    """Devices usable here: ``["cpu"]`` plus ``"cuda:0" ...`` for each visible GPU."""
    return ["cpu"] + [f"cuda:{i}" for i in range(_cuda_count())]


def resolve_device(requested: str = "auto", strict: bool = False) -> str:
    """The device to run on for a requested one.

    Args:
        requested: ``"auto"`` (CUDA if present, else CPU), ``"cpu"``, ``"cuda"``
            or ``"cuda:N"``; case and surrounding spaces are ignored.
        strict: raise instead of falling back to the CPU when the requested GPU
            is absent.

    Returns:
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (the request, when it can be met).

    Raises:
        ConfigError: ``requested`` is not a device name.
        DeviceUnavailableError: ``strict`` and the requested GPU is absent.

    A GPU that is requested but absent gives a ``RuntimeWarning`` and ``"cpu"``,
    so a launch file written for a GPU robot still runs on a laptop.
    """
    name = (requested or "auto").strip().lower()
    if name == "cpu":
        return "cpu"
    if name == "auto":
        return "cuda" if _cuda_count() > 0 else "cpu"
    match = _CUDA.match(name)
    if match is None:
        raise ConfigError(f"device={requested!r} is not one of auto, cpu, cuda, cuda:N")
    index = int(match.group(1) or 0)
    count = _cuda_count()
    if index < count:
        return name
    if _torch() is None:
        why = "torch is not installed"
    elif not _cuda_driver_present():
        why = "no NVIDIA driver is present (no /dev/nvidia*, no libcuda)"
    elif count == 0:
        why = "torch sees no CUDA device (CPU-only build, no driver, or CUDA_VISIBLE_DEVICES empty)"
    else:
        why = f"only {count} CUDA device(s) are visible"
    if strict:
        raise DeviceUnavailableError(
            f"device={requested!r} was requested strictly but {why}; set device to 'cpu' or "
            "'auto', or turn strict_device off to fall back to the CPU")
    warnings.warn(f"device={requested!r} requested but {why}; running on the CPU",
                  RuntimeWarning, stacklevel=2)
    return "cpu"
