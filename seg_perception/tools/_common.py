"""Pieces shared by the sub-commands: pipeline from options, per-scene outputs."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..config import PipelineConfig, load_yaml_parameters
from ..io import save_ply, scene_summary, write_json
from ..results import Scene
from ..scene_cloud import scene_cloud

__all__ = ["add_pipeline_arguments", "pipeline_config_from_args", "save_scene_outputs"]


def add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="ROS parameter YAML (e.g. config/default.yaml)")
    parser.add_argument("--instance-backend", help="override instance_backend")
    parser.add_argument("--instance-weights", help="override instance_weights")
    parser.add_argument("--semantic-backend", help="override semantic_backend ('none' to skip)")
    parser.add_argument("--semantic-weights", help="override semantic_weights")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="override device")


def pipeline_config_from_args(args: argparse.Namespace, **defaults: Any) -> PipelineConfig:
    values: dict[str, Any] = dict(defaults)
    if getattr(args, "config", None):
        values.update(load_yaml_parameters(args.config))
    for key in ("instance_backend", "instance_weights", "semantic_backend", "semantic_weights",
                "device"):
        value = getattr(args, key, None)
        if value is not None:
            values[key] = value
    return PipelineConfig.from_mapping(values, strict=False)


def save_scene_outputs(scene: Scene, out_dir: Path, name: str) -> dict[str, Any]:
    """Write ``overlays/NAME.png``, ``clouds/NAME.ply`` and ``scenes/NAME.json``."""
    import cv2

    from ..visualize import overlay_scene

    for sub in ("overlays", "clouds", "scenes"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out_dir / "overlays" / f"{name}.png"), overlay_scene(scene)[:, :, ::-1])
    cloud = scene_cloud(scene)
    save_ply(out_dir / "clouds" / f"{name}.ply", cloud.points, cloud.colors, cloud.labels)
    summary = scene_summary(scene)
    write_json(out_dir / "scenes" / f"{name}.json", summary)
    return summary
