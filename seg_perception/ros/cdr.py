"""A minimal writer of serialized ROS 2 messages: little-endian plain CDR (XCDR1).

What Fast DDS, the default rmw of Humble, Jazzy and Kilted, puts on the wire for a
message on a little-endian host: a 4-byte encapsulation header (``00 01 00 00``:
CDR, little endian), then the fields in ``.msg`` order, each primitive aligned to
its size (8 at most) counted from the end of that header; strings as ``uint32``
length (NUL included), the bytes and a NUL; sequences as ``uint32`` count and the
elements. Padding is written as zeros.

For a message built field by field from numpy (``~/objects``: ~40 nested messages
per object) this is several times faster than making the Python messages and
letting rclpy convert them; ``Publisher.publish`` sends the bytes as they are.
Whoever writes a message this way must check its bytes against
``rclpy.serialization`` once (another rmw may differ), as
:func:`seg_perception.ros.outputs.objects_cdr_matches` does.
"""
from __future__ import annotations

import re
import struct
from functools import lru_cache
from typing import Any

__all__ = ["CdrWriter"]

_HEADER = b"\x00\x01\x00\x00"


class CdrWriter:
    """Append fields of one message; :meth:`getvalue` returns the serialized bytes."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray(_HEADER)

    def pack(self, fmt: str, *values: Any) -> None:
        """Primitive fields in :mod:`struct` codes (``"BB25df"``: two uint8, 25 float64,
        a float32), each aligned as CDR wants wherever the buffer stands; ``s`` is raw
        bytes (no alignment)."""
        self._buf += _aligned_struct(fmt, (len(self._buf) - len(_HEADER)) % 8).pack(*values)

    def string(self, text: str) -> None:
        raw = text.encode()
        self.pack(f"I{len(raw) + 1}s", len(raw) + 1, raw)  # "s" pads the NUL

    def byte_sequence(self, data: Any) -> None:
        """A ``uint8[]`` of anything with the buffer protocol (bytes, array.array('B'))."""
        view = memoryview(data).cast("B")
        self.pack("I", len(view))
        self._buf += view

    def header(self, sec: int, nanosec: int, frame_id: str) -> None:
        """A ``std_msgs/Header``."""
        self.pack("iI", sec, nanosec)
        self.string(frame_id)

    def getvalue(self) -> bytes:
        return bytes(self._buf)


_TOKEN = re.compile(r"(\d*)([xcbB?hHiIlLqQefds])")


@lru_cache(maxsize=4096)
def _aligned_struct(fmt: str, start: int) -> struct.Struct:
    """``fmt`` with the zero padding CDR puts before each field, for a buffer ``start``
    bytes (mod 8) past the encapsulation header."""
    out, pos = [], start
    for count, code in _TOKEN.findall(fmt):
        n = int(count or 1)
        if code in "xs":  # raw bytes: no alignment
            out.append(f"{n}{code}")
            pos += n
            continue
        size = struct.calcsize(code)
        for _ in range(n):
            pad = -pos % min(size, 8)
            out.append(f"{pad}x{code}" if pad else code)
            pos += pad + size
    return struct.Struct("<" + "".join(out))
