"""Weights are data: a checkpoint file, its checksum and its meta, loaded safely.

A :class:`Weights` names a local file, the SHA-256 it must have and its meta
(class names, input channels, preprocessing preset, parameter count, measured
metrics). Each backend family has a :class:`WeightsEnum` of the checkpoints
bundled in ``seg_perception/weights/`` (``DEFAULT`` is the recommended one);
there are no download URLs. Users may also pass any local file:
:func:`save_weights` writes ``.safetensors`` plus a JSON sidecar with the meta
and the checksum, which the builders read back.

Loading never runs code from a file: ``.safetensors`` holds only tensors, and
``.pt``/``.pth`` go through ``torch.load(weights_only=True)``, which refuses
pickled objects other than tensors and containers. Every failure is a
:class:`~seg_perception.errors.WeightsError` naming the file and the fix.

Named torchvision checkpoints (``weights="torchvision:DEFAULT"``) are fetched
through the torch hub cache (``$TORCH_HOME/hub/checkpoints``) when the machine
is online; offline, pass a local file.

Example:
    >>> import torch, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.safetensors")
    >>> w = save_weights({"conv.weight": torch.ones(2, 3)}, path, {"arch": "demo"})
    >>> load_state_dict(path, expected_keys={"conv.weight": (2, 3)})["conv.weight"].shape
    torch.Size([2, 3])
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import tempfile
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence, Union

from ..errors import WeightsError

if TYPE_CHECKING:
    import torch

__all__ = [
    "META_KEYS",
    "STATE_DICT_SUFFIXES",
    "TORCHVISION_PREFIX",
    "WEIGHTS_DIR",
    "Weights",
    "WeightsEnum",
    "bundled_weights",
    "fetch_torchvision_weights",
    "file_sha256",
    "load_into",
    "load_state_dict",
    "parse_torchvision_spec",
    "read_sidecar",
    "resolve_weights",
    "save_weights",
    "sidecar_path",
    "validate_weights_path",
    "verify_checksum",
    "write_sidecar",
]

#: Where bundled checkpoints live; relative :attr:`Weights.path` values resolve here.
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
#: Files :func:`load_state_dict` reads. Other pickles (.pkl, .bin, .ckpt) are refused.
STATE_DICT_SUFFIXES = (".safetensors", ".pt", ".pth")
#: ``weights="torchvision:DEFAULT"`` asks for torchvision's named checkpoint (online).
TORCHVISION_PREFIX = "torchvision:"
#: Keys every meta of a checkpoint carries (``config`` is optional).
META_KEYS = ("arch", "categories", "in_channels", "metrics", "num_params", "transforms")

SIDECAR_FORMAT = "seg_perception.weights/1"
_HEADER_KEY = "seg_perception.meta"  # safetensors header entry holding the meta JSON
_CHECKPOINT_WRAPPERS = ("state_dict", "model_state_dict", "model")  # training checkpoints
_ENUM_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_SHOWN = 4  # keys named in an architecture mismatch message, per kind


@dataclass(frozen=True)
class Weights:
    """A checkpoint file and what it is.

    Attributes:
        path: the file: ``.safetensors`` (preferred), ``.pt``/``.pth`` state dicts,
            or ``.onnx`` for the onnxruntime backends. A relative path is relative
            to ``seg_perception/weights/`` (bundled checkpoints).
        sha256: hex digest the file must have (a prefix of at least 8 digits is
            enough), or None to skip the check.
        meta: what the weights are. ``arch``: name of the builder they fit;
            ``categories``: class names, index = model output index;
            ``in_channels``: 3 (RGB) or 4 (RGB + depth); ``num_params``;
            ``metrics``: ``{dataset: {metric: value}}`` measured with them;
            ``transforms``: the preprocessing preset (e.g. ``{"min_size": 480,
            "max_size": 640}`` or ``{"resize_size": 520}``); optional ``config``:
            architecture options the builder must reproduce.
    """

    path: str
    sha256: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __hash__(self) -> int:  # meta is a dict; the file identifies the weights
        return hash((self.path, self.sha256))

    @property
    def file(self) -> Path:
        """The checkpoint file (relative paths resolved against :data:`WEIGHTS_DIR`)."""
        path = Path(self.path).expanduser()
        return path if path.is_absolute() else WEIGHTS_DIR / path

    @property
    def transforms(self) -> dict[str, Any]:
        """The preprocessing preset the weights were trained with."""
        return dict(self.meta.get("transforms") or {})


class WeightsEnum(Enum):
    """Base class of each backend family's bundled checkpoints (like torchvision's).

    Members are :class:`Weights` whose files ship in ``seg_perception/weights/``;
    ``DEFAULT`` is an alias of the recommended member. Builders accept a member,
    its name (``"DEFAULT"``) or its full name (``"UNet_Weights.DEFAULT"``).
    """

    @classmethod
    def verify(cls, obj: Any) -> "WeightsEnum | None":
        """``obj`` as a member of this enum (None stays None)."""
        if obj is None or isinstance(obj, cls):
            return obj
        if isinstance(obj, str):
            name = obj[len(cls.__name__) + 1:] if obj.startswith(cls.__name__ + ".") else obj
            try:
                return cls[name]
            except KeyError:
                bundled = ", ".join(cls.__members__) or "none"
                raise WeightsError(
                    f"{cls.__name__} has no checkpoint {name!r} (bundled: {bundled}); "
                    "pass a local weights file instead") from None
        raise TypeError(f"expected a {cls.__name__} member or its name, got {type(obj).__name__}")

    @property
    def weights(self) -> Weights:
        value: Weights = self.value
        return value

    @property
    def path(self) -> Path:
        return self.weights.file

    @property
    def sha256(self) -> str | None:
        return self.weights.sha256

    @property
    def meta(self) -> Mapping[str, Any]:
        return self.weights.meta

    @property
    def transforms(self) -> dict[str, Any]:
        return self.weights.transforms

    def get_state_dict(self, expected_keys: Any = None) -> dict[str, "torch.Tensor"]:
        """Load the member's file (checksum verified); see :func:`load_state_dict`."""
        return load_state_dict(self.weights, expected_keys=expected_keys)

    def __repr__(self) -> str:
        return f"{type(self).__name__}.{self.name}"


