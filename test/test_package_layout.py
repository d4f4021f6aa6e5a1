"""The ROS package metadata agrees with itself: package.xml, CMakeLists.txt, setup.py, msg/."""
import ast
import re
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setup_console_scripts() -> dict[str, str]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "CONSOLE_SCRIPTS":
            entries = ast.literal_eval(node.value)
            return dict(e.split("=", 1) for e in entries)
    raise AssertionError("setup.py has no CONSOLE_SCRIPTS")


def _cmake_executables() -> dict[str, str]:
    text = (ROOT / "CMakeLists.txt").read_text()
    block = re.search(r"set\(SEG_PERCEPTION_EXECUTABLES(.*?)\)", text, re.S).group(1)
    return dict(e.split("=", 1) for e in re.findall(r'"([^"]+)"', block))


def test_package_xml_is_format_3_with_build_deps():
    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.get("format") == "3"
    assert root.findtext("name") == "seg_perception"
    build_tools = {e.text for e in root.findall("buildtool_depend")}
    assert {"ament_cmake", "ament_cmake_python", "rosidl_default_generators"} <= build_tools
    assert "rosidl_interface_packages" in {e.text for e in root.findall("member_of_group")}
    assert root.find("export/build_type").text == "ament_cmake"


def test_cmake_and_setup_install_the_same_executables():
    assert _cmake_executables() == _setup_console_scripts()


def test_every_msg_file_is_generated():
    text = (ROOT / "CMakeLists.txt").read_text()
    listed = set(re.findall(r'"msg/(\w+\.msg)"', text))
    assert listed == {p.name for p in (ROOT / "msg").glob("*.msg")}


def test_every_msg_field_is_documented():
    """Each field, or the block of adjacent fields it belongs to, has a comment above it."""
    for path in (ROOT / "msg").glob("*.msg"):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if not line.strip() or line.startswith("#"):
                continue
            j = i - 1
            while j >= 0 and lines[j].strip() and not lines[j].startswith("#"):
                j -= 1
            assert j >= 0 and lines[j].startswith("#"), f"{path.name}: '{line}' has no comment"
