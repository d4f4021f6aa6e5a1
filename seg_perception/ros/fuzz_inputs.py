"""Randomly corrupted camera messages for fuzzing perception_node (seeded, reproducible).

:class:`CameraFuzzer` turns one good colour / depth / camera_info set into a
corrupted one: each set gets one to three mutations (stamps, sizes, encodings,
steps, data lengths, frame ids, K, D, ...) on any of the three messages, and
sometimes a message is left out. Stamps stay increasing where they are not the
thing being corrupted, so a good frame sent afterwards is always newer.

Used by test/ros/test_fuzz.py (short) and ``seg-perception bench --soak --fuzz SECONDS``
(long, :mod:`seg_perception.ros.soak`).
"""
from __future__ import annotations

import copy
from collections import Counter
from typing import Any, Callable

import numpy as np

__all__ = ["MUTATIONS", "CameraFuzzer"]

_INT32_MAX = 2**31 - 1
_UINT32_MAX = 2**32 - 1
_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16", "16UC1", "32FC1", "16SC1",
              "64FC1", "8UC3", "yuv422", "bayer_rggb8", "", "nonsense", "RGB8", "32FC3",
              "\u00e9\u00e9")


def _u32(value) -> int:
    """``value`` clamped to a uint32 field (mutations can stack on one message)."""
    return int(min(max(int(value), 0), _UINT32_MAX))


def _image_stamp_negative(rng, msg):
    msg.header.stamp.sec = -int(rng.integers(1, _INT32_MAX))


def _stamp_huge_nanosec(rng, msg):
    msg.header.stamp.nanosec = int(rng.integers(1_000_000_000, _UINT32_MAX, endpoint=True))


def _stamp_far_future(rng, msg):
    msg.header.stamp.sec = int(rng.integers(_INT32_MAX - 10**6, _INT32_MAX, endpoint=True))


def _stamp_zero(rng, msg):
    msg.header.stamp.sec, msg.header.stamp.nanosec = 0, 0


def _image_size(rng, msg):
    choices = [0, 1, 7, msg.width + 1, msg.width // 2, 65535, _UINT32_MAX]
    msg.width = _u32(rng.choice(choices))
    if rng.random() < 0.5:
        msg.height = _u32(rng.choice([0, 1, msg.height - 1, 65535, _UINT32_MAX]))


def _image_encoding(rng, msg):
    msg.encoding = str(rng.choice(_ENCODINGS))


def _image_step(rng, msg):
    msg.step = _u32(rng.choice([0, 1, msg.step - 1, msg.step + 1, msg.step * 2, _UINT32_MAX]))


def _image_data_length(rng, msg):
    data = bytes(msg.data)
    kind = rng.integers(4)
    if kind == 0:
        msg.data = b""
    elif kind == 1:
        msg.data = data[: int(rng.integers(0, max(len(data), 1)))]
    elif kind == 2:
        msg.data = data + bytes(int(rng.integers(1, 4096)))
    else:  # garbage bytes of the right length
        msg.data = rng.integers(0, 256, len(data), dtype=np.uint8).tobytes()


def _frame_id(rng, msg):
    msg.header.frame_id = str(rng.choice(["", "other_frame", "x" * 5000, "/slash/frame",
                                          "camera_color_optical_frame "]))


def _image_bigendian(rng, msg):
    msg.is_bigendian = 1


def _info_k(rng, msg):
    k = np.asarray(msg.k, np.float64).copy()
    kind = rng.integers(5)
    if kind == 0:
        k[:] = 0.0
    elif kind == 1:
        k[int(rng.choice([0, 2, 4, 5]))] = np.nan
    elif kind == 2:
        k[int(rng.choice([0, 4]))] = np.inf
    elif kind == 3:
        k[[0, 4]] = -k[[0, 4]]
    else:
        k[:] = rng.normal(0, 1e6, 9)
    msg.k = k.tolist()


def _info_d(rng, msg):
    n = int(rng.choice([1, 4, 5, 8, 12, 14, 100]))
    d = rng.normal(0, 1, n)
    if rng.random() < 0.3:
        d[0] = float(rng.choice([np.nan, np.inf, 1e30]))
    msg.d = d.tolist()
    if rng.random() < 0.5:
        msg.distortion_model = str(rng.choice(["plumb_bob", "rational_polynomial", "equidistant",
                                               "", "nonsense"]))


def _info_size(rng, msg):
    msg.width = _u32(rng.choice([0, 1, msg.width * 2, _UINT32_MAX]))
    msg.height = _u32(rng.choice([0, 1, msg.height * 2, _UINT32_MAX]))


def _info_p_r(rng, msg):
    msg.p = rng.normal(0, 1e3, 12).tolist()
    msg.r = [float("nan")] * 9


# name -> (which messages it may hit, mutation)
MUTATIONS: dict[str, tuple[tuple[str, ...], Callable[[Any, Any], None]]] = {
    "stamp_negative_sec": (("color", "depth", "info"), _image_stamp_negative),
    "stamp_nanosec_over_1e9": (("color", "depth", "info"), _stamp_huge_nanosec),
    "stamp_far_future": (("color", "depth", "info"), _stamp_far_future),
    "stamp_zero": (("color", "depth", "info"), _stamp_zero),
    "image_size": (("color", "depth"), _image_size),
    "image_encoding": (("color", "depth"), _image_encoding),
    "image_step": (("color", "depth"), _image_step),
    "image_data_length": (("color", "depth"), _image_data_length),
    "image_bigendian": (("color", "depth"), _image_bigendian),
    "frame_id": (("color", "depth", "info"), _frame_id),
    "info_k": (("info",), _info_k),
    "info_d": (("info",), _info_d),
    "info_size": (("info",), _info_size),
    "info_p_r": (("info",), _info_p_r),
    "missing_message": (("color", "depth", "info"), None),  # that message is not sent
}


class CameraFuzzer:
    """Corrupted copies of a good ``(color, depth, info)`` set, drawn from ``seed``.

    ``sent`` counts each mutation applied (by name), ``sets`` the sets made.
    """

    def __init__(self, good: tuple[Any, Any, Any], seed: int = 0,
                 mutations: tuple[str, ...] | None = None) -> None:
        self.good = good
        self.rng = np.random.default_rng(seed)
        self.names = tuple(mutations or MUTATIONS)
        self.sent: Counter[str] = Counter()
        self.sets = 0

    def corrupt(self, stamp_ns: int) -> dict[str, Any]:
        """``{"color": msg, "depth": msg, "info": msg}`` stamped ``stamp_ns`` with one to
        three mutations; a message left out is missing from the dict."""
        msgs = {k: copy.deepcopy(m) for k, m in zip(("color", "depth", "info"), self.good)}
        sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
        for m in msgs.values():
            m.header.stamp.sec, m.header.stamp.nanosec = sec, nanosec
        for _ in range(int(self.rng.integers(1, 4))):
            name = str(self.rng.choice(self.names))
            targets, mutate = MUTATIONS[name]
            target = str(self.rng.choice(targets))
            if target not in msgs:
                continue
            if mutate is None:
                del msgs[target]
            else:
                mutate(self.rng, msgs[target])
            self.sent[name] += 1
        self.sets += 1
        return msgs