WeightsLike = Union[str, "os.PathLike[str]", Weights, WeightsEnum]


# --------------------------------------------------------------------------- files

_DIGESTS: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks.

    Remembered per (path, size, modification time), so verifying a large
    checkpoint again, e.g. when a node is reconfigured, costs nothing.
    """
    info = os.stat(path)
    key = (os.path.realpath(path), info.st_size, info.st_mtime_ns)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with open(path, "rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                digest.update(chunk)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


def validate_weights_path(path: str | os.PathLike[str],
                          suffixes: Sequence[str] = STATE_DICT_SUFFIXES) -> Path:
    """The resolved path of an existing, non-empty regular file with an allowed suffix.

    The suffix is checked on the name given (a symlink ``model.safetensors`` into
    a blob store is fine); directories, pipes and devices are refused.
    """
    given = Path(os.fspath(path)).expanduser()
    try:
        resolved = given.resolve(strict=True)
    except FileNotFoundError:
        where = "" if given.is_absolute() else f" (relative to {Path.cwd()})"
        raise WeightsError(f"weights file {given}{where} does not exist; check the path") from None
    except (OSError, RuntimeError) as exc:  # symlink loop, permission on a parent
        raise WeightsError(f"weights path {given} cannot be resolved: {exc}") from None
    info = resolved.stat()
    if not stat.S_ISREG(info.st_mode):
        raise WeightsError(f"weights path {given} is not a regular file (a directory, pipe "
                           "or device); point it at the checkpoint file itself")
    if given.suffix.lower() not in suffixes:
        raise WeightsError(
            f"weights file {given} has an unsupported extension {given.suffix or '(none)'!r}; "
            f"use one of {', '.join(suffixes)} (re-save other checkpoints with save_weights)")
    if info.st_size == 0:
        raise WeightsError(f"weights file {given} is empty (0 bytes): an interrupted copy?")
    return resolved


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """``model.safetensors`` -> ``model.safetensors.json`` (meta and checksum)."""
    path = Path(os.fspath(path)).expanduser()
    return path.with_name(path.name + ".json")


def read_sidecar(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The JSON sidecar of a weights file (``{"sha256", "meta", ...}``), or None if absent."""
    side = sidecar_path(path)
    if not side.is_file():
        return None
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightsError(f"weights sidecar {side} is not valid JSON ({exc}); delete it or "
                           "re-save the weights with save_weights") from None
    if not isinstance(data, dict) or not isinstance(data.get("meta", {}), dict):
        raise WeightsError(f"weights sidecar {side} is not a JSON object with a 'meta' object; "
                           "delete it or re-save the weights with save_weights")
    return data


