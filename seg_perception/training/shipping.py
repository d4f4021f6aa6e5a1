"""The run's final weights: validated last, saved with the meta the builders and readers need."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .config import config_json
from .data import dataset_name, describe

if TYPE_CHECKING:
    from ..segmenters._weights import Weights
    from .state import TrainingRun

__all__ = ["final_validation", "ship_weights"]


def final_validation(run: "TrainingRun") -> dict[str, float]:
    """Validation metrics of the final weights: the last epoch's, or a new validation when
    that is older than the last step (``history["final_val"]``); ``{}`` without validation."""
    history = run.history
    if history["epochs"] and history["epochs"][-1]["end_step"] == run.step:
        return dict(history["epochs"][-1]["val"])
    if run.has_validation():
        last_val = run.job.validate(run.val_set)
        history["final_val"] = {"step": run.step, "val": last_val}
        return last_val
    return {}


def ship_weights(run: "TrainingRun", last_val: dict[str, float],
                 command: str | None) -> "Weights":
    """``out/model.safetensors`` (+ meta): arch, categories, metrics of ``last_val``, how it
    was trained (command, data, config, versions)."""
    import torch

    from ..segmenters._weights import save_weights

    job, cfg = run.job, run.cfg
    meta = dict(job.seg.meta)
    if last_val:
        meta["metrics"] = {dataset_name(run.val_set, "val"): {
            k: round(v, 4) for k, v in last_val.items() if isinstance(v, float) and np.isfinite(v)}}
    else:
        meta["metrics"] = {}
    meta["training"] = {
        "command": command, "task": run.task, "data": describe(run.train_set),
        "val_data": describe(run.val_set),
        "num_train_images": run.n, "epochs_completed": run.epoch, "steps": run.step,
        "seconds": run.history["seconds"], "stopped_early": run.stopped,
        "config": config_json(cfg), "versions": {"torch": torch.__version__, **_versions()}}
    if run.task == "unet" and getattr(job, "weight", None) is not None:
        meta["training"]["class_weights"] = job.weight
    return save_weights(job.state_dict(), run.out / "model.safetensors", meta)


def _versions() -> dict[str, str]:
    versions = {}
    for name in ("torchvision", "numpy"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:  # pragma: no cover - both are dependencies of training
            pass
    return versions
