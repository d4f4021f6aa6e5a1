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


def _package_imports() -> dict[str, set[tuple[str, str]]]:
    """module -> {(imported module, name)} for every import of seg_perception's own modules,
    type-only and function-level ones included."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "seg_perception"
    mods = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    edges: dict[str, set[tuple[str, str]]] = {m: set() for m in mods}
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in mods:
                    edges[mod].add((sub, ""))
                elif target in mods:
                    edges[mod].add((target, alias.name))
    return edges


def test_no_import_cycle_in_the_package():
    edges = {m: {t for t, _ in e} for m, e in _package_imports().items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(mod: str, path: list[str]) -> None:
        state[mod] = 1
        for nxt in sorted(edges.get(mod, ())):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[mod] = 2

    for mod in sorted(edges):
        if mod not in state:
            visit(mod, [mod])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_module_imports_private_names_of_another():
    """A name with a leading underscore stays in its module: what another module needs
    is public there. Names of a package's private modules (``segmenters._api``) are
    that package's to share."""
    def own_private_module(mod: str, target: str) -> bool:
        package, leaf = target.rsplit(".", 1)
        return _is_private(leaf) and mod.startswith(package + ".")

    found = {(mod, target, name) for mod, edges in _package_imports().items()
             for target, name in edges
             if _is_private(name) and not own_private_module(mod, target)}
    assert found == set(), f"private names imported: {sorted(found)}"
