"""`seg-perception export-onnx`: export trained weights to ONNX and check onnxruntime against torch.

    seg-perception export-onnx maskrcnn seg_perception/weights/maskrcnn_mobilenet_sim_v1.safetensors out/maskrcnn.onnx
    seg-perception export-onnx unet out/train_unet/model.safetensors out/unet.onnx --data out/sim_val

The ONNX file (and its ``.json`` sidecar with the meta and SHA-256) loads with
``build_instance_segmenter("onnx", weights=OUT)`` or
``build_semantic_segmenter("onnx_semantic", weights=OUT)``. After the export
both models run on one frame (the first of ``--data``, else a synthetic
scene) and the largest differences are printed; the exit status is 1 when they
exceed ``--atol``.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

__all__ = ["add_arguments", "compare_instance", "compare_semantic", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task", choices=("maskrcnn", "unet"))
    parser.add_argument("weights", help=".safetensors/.pt weights (with their .json sidecar)")
    parser.add_argument("out", help="the .onnx file to write")
    parser.add_argument("--arch", default=None, help="maskrcnn: the builder "
                        "(default: the weights' meta, else maskrcnn_mobilenet)")
    parser.add_argument("--width", type=int, default=None,
                        help="width of the example input (default: the training size, else 640)")
    parser.add_argument("--height", type=int, default=None,
                        help="height of the example input (default: the training size, else 480)")
    parser.add_argument("--static", action="store_true",
                        help="fixed input size (default: any size)")
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument("--data", default=None,
                        help="COCO RGB-D folder whose first frame is used for the check")
    parser.add_argument("--atol", type=float, default=1e-3,
                        help="largest accepted difference of logits and scores "
                        "(mask probabilities: 10 x atol; boxes: 100 x atol pixels)")


def _frame(args: argparse.Namespace, width: int, height: int) -> Any:
    if args.data:
        from ..sim.dataset import CocoRGBDDataset

        return CocoRGBDDataset(args.data)[0].frame
    from ..sim.synthetic import preset_objects, render_scene

    return render_scene(preset_objects("separated"), width=width, height=height).frame


def compare_semantic(seg: Any, onnx_path: str, frame: Any) -> dict[str, float]:
    """Largest ``|torch - onnxruntime|`` of the logits on ``frame`` and label agreement."""
    import onnxruntime as ort
    import torch

    from ..segmenters import build_semantic_segmenter
    from ..segmenters._learned import semantic_input

    x, _ = semantic_input(frame, in_channels=seg.in_channels, resize_size=seg.resize_size,
                          size_multiple=seg.size_multiple)
    with torch.inference_mode():
        ref = seg.model(torch.from_numpy(x[None]).to(seg.device))
        ref = (ref["out"] if isinstance(ref, dict) else ref).float().cpu().numpy()
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x[None]})[0]
    onnx_seg = build_semantic_segmenter("onnx_semantic", weights=onnx_path)
    agree = float((onnx_seg.segment(frame).labels == seg.segment(frame).labels).mean())
    return {"max_abs_logit_diff": float(np.abs(ref - got).max()), "label_agreement": agree}


def compare_instance(seg: Any, onnx_path: str, frame: Any) -> dict[str, float]:
    """Largest differences of the raw detections of torch and onnxruntime on ``frame``."""
    import onnxruntime as ort
    import torch

    from ..segmenters._learned import frame_array

    x = frame_array(frame, seg.in_channels)
    with torch.inference_mode():
        ref = seg.model([torch.from_numpy(x).to(seg.device)])[0]
    ref = {k: v.float().cpu().numpy() for k, v in ref.items()}
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    got = dict(zip(names, session.run(None, {session.get_inputs()[0].name: x})))
    out = {"torch_detections": float(len(ref["scores"])),
           "onnx_detections": float(len(got["scores"]))}
    n = min(len(ref["scores"]), len(got["scores"]))
    if n:
        out["max_abs_score_diff"] = float(np.abs(ref["scores"][:n] - got["scores"][:n]).max())
        out["max_abs_box_diff_px"] = float(np.abs(ref["boxes"][:n] - got["boxes"][:n]).max())
        out["max_abs_mask_diff"] = float(np.abs(ref["masks"][:n] - got["masks"][:n]).max())
    return out


def run(args: argparse.Namespace) -> int:
    from ..segmenters import build_instance_segmenter, build_semantic_segmenter
    from ..segmenters._weights import read_sidecar
    from ..segmenters.onnx_backend import export_maskrcnn_onnx, export_semantic_onnx

    side = read_sidecar(args.weights) or {}
    meta = side.get("meta") or {}
    size = meta.get("training", {}).get("config", {}).get("image_size") or [640, 480]
    width, height = args.width or int(size[0]), args.height or int(size[1])
    frame = _frame(args, width, height)
    if args.task == "maskrcnn":
        arch = args.arch or meta.get("arch") or "maskrcnn_mobilenet"
        seg = build_instance_segmenter(arch, weights=args.weights)
        written = export_maskrcnn_onnx(seg, args.out, height=height, width=width,
                                       dynamic_size=not args.static, opset_version=args.opset,
                                       example=frame if (frame.height, frame.width) ==
                                       (height, width) else None)
        if args.static and (frame.height, frame.width) != (height, width):
            print("the check frame differs from the static export size; skipping the "
                  "raw comparison", file=sys.stderr)
            diffs: dict[str, float] = {}
        else:
            diffs = compare_instance(seg, args.out, frame)
        bad = (diffs.get("torch_detections") != diffs.get("onnx_detections")
               or diffs.get("max_abs_score_diff", 0.0) > args.atol
               or diffs.get("max_abs_mask_diff", 0.0) > 10 * args.atol
               or diffs.get("max_abs_box_diff_px", 0.0) > 100 * args.atol) if diffs else False
    else:
        seg = build_semantic_segmenter("unet", weights=args.weights)
        written = export_semantic_onnx(seg, args.out, height=height, width=width,
                                       dynamic_size=not args.static, opset_version=args.opset)
        diffs = compare_semantic(seg, args.out, frame)
        bad = diffs["max_abs_logit_diff"] > args.atol
    print(f"wrote {written.path} (sha256 {written.sha256[:16]}...)")
    print("onnxruntime vs torch on one {}x{} frame: {}".format(
        frame.width, frame.height, json.dumps({k: round(v, 7) for k, v in diffs.items()})))
    if bad:
        print(f"differences exceed --atol {args.atol}", file=sys.stderr)
        return 1
    return 0