def bundled_weights(filename: str) -> Weights:
    """A checkpoint shipped in :data:`WEIGHTS_DIR`, with the checksum and meta of its sidecar.

    For weights enum members. A missing or unreadable sidecar does not break
    the import; using the member then fails (:func:`resolve_weights`), since a
    bundled checkpoint must never load unchecked.
    """
    try:
        side = read_sidecar(WEIGHTS_DIR / filename) or {}
    except WeightsError:
        side = {}
    return Weights(filename, side.get("sha256"), side.get("meta") or {})


def _header_meta(path: Path) -> dict[str, Any]:
    """The meta saved in a ``.safetensors`` header by :func:`save_weights` ({} if none)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as handle:
            header = handle.metadata() or {}
    except Exception as exc:  # SafetensorError: a bad header
        raise WeightsError(f"weights file {path} is not a readable safetensors file ({exc}); "
                           "is it truncated or corrupt? Copy it again") from None
    text = header.get(_HEADER_KEY)
    if not text:
        return {}
    try:
        meta = json.loads(text)
    except json.JSONDecodeError:
        raise WeightsError(f"the meta in the header of {path} is not JSON; re-save the "
                           "weights with save_weights") from None
    return meta if isinstance(meta, dict) else {}


def _as_weights(obj: WeightsLike, suffixes: Sequence[str]) -> Weights:
    if isinstance(obj, WeightsEnum):
        if not obj.sha256:
            raise WeightsError(
                f"bundled checkpoint {type(obj).__name__}.{obj.name} has no readable checksum "
                f"sidecar {sidecar_path(obj.path)}; reinstall seg_perception (the weights "
                "folder is incomplete)")
        return obj.weights
    if isinstance(obj, Weights):
        return obj
    if isinstance(obj, (str, os.PathLike)):
        given = Path(os.fspath(obj)).expanduser()
        path = validate_weights_path(given, suffixes)
        side = read_sidecar(given) or {}
        meta = side.get("meta") or {}
        if not meta and path.suffix == ".safetensors":
            meta = _header_meta(path)
        return Weights(str(path), side.get("sha256"), meta)
    raise TypeError(f"weights must be a path, a Weights or a WeightsEnum member, "
                    f"got {type(obj).__name__}")


def parse_torchvision_spec(weights: Any) -> str | None:
    """``"torchvision:DEFAULT"`` -> ``"DEFAULT"``; None for anything else."""
    if isinstance(weights, str) and weights.lower().startswith(TORCHVISION_PREFIX):
        return weights[len(TORCHVISION_PREFIX):].strip() or "DEFAULT"
    return None


def resolve_weights(weights: WeightsLike | None, *, arch: str,
                    enum: type[WeightsEnum] | None = None,
                    suffixes: Sequence[str] = STATE_DICT_SUFFIXES) -> Weights | None:
    """Turn a builder's ``weights=`` argument into a :class:`Weights` (no tensors read).

    Accepts None or ``""`` (no weights), a member of ``enum`` or its name
    (``"DEFAULT"``), a :class:`Weights`, or a path (its sidecar, else the
    safetensors header, gives the meta and checksum).

    Raises:
        WeightsError: missing or invalid file, unknown checkpoint name, or meta
            saying the weights belong to another backend than ``arch``.
    """
    if weights is None or (isinstance(weights, str) and not weights.strip()):
        return None
    if parse_torchvision_spec(weights) is not None:
        raise WeightsError(f"torchvision publishes no weights for the {arch!r} backend; "
                           "pass a local weights file")
    if isinstance(weights, str) and enum is not None and (
            weights in enum.__members__ or weights.startswith(enum.__name__ + ".")):
        weights = enum.verify(weights)  # type: ignore[assignment]
    elif isinstance(weights, str) and _ENUM_NAME.match(weights) and not Path(weights).exists():
        bundled = ", ".join(enum.__members__) if enum is not None else ""
        raise WeightsError(
            f"the {arch!r} backend has no bundled weights named {weights!r} (bundled: "
            f"{bundled or 'none'}); pass a local weights file, or 'torchvision:{weights}' "
            "where torchvision publishes weights for this architecture")
    resolved = _as_weights(weights, suffixes)  # type: ignore[arg-type]
    saved_for = resolved.meta.get("arch")
    if saved_for is not None and saved_for != arch:
        raise WeightsError(
            f"weights {resolved.path} were saved for the {saved_for!r} backend, not {arch!r}; "
            f"build {saved_for!r} with them, or pass weights of a {arch} model")
    return resolved


# --------------------------------------------------------------------------- loading

def verify_checksum(path: str | os.PathLike[str], expected: str) -> None:
    """Raise :class:`WeightsError` unless the file's SHA-256 starts with ``expected``."""
    path = Path(path)
    expected = expected.strip().lower()
    if len(expected) < 8 or not all(c in "0123456789abcdef" for c in expected):
        raise WeightsError(f"sha256 {expected!r} for {path} is not a hex digest (>= 8 digits)")
    actual = file_sha256(path)
    if not actual.startswith(expected):
        raise WeightsError(
            f"weights file {path} has sha256 {actual[:16]}..., expected {expected[:16]}...: "
            "the file is corrupt, truncated or a different checkpoint; copy it again")


