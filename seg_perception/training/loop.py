"""The training loop: :func:`train` as named steps (data, model, resume, epochs, final
weights), each epoch as optimiser steps."""
from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import ConfigError
from .checkpoints import resume_run, save_checkpoint
from .config import TrainConfig, TrainResult, config_json
from .data import Subset, as_samples, image_size, split
from .history import write_history
from .maskrcnn import MaskRCNNTask
from .shipping import final_validation, ship_weights
from .state import TrainingRun
from .tasks import Task
from .unet import UNetTask

__all__ = ["lr_at", "train", "train_maskrcnn", "train_unet"]

_MAX_NONFINITE = 10    # consecutive NaN/inf losses before giving up
_TASKS: dict[str, Callable[..., Task]] = {"maskrcnn": MaskRCNNTask, "unet": UNetTask}


def train(task: str, data: Any, out_dir: str | os.PathLike[str], *, val_data: Any = None,
          config: TrainConfig | None = None, resume: str | os.PathLike[str] | None = None,
          progress: bool = True, command: str | None = None) -> TrainResult:
    """Train ``task`` (``"maskrcnn"`` or ``"unet"``) and save weights the builders load.

    Args:
        task: ``"maskrcnn"`` (instances) or ``"unet"`` (scene layout).
        data: training data: a COCO RGB-D folder, a
            :class:`~seg_perception.sim.dataset.CocoRGBDDataset`, or a sequence
            of samples with ``frame``, ``instances`` and ``semantic``.
        out_dir: where checkpoints, history, plot and weights go (created).
        val_data: validation data (same kinds); None holds out
            ``config.val_fraction`` of ``data``.
        config: the options (:class:`TrainConfig`; default one if None).
        resume: a checkpoint (``checkpoints/last.pt``) to continue from: model,
            optimizer, epoch, step, history and RNG state are restored; ``config``
            gives the target number of epochs.
        progress: tqdm progress bar and per-epoch lines on stderr.
        command: the command line that started the run, stored in the meta.

    Returns:
        A :class:`TrainResult`; ``result.weights.path`` is the ``.safetensors`` file.

    Raises:
        ConfigError: bad options, data without the labels the task needs, or a
            checkpoint of another task or architecture.
    """
    import torch

    cfg = (config or TrainConfig()).check(task)
    started = time.monotonic()
    torch.set_num_threads(int(cfg.num_threads))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train_set, val_set = _load_data(data, val_data, cfg)
    run = _start_run(task, cfg, train_set, val_set, out, started, progress)
    if resume is not None:
        resume_run(run, resume)
    run.history["runs"].append({"command": command, "start_epoch": run.epoch,
                                "start_step": run.step, "config": config_json(cfg)})
    while run.epoch < cfg.epochs and not run.stopped:
        _train_epoch(run)
    seconds = time.monotonic() - started
    # The weights' metrics must describe these weights: validate again if the last
    # recorded validation is older than the last step.
    last_val = final_validation(run)
    run.history.setdefault("seconds", 0.0)
    run.history["seconds"] = round(float(run.history["seconds"]) + seconds, 1)
    write_history(run.history, out, title=run.title)
    weights = ship_weights(run, last_val, command)
    return TrainResult(weights=weights, history=run.history, checkpoint=run.checkpoint_path,
                       out_dir=out, epochs_completed=run.epoch, stopped_early=run.stopped,
                       seconds=seconds, model=run.job.model.eval())


def train_maskrcnn(data: Any, out_dir: str | os.PathLike[str], **kwargs: Any) -> TrainResult:
    """:func:`train` of ``"maskrcnn"`` (same keyword arguments)."""
    return train("maskrcnn", data, out_dir, **kwargs)


def train_unet(data: Any, out_dir: str | os.PathLike[str], **kwargs: Any) -> TrainResult:
    """:func:`train` of ``"unet"`` (same keyword arguments)."""
    return train("unet", data, out_dir, **kwargs)


def _load_data(data: Any, val_data: Any, cfg: TrainConfig) -> tuple[Any, Any]:
    """The training set and the validation set (held out of ``data`` when not given)."""
    train_set = as_samples(data, "data")
    val_set = as_samples(val_data, "val_data")
    if train_set is None or len(train_set) == 0:
        raise ConfigError("the training data is empty")
    train_set, val_set = split(train_set, val_set, cfg.val_fraction, cfg.seed)
    if val_set is not None and cfg.val_max_frames is not None:
        val_set = Subset(val_set, range(min(len(val_set), cfg.val_max_frames)))
    return train_set, val_set


