"""Training checkpoints: written atomically, read back safely (``weights_only``)."""
from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .config import config_json

if TYPE_CHECKING:
    from .state import TrainingRun

__all__ = ["CHECKPOINT_FORMAT", "load_checkpoint", "resume_run", "save_checkpoint"]

CHECKPOINT_FORMAT = "seg_perception.checkpoint/1"


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file, then renamed: a crash never leaves half a file."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A training checkpoint written by :func:`train` (read with ``weights_only=True``).

    Returns:
        ``{"format", "task", "identity", "model", "optimizer", "epoch", "batch",
        "step", "history", "torch_rng", "config", "stopped"}``: ``epoch`` full
        epochs were done and ``batch`` steps of the next one.

    Raises:
        ConfigError: the file is missing or not a seg_perception training checkpoint.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"checkpoint {path} does not exist; pass OUT/checkpoints/last.pt of "
                          "an earlier run")
    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling refused or a broken file
        raise ConfigError(f"{path} is not a readable training checkpoint ({type(exc).__name__}: "
                          f"{exc})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(f"{path} is not a seg_perception training checkpoint (format "
                          f"{CHECKPOINT_FORMAT}); to start from plain weights, train anew")
    return ckpt


def save_checkpoint(run: "TrainingRun", *, stopped: bool) -> None:
    """``run.checkpoint_path``: model, optimizer, position, history and torch RNG state."""
    import torch

    atomic_torch_save({
        "format": CHECKPOINT_FORMAT, "task": run.task, "identity": run.job.identity(),
        "model": run.job.model.state_dict(), "optimizer": run.optimizer.state_dict(),
        "epoch": run.epoch, "batch": run.batch_start, "step": run.step,
        "steps_per_epoch": run.steps_per_epoch, "history": json.dumps(run.history),
        "torch_rng": torch.get_rng_state(), "config": json.dumps(config_json(run.cfg)),
        "stopped": stopped}, run.checkpoint_path)


def resume_run(run: "TrainingRun", resume: str | os.PathLike[str]) -> None:
    """Restore model, optimizer, position, history and torch RNG state of ``run`` from the
    checkpoint ``resume``; ConfigError when it is of another model."""
    import torch

    ckpt = load_checkpoint(resume)
    job = run.job
    if ckpt.get("task") != run.task or ckpt.get("identity") != job.identity():
        raise ConfigError(
            f"checkpoint {resume} is of another model ({ckpt.get('task')}: "
            f"{ckpt.get('identity')}) than this run ({run.task}: {job.identity()}); resume with "
            "the same --arch, --in-channels, classes and model options")
    job.model.load_state_dict(ckpt["model"])
    run.optimizer.load_state_dict(ckpt["optimizer"])
    run.epoch, run.batch_start, run.step = int(ckpt["epoch"]), int(ckpt["batch"]), int(ckpt["step"])
    run.history = json.loads(ckpt["history"])
    torch.set_rng_state(ckpt["torch_rng"])
    if run.batch_start and ckpt.get("steps_per_epoch") != run.steps_per_epoch:
        warnings.warn(f"{resume} stopped inside an epoch of another length (data or batch "
                      "size changed); resuming at the next epoch", RuntimeWarning,
                      stacklevel=3)
        run.epoch, run.batch_start = run.epoch + 1, 0
    if run.progress:
        print(f"[train] resumed {resume}: epoch {run.epoch} step {run.step}", file=sys.stderr)