def _read_file(path: Path) -> Any:
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as exc:  # SafetensorError, OSError: a truncated or foreign file
            raise WeightsError(f"weights file {path} is not a readable safetensors file "
                               f"({exc}); is it truncated or corrupt? Copy it again") from None
    import pickle

    import torch

    try:
        # weights_only: the unpickler rebuilds tensors and containers only, so a
        # crafted file cannot run code (no __reduce__ of arbitrary globals).
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(
            f"{path} holds Python objects besides tensors and was not loaded, because loading "
            f"it could run code ({first}). Re-save it as a plain state dict, best with "
            "save_weights(model.state_dict(), 'model.safetensors')") from None
    except Exception as exc:  # RuntimeError from a broken zip, EOFError, ...
        raise WeightsError(f"{path} is not a readable PyTorch checkpoint ({type(exc).__name__}: "
                           f"{exc}); is it truncated or corrupt?") from None


def _tensor_dict(obj: Any, source: str) -> dict[str, "torch.Tensor"]:
    import torch

    def is_state_dict(value: Any) -> bool:
        return isinstance(value, Mapping) and bool(value) and all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())

    if is_state_dict(obj):
        return dict(obj)
    if isinstance(obj, Mapping):
        for key in _CHECKPOINT_WRAPPERS:  # {"model": sd, "optimizer": ..., "epoch": ...}
            if is_state_dict(obj.get(key)):
                return dict(obj[key])
    raise WeightsError(f"{source} holds no state dict (a mapping of parameter names to tensors); "
                       "save one with save_weights(model.state_dict(), path)")


def _skipped(key: str, ignore_prefixes: Sequence[str]) -> bool:
    # num_batches_tracked only counts training steps; inference never reads it.
    return key.endswith("num_batches_tracked") or key.startswith(tuple(ignore_prefixes))


