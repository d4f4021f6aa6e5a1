from pathlib import Path

from rclpy.parameter import Parameter

from seg_perception.config import PipelineConfig, load_yaml_parameters, validate_value
from seg_perception.ros.params import PERCEPTION_PARAMS, validate_changes

ROOT = Path(__file__).resolve().parents[2]


def test_default_yaml_is_valid_for_the_node():
    values = load_yaml_parameters(ROOT / "config" / "default.yaml")
    specs = {s.name: s for s in PERCEPTION_PARAMS}
    assert set(values) <= set(specs), set(values) - set(specs)
    for key, value in values.items():
        assert validate_value(specs[key], value) == value
    assert PipelineConfig.from_mapping(values, strict=False).instance_backend == "geometric"


def test_names_are_unique():
    names = [s.name for s in PERCEPTION_PARAMS]
    assert len(names) == len(set(names))


def test_validate_changes():
    ok = validate_changes([Parameter("score_threshold", value=0.7)], configured=True)
    assert ok.successful
    bad = validate_changes([Parameter("score_threshold", value=7.0)], configured=True)
    assert not bad.successful and "maximum" in bad.reason
    locked = validate_changes([Parameter("instance_backend", value="maskrcnn")], configured=True)
    assert not locked.successful and "configure" in locked.reason
    assert validate_changes([Parameter("instance_backend", value="maskrcnn")],
                            configured=False).successful
