"""`seg-perception train`: train Mask R-CNN or the U-Net on a COCO RGB-D dataset.

    seg-perception export-dataset out/sim_train --frames 300 --width 320 --height 240 --seed 0
    seg-perception train maskrcnn --data out/sim_train --val out/sim_val --out out/train_maskrcnn \\
        --epochs 8 --batch-size 4 --image-size 320x240 --max-minutes 25
    seg-perception train unet --data out/sim_train --val out/sim_val --out out/train_unet
    seg-perception train unet --data out/sim_train --out out/train_unet --epochs 20 \\
        --resume out/train_unet/checkpoints/last.pt          # continue a stopped run

Writes OUT/model.safetensors (+ .json meta), OUT/checkpoints/last.pt,
OUT/history.json and OUT/loss_curve.png (see :mod:`seg_perception.training`).
The weights load with ``build_instance_segmenter(ARCH, weights=OUT/model.safetensors)``
or ``build_semantic_segmenter("unet", weights=...)``.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys

from ..benchmark import parse_size
from ..training import ARCHS, TASKS, AugmentConfig, TrainConfig

__all__ = ["add_arguments", "run"]


def _crop_size(text: str) -> tuple[int, int]:
    """``--image-size``: ``"320x240"`` -> ``(320, 240)`` (width, height), at least 32x32."""
    try:
        w, h = parse_size(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT, e.g. 320x240") from None
    if w < 32 or h < 32:
        raise argparse.ArgumentTypeError(f"{text!r}: both sides must be at least 32 pixels")
    return w, h


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
    parser.add_argument("task", choices=TASKS, help="maskrcnn (instances) or unet (scene layout)")
    parser.add_argument("--data", required=True, help="training COCO RGB-D folder "
                        "(`seg-perception export-dataset`)")
    parser.add_argument("--val", default=None, help="validation folder (default: hold out "
                        "--val-fraction of --data)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--arch", default=None,
                        help="maskrcnn: " + "|".join(ARCHS["maskrcnn"]) + " (default "
                        f"{ARCHS['maskrcnn'][0]}); unet: unet")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.lr, help="peak AdamW learning rate")
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    parser.add_argument("--warmup-steps", type=int, default=defaults.warmup_steps)
    parser.add_argument("--image-size", type=_crop_size, default=None, metavar="WxH",
                        help="training crop size (default: the dataset's image size); "
                        "the inference preset follows it")
    parser.add_argument("--in-channels", type=int, choices=(3, 4), default=defaults.in_channels,
                        help="3 = RGB, 4 = RGB + depth")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--threads", type=int, default=defaults.num_threads,
                        help="torch CPU threads")
    parser.add_argument("--device", default=defaults.device, help="cpu or cuda[:N]")
    parser.add_argument("--resume", default=None, metavar="CKPT",
                        help="continue from OUT/checkpoints/last.pt of an earlier run")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop after this much wall-clock time (after the current step), "
                        "saving a checkpoint and the weights")
    parser.add_argument("--anneal-by-time", action="store_true",
                        help="with --max-minutes: decay the learning rate over the time budget "
                        "when it runs out before the epochs (not bit-reproducible)")
    parser.add_argument("--val-fraction", type=float, default=defaults.val_fraction,
                        help="share of --data held out when --val is not given")
    parser.add_argument("--val-max-frames", type=int, default=None,
                        help="validate each epoch on at most this many frames")
    parser.add_argument("--categories", action="store_true",
                        help="maskrcnn: learn the dataset's categories (default: one class "
                        "'object')")
    parser.add_argument("--no-augment", action="store_true", help="no augmentation")
    parser.add_argument("--scale", default="0.75,1.35", help="scale jitter range LOW,HIGH")
    parser.add_argument("--model-config", default="{}",
                        help="JSON of extra builder options, e.g. "
                        "'{\"backbone\": \"mobilenet_v3_small\"}'")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..training import train

    try:
        model_config = json.loads(args.model_config)
        low, high = (float(v) for v in args.scale.split(","))
    except (json.JSONDecodeError, ValueError) as exc:
        raise SystemExit(f"--model-config must be a JSON object and --scale LOW,HIGH: {exc}")
    if not isinstance(model_config, dict):
        raise SystemExit("--model-config must be a JSON object, e.g. '{\"fpn_channels\": 64}'")
    try:
        config = TrainConfig(
            arch=args.arch, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
            weight_decay=args.weight_decay, warmup_steps=args.warmup_steps,
            image_size=args.image_size, in_channels=args.in_channels, seed=args.seed,
            num_threads=args.threads, max_minutes=args.max_minutes,
            anneal_by_time=args.anneal_by_time,
            augment=None if args.no_augment else AugmentConfig(scale=(low, high)),
            class_agnostic=not args.categories, val_fraction=args.val_fraction,
            val_max_frames=args.val_max_frames, model_config=model_config, device=args.device)
        command = "seg-perception train " + " ".join(shlex.quote(a) for a in sys.argv[2:]) \
            if len(sys.argv) > 2 and sys.argv[1] == "train" else None
        if command is None:  # called as a function (tests): rebuild it from the options
            command = _command_from(args)
        result = train(args.task, args.data, args.out, val_data=args.val, config=config,
                       resume=args.resume, progress=not args.quiet, command=command)
    except ConfigError as exc:
        raise SystemExit(f"seg-perception train: {exc}") from None
    metrics = result.weights.meta.get("metrics") or {}
    shown = "; ".join(f"{name}: " + ", ".join(f"{k}={v:.4f}" for k, v in values.items()
                                               if k in ("mask_AP", "mask_AP50", "miou",
                                                        "pixel_accuracy"))
                      for name, values in metrics.items())
    state = "stopped at the time budget" if result.stopped_early else "done"
    print(f"{state}: {result.epochs_completed} epochs in {result.seconds / 60:.1f} min"
          f"{'; ' + shown if shown else ''}")
    print(f"weights {result.weights.path} (sha256 {result.weights.sha256[:16]}...)")
    print(f"checkpoint {result.checkpoint}; curve {result.out_dir / 'loss_curve.png'}")
    return 0


def _command_from(args: argparse.Namespace) -> str:
    parts = ["seg-perception", "train", args.task, "--data", str(args.data), "--out", str(args.out)]
    for flag, value in (("--val", args.val), ("--arch", args.arch), ("--epochs", args.epochs),
                        ("--batch-size", args.batch_size), ("--lr", args.lr),
                        ("--in-channels", args.in_channels), ("--seed", args.seed),
                        ("--max-minutes", args.max_minutes), ("--resume", args.resume)):
        if value is not None:
            parts += [flag, str(value)]
    if args.image_size:
        parts += ["--image-size", f"{args.image_size[0]}x{args.image_size[1]}"]
    return " ".join(shlex.quote(p) for p in parts)