def _check_keys(state: Mapping[str, "torch.Tensor"], expected: Any, source: str,
                ignore_prefixes: Sequence[str]) -> None:
    if isinstance(expected, Mapping):
        shapes: dict[str, tuple[int, ...] | None] = {
            k: tuple(v.shape) if hasattr(v, "shape") else tuple(v) for k, v in expected.items()}
    else:
        shapes = {k: None for k in expected}
    missing = [k for k in shapes if k not in state and not _skipped(k, ignore_prefixes)]
    unexpected = [k for k in state if k not in shapes and not _skipped(k, ignore_prefixes)]
    mismatched = [f"{k} {tuple(state[k].shape)} (model {shape})" for k, shape in shapes.items()
                  if shape is not None and k in state and tuple(state[k].shape) != shape]
    problems = []
    for what, keys in (("missing", missing), ("unexpected", unexpected),
                       ("of another shape", mismatched)):
        if keys:
            more = f", ... ({len(keys)} in all)" if len(keys) > _SHOWN else ""
            problems.append(f"{what}: {', '.join(keys[:_SHOWN])}{more}")
    if problems:
        raise WeightsError(
            f"weights {source} do not fit this model's architecture (keys {'; '.join(problems)}). "
            "Were they saved from another backend, or with other num_classes, class_names, "
            "in_channels or backbone options?")


def load_state_dict(path_or_weights: WeightsLike | Mapping[str, "torch.Tensor"], *,
                    expected_keys: Mapping[str, Any] | Iterable[str] | None = None,
                    ignore_prefixes: Sequence[str] = (),
                    source: str | None = None) -> dict[str, "torch.Tensor"]:
    """Read a state dict safely and check it fits a model.

    Args:
        path_or_weights: a ``.safetensors``/``.pt``/``.pth`` path, a
            :class:`Weights` or a :class:`WeightsEnum` member (checksum verified
            when known), or an in-memory state dict (only checked).
        expected_keys: the model's ``state_dict()`` (names and shapes are
            checked) or just the parameter names; None skips the check.
        ignore_prefixes: keys to drop silently, e.g. ``("aux_classifier.",)``
            for a training-only head. ``*.num_batches_tracked`` is always optional.
        source: how to name an in-memory state dict in errors (e.g. its file).

    Returns:
        ``{name: tensor}`` on the CPU, without the ignored keys. A training
        checkpoint ``{"model": state_dict, "optimizer": ...}`` is unwrapped.

    Raises:
        WeightsError: missing, empty or unreadable file; checksum mismatch; a
            pickle holding anything but tensors (nothing in it is executed);
            keys missing, unexpected or of another shape (a few are named).
    """
    if isinstance(path_or_weights, Mapping):
        source = source or "(state dict in memory)"
        state = _tensor_dict(path_or_weights, source)
    else:
        weights = _as_weights(path_or_weights, STATE_DICT_SUFFIXES)
        path = validate_weights_path(weights.file)
        source = str(path)
        if weights.sha256:
            verify_checksum(path, weights.sha256)
        state = _tensor_dict(_read_file(path), source)
    state = {k: v for k, v in state.items() if not k.startswith(tuple(ignore_prefixes))}
    if expected_keys is not None:
        expected = expected_keys if isinstance(expected_keys, Mapping) else set(expected_keys)
        _check_keys(state, expected, source, ignore_prefixes)
        state = {k: v for k, v in state.items() if k in expected}  # drops stray counters only
    return state


def load_into(model: "torch.nn.Module", weights: WeightsLike | Mapping[str, "torch.Tensor"], *,
              ignore_prefixes: Sequence[str] = (), source: str | None = None) -> None:
    """Load checked weights into ``model`` (see :func:`load_state_dict`)."""
    expected = model.state_dict()
    state = load_state_dict(weights, expected_keys=expected, ignore_prefixes=ignore_prefixes,
                            source=source)
    for key, value in expected.items():  # optional counters absent from the file
        state.setdefault(key, value)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # dtype problems the key/shape check cannot see
        raise WeightsError(f"weights do not load into the model: {exc}") from None


# --------------------------------------------------------------------------- saving

