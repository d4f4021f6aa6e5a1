from pathlib import Path

import pytest

from seg_perception.config import (PIPELINE_PARAMS, PipelineConfig, load_yaml_parameters,
                                   validate_value)
from seg_perception.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_match_specs():
    cfg = PipelineConfig()
    for spec in PIPELINE_PARAMS:
        assert getattr(cfg, spec.name) == spec.default, spec.name


@pytest.mark.parametrize("name,value,match", [
    ("score_threshold", 1.5, "above its maximum"),
    ("score_threshold", -0.1, "below its minimum"),
    ("device", "tpu", "not one of"),
    ("mask_erosion_px", 2.5, "must be int"),
    ("tracking", 1, "must be bool"),
])
def test_invalid_values_are_refused_with_reason(name, value, match):
    with pytest.raises(ConfigError, match=match):
        PipelineConfig(**{name: value})


def test_int_accepted_for_float():
    spec = next(s for s in PIPELINE_PARAMS if s.name == "max_depth")
    assert validate_value(spec, 2) == 2.0 and isinstance(validate_value(spec, 2), float)


def test_depth_range_must_be_ordered():
    with pytest.raises(ConfigError, match="min_depth"):
        PipelineConfig(min_depth=2.0, max_depth=1.0)


def test_unknown_keys():
    with pytest.raises(ConfigError, match="unknown pipeline parameters: bogus"):
        PipelineConfig.from_mapping({"bogus": 1})
    assert PipelineConfig.from_mapping({"bogus": 1, "score_threshold": 0.3},
                                       strict=False).score_threshold == 0.3


def test_yaml_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_yaml_parameters(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml_parameters(bad)
