"""Domain errors of seg_perception.

Every error names the problem and, where there is one, the fix, so a log line
is enough for a user to act on it.
"""
from __future__ import annotations

__all__ = [
    "ConfigError",
    "DeviceUnavailableError",
    "InvalidFrameError",
    "SegPerceptionError",
    "UnknownBackendError",
    "UnsupportedEncodingError",
    "WeightsError",
]


class SegPerceptionError(Exception):
    """Base class of every error raised by seg_perception."""


class InvalidFrameError(SegPerceptionError, ValueError):
    """An RGB-D frame cannot be processed (size mismatch, no valid depth, bad dtype, ...)."""


class UnsupportedEncodingError(SegPerceptionError, ValueError):
    """An image encoding the conversion layer does not handle."""


class UnknownBackendError(SegPerceptionError, KeyError):
    """A segmenter name that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class WeightsError(SegPerceptionError, RuntimeError):
    """Weights missing, unreadable, corrupt or of the wrong architecture."""


class DeviceUnavailableError(SegPerceptionError, RuntimeError):
    """A compute device was requested strictly but is not present."""


class ConfigError(SegPerceptionError, ValueError):
    """A configuration value is out of range or of the wrong type."""
