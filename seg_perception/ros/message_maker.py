"""Fast ROS message construction: a message built with only the values it carries.

A generated message's __init__ builds a default for every field, nested messages
included, before the caller's values replace them, and its setters check each value:
~70 us for an ObjectInstance, most of the cost of an objects message.
:func:`bare_message` stores the given values as they are (the types a setter would
store) and fresh defaults only for the fields not given; the message behaves as one
built normally (later assignments are checked as usual).
"""
from __future__ import annotations

import array
from functools import lru_cache
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from std_msgs.msg import Header

__all__ = ["bare_message", "copy_header", "message_maker", "stamped_header"]


_UNSET = object()
_IMMUTABLE = (bool, int, float, str, bytes)


@lru_cache(maxsize=None)
def message_maker(cls: type) -> Any:
    """``make(**values)`` for ``cls``: the fields given are stored as they are, the others
    get fresh defaults (a function generated once per message type: plain slot stores)."""
    template = cls()
    names = [slot[1:] for slot in cls.__slots__ if slot != "_check_fields"]
    scope: dict[str, Any] = {"_cls": cls, "_check": template._check_fields, "_U": _UNSET,
                             "_fresh": _fresh, "_new": object.__new__}
    lines = [f"def make(*, {', '.join(f'{n}=_U' for n in names)}):",
             "    m = _new(_cls)", "    m._check_fields = _check"]
    for i, name in enumerate(names):
        scope[f"_d{i}"] = getattr(template, "_" + name)
        lines.append(f"    m._{name} = _fresh(_d{i}) if {name} is _U else {name}")
    lines.append("    return m")
    exec("\n".join(lines), scope)  # noqa: S102 - code made here from the slot names
    return scope["make"]


def _fresh(default: Any) -> Any:
    if isinstance(default, _IMMUTABLE):
        return default
    if isinstance(default, list):
        return []
    if isinstance(default, array.array):
        return array.array(default.typecode)
    if isinstance(default, np.ndarray):
        return default.copy()
    if "_check_fields" in getattr(type(default), "__slots__", ()):
        return message_maker(type(default))()  # a nested message, itself with fresh defaults
    return type(default)()


def bare_message(cls: type, values: dict[str, Any]) -> Any:
    """A ``cls`` message holding ``values`` (field name -> value of the stored type:
    python int/float/str/bool, ``array.array`` for numeric sequences, messages)."""
    return message_maker(cls)(**values)


def stamped_header(sec: int, nanosec: int, frame_id: str) -> Header:
    return bare_message(Header, {"stamp": bare_message(Time, {"sec": sec, "nanosec": nanosec}),
                          "frame_id": frame_id})


def copy_header(header: Header | None) -> Header:
    if header is None:
        return Header()
    return stamped_header(int(header.stamp.sec), int(header.stamp.nanosec), str(header.frame_id))
