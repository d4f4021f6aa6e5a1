"""The core library stays light: importing it loads no ROS, torch, open3d or pybullet."""
import subprocess
import sys

HEAVY = ("rclpy", "torch", "open3d", "onnxruntime", "pybullet", "torchvision")


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_import_core_is_light():
    loaded = _loaded_after("import seg_perception, seg_perception.pipeline, seg_perception.config")
    assert not {m for m in HEAVY if m in loaded}


def test_listing_backends_does_not_import_torch():
    loaded = _loaded_after("import seg_perception as s; s.list_instance_segmenters(); "
                           "s.list_semantic_segmenters()")
    assert "torch" not in loaded and "onnxruntime" not in loaded


def test_the_default_pipeline_imports_no_torch_without_a_gpu():
    """device: auto on a machine without an NVIDIA driver: the geometric default needs
    numpy, scipy and OpenCV only (each worker process would pay ~2 s and ~400 MB)."""
    from seg_perception.devices import _cuda_driver_present

    loaded = _loaded_after("from seg_perception.pipeline import Pipeline; "
                           "from seg_perception.config import PipelineConfig; "
                           "from seg_perception.devices import resolve_device; "
                           "resolve_device('auto'); Pipeline(PipelineConfig())")
    heavy = {m for m in HEAVY if m in loaded}
    if _cuda_driver_present():  # auto picks the GPU here: torch is expected
        assert "torch" in loaded
    else:
        assert not heavy
