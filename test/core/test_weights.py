"""Weights files: safe loading, checksums, sidecars, architecture checks, devices."""
from __future__ import annotations

import json
import pickle
import sys
import urllib.error
import warnings
from pathlib import Path

import pytest
import torch

from seg_perception.devices import available_devices, resolve_device
from seg_perception.errors import ConfigError, DeviceUnavailableError, WeightsError
from seg_perception.segmenters import _weights as W
from seg_perception.segmenters._weights import (
    META_KEYS,
    Weights,
    WeightsEnum,
    fetch_torchvision_weights,
    file_sha256,
    load_into,
    load_state_dict,
    read_sidecar,
    resolve_weights,
    save_weights,
    sidecar_path,
)


def tiny_state() -> dict[str, "torch.Tensor"]:
    g = torch.Generator().manual_seed(0)
    return {"conv.weight": torch.randn(4, 3, 3, 3, generator=g),
            "conv.bias": torch.randn(4, generator=g),
            "bn.running_mean": torch.zeros(4)}


TINY_META = {"arch": "tiny", "categories": ["a", "b"], "in_channels": 3, "metrics": {},
             "transforms": {"resize_size": None}}


class Marker:
    """A pickle payload: unpickling it would create ``path`` (it must never run)."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):  # noqa: ANN204
        return (open, (self.path, "w"))


# --------------------------------------------------------------------------- save / load

def test_save_weights_round_trip_with_sidecar_and_header(tmp_path):
    state = tiny_state()
    path = tmp_path / "tiny.safetensors"
    w = save_weights(state, path, TINY_META)
    assert Path(w.path) == path.resolve() and w.sha256 == file_sha256(path)
    side = json.loads(sidecar_path(path).read_text())
    assert side["sha256"] == w.sha256 and side["file"] == "tiny.safetensors"
    assert side["meta"]["categories"] == ["a", "b"]
    assert side["meta"]["num_params"] == 4 * 27 + 4  # running stats are not parameters
    loaded = load_state_dict(path)
    assert set(loaded) == set(state)
    for key, value in state.items():
        assert torch.equal(loaded[key], value)
    # Without the sidecar the meta still comes from the safetensors header.
    sidecar_path(path).unlink()
    resolved = resolve_weights(str(path), arch="tiny")
    assert resolved is not None and resolved.meta["categories"] == ["a", "b"]
    assert resolved.sha256 is None  # no sidecar, nothing to verify against


def test_save_weights_handles_shared_tensors_and_rejects_bad_input(tmp_path):
    shared = torch.ones(3)
    w = save_weights({"a": shared, "b": shared, "c": shared[:2]}, tmp_path / "s.safetensors")
    assert torch.equal(load_state_dict(w)["c"], torch.ones(2))
    with pytest.raises(WeightsError, match=r"\.safetensors"):
        save_weights(tiny_state(), tmp_path / "x.pt")
    with pytest.raises(WeightsError, match="JSON-serialisable"):
        save_weights(tiny_state(), tmp_path / "y.safetensors", {"bad": object()})
    with pytest.raises(WeightsError, match="must be tensors.*n"):
        save_weights({"n": 3}, tmp_path / "z.safetensors")  # type: ignore[dict-item]


def test_checksum_mismatch_is_refused(tmp_path):
    w = save_weights(tiny_state(), tmp_path / "t.safetensors", TINY_META)
    with pytest.raises(WeightsError, match="sha256.*expected"):
        load_state_dict(Weights(w.path, "0" * 64, w.meta))
    # A sidecar from another file: the checksum catches the swap.
    other = save_weights({"x": torch.zeros(1)}, tmp_path / "o.safetensors")
    sidecar_path(other.path).write_text(sidecar_path(w.path).read_text())
    with pytest.raises(WeightsError, match="corrupt, truncated or a different checkpoint"):
        load_state_dict(other.path)
    assert load_state_dict(Weights(w.path, w.sha256[:12]))  # a prefix is enough
    with pytest.raises(WeightsError, match="not a hex digest"):
        load_state_dict(Weights(w.path, "xyz"))


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "does not exist"),
    (lambda p: p.mkdir(), "not a regular file"),
    (lambda p: p.write_bytes(b""), "empty"),
])
def test_missing_directory_or_empty_path(tmp_path, make, message):
    path = tmp_path / "w.safetensors"
    make(path)
    with pytest.raises(WeightsError, match=message) as info:
        load_state_dict(path)
    assert "w.safetensors" in str(info.value)


def test_unsupported_extension_is_refused(tmp_path):
    path = tmp_path / "model.pkl"
    with open(path, "wb") as stream:
        pickle.dump(tiny_state(), stream)
    with pytest.raises(WeightsError, match=r"unsupported extension '\.pkl'.*\.safetensors"):
        load_state_dict(path)


@pytest.mark.parametrize("suffix, content, message", [
    (".safetensors", b"\x00" * 64, "not a readable safetensors file"),
    (".safetensors", b"{not json at all" * 8, "not a readable safetensors file"),
    (".pt", b"PK\x03\x04 definitely not a zip", "not a readable PyTorch checkpoint"),
])
def test_corrupt_files(tmp_path, suffix, content, message):
    path = tmp_path / f"c{suffix}"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match=message):
        load_state_dict(path)


def test_truncated_safetensors(tmp_path):
    w = save_weights(tiny_state(), tmp_path / "t.safetensors")
    data = Path(w.path).read_bytes()
    Path(w.path).write_bytes(data[: len(data) // 2])
    sidecar_path(w.path).unlink()  # no checksum: the reader itself must notice
    with pytest.raises(WeightsError, match="truncated or corrupt"):
        load_state_dict(w.path)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    payload = {"conv.weight": torch.ones(1), "hook": Marker(marker)}
    if writer == "pickle":
        with open(path, "wb") as stream:
            pickle.dump(payload, stream)
    else:
        torch.save(payload, path)
    with pytest.raises(WeightsError, match="could run code"):
        load_state_dict(path)
    assert not marker.exists()
    # The payload is live: an unsafe load would have run it.
    if writer == "pickle":
        with open(path, "rb") as stream:
            pickle.load(stream)
    else:
        torch.load(path, weights_only=False)
    assert marker.exists()


def test_plain_pt_checkpoints_and_training_wrappers(tmp_path):
    state = tiny_state()
    torch.save(state, tmp_path / "plain.pth")
    assert set(load_state_dict(tmp_path / "plain.pth")) == set(state)
    torch.save({"model": state, "epoch": 3, "lr": 0.1}, tmp_path / "ckpt.pt")
    assert set(load_state_dict(tmp_path / "ckpt.pt")) == set(state)
    torch.save({"epoch": 3}, tmp_path / "nothing.pt")
    with pytest.raises(WeightsError, match="holds no state dict"):
        load_state_dict(tmp_path / "nothing.pt")


def test_expected_keys_name_missing_unexpected_and_mismatched(tmp_path):
    w = save_weights(tiny_state(), tmp_path / "t.safetensors")
    expected = {"conv.weight": (8, 3, 3, 3), "conv.bias": (4,), "head.weight": (2, 4),
                "bn.running_mean": (4,), "bn.num_batches_tracked": ()}
    with pytest.raises(WeightsError) as info:
        load_state_dict(w, expected_keys=expected)
    text = str(info.value)
    assert "missing: head.weight" in text
    assert "conv.weight (4, 3, 3, 3) (model (8, 3, 3, 3))" in text
    assert "num_batches_tracked" not in text  # an optional counter
    with pytest.raises(WeightsError, match="unexpected: conv.bias"):
        load_state_dict(w, expected_keys=["conv.weight", "bn.running_mean"])
    # Names only, and a training-only prefix dropped on request.
    got = load_state_dict(w, expected_keys=["conv.weight", "bn.running_mean"],
                          ignore_prefixes=("conv.bias",))
    assert set(got) == {"conv.weight", "bn.running_mean"}


def test_load_into_tolerates_batch_norm_counters(tmp_path):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    state = {k: v for k, v in model.state_dict().items() if "num_batches_tracked" not in k}
    state = {k: v + 1.0 for k, v in state.items()}
    w = save_weights(state, tmp_path / "m.safetensors")
    fresh = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    load_into(fresh, w)
    assert torch.equal(fresh[0].weight, state["0.weight"])
    wrong = torch.nn.Sequential(torch.nn.Conv2d(3, 5, 3), torch.nn.BatchNorm2d(5))
    with pytest.raises(WeightsError, match=r"0\.weight \(4, 3, 3, 3\) \(model \(5, 3, 3, 3\)\)"):
        load_into(wrong, w)


def test_sidecar_problems(tmp_path):
    w = save_weights(tiny_state(), tmp_path / "t.safetensors", TINY_META)
    sidecar_path(w.path).write_text("{broken")
    with pytest.raises(WeightsError, match="not valid JSON"):
        read_sidecar(w.path)
    sidecar_path(w.path).write_text("[1, 2]")
    with pytest.raises(WeightsError, match="'meta' object"):
        resolve_weights(w.path, arch="tiny")


# --------------------------------------------------------------------------- resolving

def test_resolve_weights_checks_the_architecture(tmp_path):
    w = save_weights(tiny_state(), tmp_path / "t.safetensors", TINY_META)
    assert resolve_weights(None, arch="tiny") is None and resolve_weights("", arch="x") is None
    assert resolve_weights(w.path, arch="tiny").meta["arch"] == "tiny"
    with pytest.raises(WeightsError, match="saved for the 'tiny' backend, not 'unet'"):
        resolve_weights(w.path, arch="unet")
    with pytest.raises(WeightsError, match="no bundled weights named 'DEFAULT'.*torchvision:DEFAULT"):
        resolve_weights("DEFAULT", arch="tiny")
    with pytest.raises(WeightsError, match="torchvision publishes no weights"):
        resolve_weights("torchvision:DEFAULT", arch="tiny")
    with pytest.raises(TypeError, match="weights must be a path"):
        resolve_weights(3.5, arch="tiny")  # type: ignore[arg-type]


def test_weights_enum_members_aliases_and_checksums(tmp_path):
    good = save_weights(tiny_state(), tmp_path / "v1.safetensors", TINY_META)

    class TinyWeights(WeightsEnum):
        V1 = Weights(good.path, good.sha256, good.meta)
        BROKEN = Weights(good.path, "f" * 64, good.meta)
        DEFAULT = V1

    assert TinyWeights.verify("DEFAULT") is TinyWeights.V1
    assert TinyWeights.verify("TinyWeights.V1") is TinyWeights.V1
    assert TinyWeights.verify(None) is None and repr(TinyWeights.DEFAULT) == "TinyWeights.V1"
    assert TinyWeights.V1.path == Path(good.path) and TinyWeights.V1.transforms == {"resize_size": None}
    with pytest.raises(WeightsError, match="no checkpoint 'V2' .*V1, BROKEN, DEFAULT"):
        TinyWeights.verify("V2")
    assert set(TinyWeights.DEFAULT.get_state_dict()) == set(tiny_state())
    with pytest.raises(WeightsError, match="sha256"):
        TinyWeights.BROKEN.get_state_dict()
    # Builders resolve names of their family's enum.
    assert resolve_weights("DEFAULT", arch="tiny", enum=TinyWeights) == TinyWeights.V1.weights
    # Relative paths are bundled files under seg_perception/weights/.
    assert Weights("x.safetensors").file == W.WEIGHTS_DIR / "x.safetensors"


def test_bundled_weights_meta_schema():
    """Every bundled checkpoint exists, matches its checksum and carries the meta keys."""
    from seg_perception.segmenters import mask_rcnn, torchvision_semantic, unet

    families = [getattr(m, n) for m in (mask_rcnn, torchvision_semantic, unet)
                for n in m.__all__ if n.endswith("_Weights")]
    assert len(families) == 7 and all(issubclass(f, WeightsEnum) for f in families)
    for family in families:
        for name, member in family.__members__.items():
            assert member.path.is_file(), f"{family.__name__}.{name}: {member.path} is missing"
            assert member.sha256 and file_sha256(member.path) == member.sha256
            assert set(META_KEYS) <= set(member.meta), f"{family.__name__}.{name}"
            assert member.meta["in_channels"] in (3, 4)
            assert all(isinstance(c, str) for c in member.meta["categories"])
        if family.__members__:
            assert "DEFAULT" in family.__members__, f"{family.__name__} has no DEFAULT alias"


def test_bundled_member_without_a_readable_sidecar_is_refused_at_use(tmp_path, monkeypatch):
    monkeypatch.setattr(W, "WEIGHTS_DIR", tmp_path)
    save_weights({"w": torch.zeros(2)}, tmp_path / "ok.safetensors", {"arch": "unet"})
    (tmp_path / "lost.safetensors").write_bytes((tmp_path / "ok.safetensors").read_bytes())
    (tmp_path / "bad.safetensors").write_bytes((tmp_path / "ok.safetensors").read_bytes())
    (tmp_path / "bad.safetensors.json").write_text("{not json")

    class Family(WeightsEnum):
        OK = W.bundled_weights("ok.safetensors")
        LOST = W.bundled_weights("lost.safetensors")  # no sidecar
        BAD = W.bundled_weights("bad.safetensors")  # unreadable sidecar: import still works

    assert resolve_weights("OK", arch="unet", enum=Family).sha256 == file_sha256(
        tmp_path / "ok.safetensors")
    for name in ("LOST", "BAD"):
        with pytest.raises(WeightsError, match=f"Family.{name} has no readable checksum sidecar"):
            resolve_weights(name, arch="unet", enum=Family)


# --------------------------------------------------------------------------- torchvision

def test_torchvision_weights_offline_error_says_to_pass_a_local_file(monkeypatch):
    from torchvision.models.segmentation import LRASPP_MobileNet_V3_Large_Weights as E

    calls = []

    def offline(url, **kwargs):  # noqa: ANN001, ANN003
        calls.append((url, kwargs))
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(WeightsError, match="offline machine pass a local file") as info:
        fetch_torchvision_weights(E, "DEFAULT")
    assert "URLError" in str(info.value) and E.DEFAULT.url in str(info.value)
    assert calls[0][1]["weights_only"] is True and calls[0][1]["check_hash"] is True
    with pytest.raises(WeightsError, match="has no LRASPP_MobileNet_V3_Large_Weights.NOPE"):
        fetch_torchvision_weights(E, "NOPE")


# --------------------------------------------------------------------------- devices

def test_resolve_device_cpu_auto_and_errors():
    assert resolve_device("cpu") == "cpu" and resolve_device(" CPU ") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert available_devices()[0] == "cpu"
    with pytest.raises(ConfigError, match="not one of auto, cpu, cuda"):
        resolve_device("tpu")


def test_absent_gpu_warns_and_falls_back_or_raises_when_strict(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(RuntimeWarning, match="running on the CPU"):
        assert resolve_device("cuda") == "cpu"
    with pytest.warns(RuntimeWarning):
        assert resolve_device("cuda:1") == "cpu"
    with pytest.raises(DeviceUnavailableError, match="strictly"):
        resolve_device("cuda", strict=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_device("auto", strict=True) == "cpu"  # auto never warns
    assert available_devices() == ["cpu"]


def test_without_torch_there_is_only_the_cpu(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    assert resolve_device("auto") == "cpu"
    with pytest.raises(DeviceUnavailableError, match="torch is not installed"):
        resolve_device("cuda", strict=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_present_gpu_is_used():
    assert resolve_device("cuda") == "cuda" and resolve_device("cuda:0", strict=True) == "cuda:0"
    assert "cuda:0" in available_devices()
