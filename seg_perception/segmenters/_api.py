"""Registry of segmentation backends, in the style of ``torchvision.models``.

Backends register a keyword-only builder with a decorator; users pick one by
name (``build_instance_segmenter("geometric")``). Backend modules are imported
on first use, so ``import seg_perception`` stays light (no torch, no open3d).
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, TypeVar

from ..errors import UnknownBackendError

__all__ = [
    "build_instance_segmenter",
    "build_semantic_segmenter",
    "list_instance_segmenters",
    "list_semantic_segmenters",
    "register_instance_segmenter",
    "register_semantic_segmenter",
]

F = TypeVar("F", bound=Callable[..., Any])

# Modules that register the built-in backends when imported.
_BUILTIN_MODULES = (
    "geometric", "layout", "mask_rcnn", "torchvision_semantic", "unet", "onnx_backend",
    "yolo_seg",
)
_INSTANCE: dict[str, Callable[..., Any]] = {}
_SEMANTIC: dict[str, Callable[..., Any]] = {}
_loaded = False


def _register(table: dict[str, Callable[..., Any]], kind: str, name: str) -> Callable[[F], F]:
    def wrap(builder: F) -> F:
        if name in table and table[name] is not builder:
            raise ValueError(f"a {kind} segmenter named {name!r} is already registered")
        table[name] = builder
        return builder
    return wrap


def register_instance_segmenter(name: str) -> Callable[[F], F]:
    """Decorator: make ``builder(*, weights=None, device='cpu', **config)`` buildable by name."""
    return _register(_INSTANCE, "instance", name)


def register_semantic_segmenter(name: str) -> Callable[[F], F]:
    """Decorator: the semantic counterpart of :func:`register_instance_segmenter`."""
    return _register(_SEMANTIC, "semantic", name)


def _load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    for module in _BUILTIN_MODULES:
        try:
            importlib.import_module(f"{__package__}.{module}")
        except ModuleNotFoundError as exc:
            # Only tolerate a backend module that does not exist yet, not a broken import.
            if exc.name != f"{__package__}.{module}":
                raise
    _loaded = True


def list_instance_segmenters() -> list[str]:
    """Sorted names accepted by :func:`build_instance_segmenter`."""
    _load_builtins()
    return sorted(_INSTANCE)


def list_semantic_segmenters() -> list[str]:
    """Sorted names accepted by :func:`build_semantic_segmenter`."""
    _load_builtins()
    return sorted(_SEMANTIC)


def _build(table: dict[str, Callable[..., Any]], kind: str, name: str, kwargs: dict[str, Any]) -> Any:
    _load_builtins()
    try:
        builder = table[name]
    except KeyError:
        raise UnknownBackendError(
            f"unknown {kind} segmenter {name!r}; available: {', '.join(sorted(table))}") from None
    return builder(**kwargs)


def build_instance_segmenter(name: str, **config: Any) -> Any:
    """Build the instance segmenter registered as ``name``.

    ``config`` is passed to the builder: ``weights`` (path or weights enum
    member), ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``) and backend options.

    Example:
        >>> seg = build_instance_segmenter("geometric")
        >>> seg.name
        'geometric'
    """
    return _build(_INSTANCE, "instance", name, config)


def build_semantic_segmenter(name: str, **config: Any) -> Any:
    """Build the semantic segmenter registered as ``name`` (see :func:`build_instance_segmenter`)."""
    return _build(_SEMANTIC, "semantic", name, config)