def _num_params(state: Mapping[str, "torch.Tensor"]) -> int:
    stats = ("running_mean", "running_var", "num_batches_tracked")
    return int(sum(v.numel() for k, v in state.items() if not k.endswith(stats)))


def save_weights(state_dict: Mapping[str, "torch.Tensor"], path: str | os.PathLike[str],
                 meta: Mapping[str, Any] | None = None) -> Weights:
    """Write a state dict as ``.safetensors`` plus a JSON sidecar; return its :class:`Weights`.

    The meta (JSON-serialisable; see :class:`Weights`) goes into the
    safetensors header and into ``<path>.json`` together with the file's
    SHA-256, so builders given the path know the architecture options and can
    verify the file. The file is written atomically (temp file + rename).

    Raises:
        WeightsError: ``path`` does not end in ``.safetensors``, the meta is not
            JSON-serialisable, or a value is not a tensor.
    """
    import torch
    from safetensors.torch import save_file

    path = Path(os.fspath(path)).expanduser()
    if path.suffix != ".safetensors":
        raise WeightsError(f"save_weights writes .safetensors files (no code can hide in them); "
                           f"got {path}")
    bad = [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise WeightsError("state dict values must be tensors; not so for "
                           f"{', '.join(bad[:_SHOWN])}")
    # Own, contiguous CPU copies: safetensors refuses tensors that share memory.
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
    meta_out = dict(meta or {})
    meta_out.setdefault("num_params", _num_params(tensors))
    try:
        meta_text = json.dumps(meta_out, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise WeightsError(f"weights meta must be JSON-serialisable: {exc}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={_HEADER_KEY: meta_text})
        digest = file_sha256(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return write_sidecar(path, json.loads(meta_text), sha256=digest)


def write_sidecar(path: str | os.PathLike[str], meta: Mapping[str, Any], *,
                  sha256: str | None = None) -> Weights:
    """Write ``<path>.json`` with the file's SHA-256 and ``meta``; return its :class:`Weights`."""
    path = Path(os.fspath(path)).expanduser()
    digest = sha256 or file_sha256(path)
    sidecar = {"format": SIDECAR_FORMAT, "file": path.name, "sha256": digest, "meta": dict(meta)}
    try:
        text = json.dumps(sidecar, indent=2, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise WeightsError(f"weights meta must be JSON-serialisable: {exc}") from None
    sidecar_path(path).write_text(text + "\n", encoding="utf-8")
    return Weights(str(path.resolve()), digest, dict(meta))


# --------------------------------------------------------------------------- torchvision

def fetch_torchvision_weights(enum_cls: Any, name: str) -> tuple[Any, dict[str, "torch.Tensor"]]:
    """torchvision's checkpoint ``enum_cls[name]`` and its state dict, via the torch hub cache.

    Needs network access unless the file is already in
    ``torch.hub.get_dir()/checkpoints``. The download is hash-checked and read
    with ``weights_only=True``.

    Raises:
        WeightsError: unknown name, or the file can be neither found nor fetched.
    """
    import torch.hub

    try:
        member = enum_cls[name[len(enum_cls.__name__) + 1:]
                          if name.startswith(enum_cls.__name__ + ".") else name]
    except KeyError:
        raise WeightsError(f"torchvision has no {enum_cls.__name__}.{name}; choose one of "
                           f"{', '.join(enum_cls.__members__)}") from None
    try:
        state = torch.hub.load_state_dict_from_url(member.url, progress=False, check_hash=True,
                                                   weights_only=True)
    except Exception as exc:  # URLError, HTTPError, hash mismatch, ...
        raise WeightsError(
            f"could not get torchvision weights {enum_cls.__name__}.{member.name} from "
            f"{member.url} nor from the hub cache {torch.hub.get_dir()}/checkpoints "
            f"({type(exc).__name__}: {exc}). On an offline machine pass a local file instead: "
            "copy the .pth into that cache folder, or save the weights on a connected machine "
            "with save_weights and pass the .safetensors path") from None
    return member, _tensor_dict(state, member.url)