def _start_run(task: str, cfg: TrainConfig, train_set: Any, val_set: Any, out: Path,
               started: float, progress: bool) -> TrainingRun:
    """The model (seeded), its optimiser and an empty history, at step 0."""
    import torch

    size = image_size(cfg, train_set)
    torch.manual_seed(cfg.seed)  # the initial weights
    job = _TASKS[task](cfg, size, train_set)
    params = [p for p in job.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    n = len(train_set)
    # Full batches only: batch norm dislikes a batch of one.
    steps_per_epoch = n // min(cfg.batch_size, n)
    history: dict[str, Any] = {"task": task, "arch": cfg.arch, "metric": job.metric,
                               "steps": [], "epochs": [], "runs": []}
    deadline = None if cfg.max_minutes is None else started + 60.0 * cfg.max_minutes
    return TrainingRun(task=task, cfg=cfg, job=job, optimizer=optimizer, params=params,
                       train_set=train_set, val_set=val_set, out=out, started=started,
                       deadline=deadline, steps_per_epoch=steps_per_epoch,
                       total_steps=steps_per_epoch * cfg.epochs, history=history,
                       progress=progress)


def _train_epoch(run: TrainingRun) -> None:
    """The rest of the current epoch; then validation, history and checkpoint (or only a
    checkpoint when the time budget stops the run inside the epoch)."""
    epoch_started = time.monotonic()
    losses = _train_steps(run)
    if run.stopped and run.batch_start < run.steps_per_epoch:
        if run.progress:
            print(f"[train] time budget of {run.cfg.max_minutes} min spent at epoch "
                  f"{run.epoch + 1} step {run.batch_start}/{run.steps_per_epoch}; checkpoint "
                  f"{run.checkpoint_path}", file=sys.stderr)
        save_checkpoint(run, stopped=True)
        return
    _end_epoch(run, losses, epoch_started)


def _train_steps(run: TrainingRun) -> list[float]:
    """Optimiser steps from ``run.batch_start`` to the end of the epoch or the time budget;
    the epoch order and each image's augmentation come from ``(seed, epoch, index)``."""
    from tqdm import tqdm

    cfg, epoch, bs = run.cfg, run.epoch, run.batch_size
    order = np.random.default_rng([cfg.seed, epoch]).permutation(run.n)
    losses: list[float] = []
    bar = tqdm(range(run.batch_start, run.steps_per_epoch), desc=f"{run.task} epoch "
               f"{epoch + 1}/{cfg.epochs}", unit="step", disable=not run.progress, leave=False,
               file=sys.stderr, dynamic_ncols=True)
    for b in bar:
        idx = order[b * bs:(b + 1) * bs]
        rngs = [np.random.default_rng([cfg.seed, epoch, int(i)]) for i in idx]
        value, lr = _train_step(run, [run.train_set[int(i)] for i in idx], rngs)
        losses.append(value)
        run.batch_start = b + 1
        bar.set_postfix(loss=f"{value:.4f}", lr=f"{lr:.2e}")
        if run.deadline is not None and time.monotonic() > run.deadline and (
                run.batch_start < run.steps_per_epoch or epoch + 1 < cfg.epochs):
            run.stopped = True
            break
    bar.close()
    return losses


def _train_step(run: TrainingRun, samples: list[Any],
                rngs: list[np.random.Generator]) -> tuple[float, float]:
    """One optimiser step (skipped when the loss is not finite); ``(loss, learning rate)``."""
    import torch

    cfg, job, optimizer = run.cfg, run.job, run.optimizer
    batch = job.batch(samples, rngs)
    spent = 0.0
    if cfg.anneal_by_time and run.deadline is not None:
        spent = (time.monotonic() - run.started) / (run.deadline - run.started)
    lr = lr_at(run.step, run.total_steps, cfg, spent)
    for group in optimizer.param_groups:
        group["lr"] = lr
    loss, parts = job.loss(batch)
    if not torch.isfinite(loss):
        run.nonfinite += 1
        if run.nonfinite >= _MAX_NONFINITE:
            raise ConfigError(f"the loss was not finite for {run.nonfinite} steps in a row "
                              f"(at step {run.step}); lower the learning rate (lr={cfg.lr})")
        optimizer.zero_grad(set_to_none=True)
    else:
        run.nonfinite = 0
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(run.params, cfg.grad_clip)
        optimizer.step()
    value = float(loss.detach())
    run.history["steps"].append({"step": run.step, "epoch": run.epoch, "loss": round(value, 6),
                                 "lr": lr, **{k: round(v, 6) for k, v in parts.items()}})
    run.step += 1
    return value, lr


def _end_epoch(run: TrainingRun, losses: list[float], epoch_started: float) -> None:
    """Validate, record the epoch, checkpoint, rewrite the history and report progress."""
    cfg, history = run.cfg, run.history
    val = run.job.validate(run.val_set) if run.has_validation() else {}
    history["epochs"].append({
        "epoch": run.epoch + 1, "end_step": run.step,
        "train_loss": float(np.mean(losses)) if losses else float("nan"),
        "seconds": round(time.monotonic() - epoch_started, 2), "val": val})
    run.epoch, run.batch_start = run.epoch + 1, 0
    save_checkpoint(run, stopped=run.stopped)
    write_history(history, run.out, title=run.title)
    if run.progress:
        metric = run.job.metric
        shown = f" val {metric}={val[metric]:.4f}" if metric in val else ""
        print(f"[train] epoch {run.epoch}/{cfg.epochs} loss="
              f"{history['epochs'][-1]['train_loss']:.4f}{shown} "
              f"({history['epochs'][-1]['seconds']:.0f} s)", file=sys.stderr)
    if run.stopped and run.progress:
        print(f"[train] time budget of {cfg.max_minutes} min spent after epoch {run.epoch}; "
              f"checkpoint {run.checkpoint_path}", file=sys.stderr)


def lr_at(step: int, total: int, cfg: TrainConfig, time_fraction: float = 0.0) -> float:
    """Linear warm-up, then cosine decay to 5 % over the steps (or the time budget)."""
    warm = max(1, min(cfg.warmup_steps, total // 2))
    if step < warm:
        return cfg.lr * (0.01 + 0.99 * step / warm)
    t = min(1.0, max((step - warm) / max(1, total - warm), time_fraction))
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))
