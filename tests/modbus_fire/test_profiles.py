"""Profile and site-section validation: every error names the profile file and the path in it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from drivers.modbus_fire.__main__ import main as check_profiles
from drivers.modbus_fire.catalog import SHIPPED_PROFILES, ProfileError, load_register_map
from drivers.modbus_fire.models import ModbusFireConfig
from drivers.modbus_fire.register_map import Block
from gateway.config import ConfigError, load_site
from tests.modbus_fire.conftest import panel, write_site

REPO = Path(__file__).resolve().parents[2]

GOOD: dict[str, Any] = {
    "points": [{"loop": 1, "count": 8, "component_type": "smoke detector"}],
    "layout": {
        "kind": "bitmap",
        "conditions": {
            "fire": {"table": "discrete_inputs", "address": 0},
            "fault": {"table": "discrete_inputs", "address": 8},
        },
    },
    "panel": {"reset": {"table": "input_registers", "address": 0, "bit": 2}},
}


def write_profile(directory: Path, document: dict[str, Any], name: str = "my-panel") -> Path:
    folder = directory / "profiles" / "fire"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def problems_of(tmp_path: Path, change: dict[str, Any] | None = None, **top: Any) -> list[str]:
    document = copy.deepcopy(GOOD)
    for dotted, value in (change or {}).items():
        *parents, last = dotted.split(".")
        node: Any = document
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        node[last] = value
    document.update(top)
    path = write_profile(tmp_path, document)
    with pytest.raises(ProfileError) as caught:
        load_register_map(path)
    assert all(p.startswith(f"{path}: ") for p in caught.value.problems), caught.value.problems
    return [p.removeprefix(f"{path}: ") for p in caught.value.problems]


def test_good_profile_loads(tmp_path: Path) -> None:
    register_map = load_register_map(write_profile(tmp_path, GOOD))
    assert len(register_map.loop_points) == 8
    assert register_map.name == "my-panel"


def test_unknown_key(tmp_path: Path) -> None:
    assert problems_of(tmp_path, {"layout.conditions.fire.colour": "red"}) == [
        "layout.conditions.fire.colour: unknown key"
    ]


def test_unknown_condition_name(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, {"layout.conditions.smoke": {
        "table": "discrete_inputs", "address": 40}})
    assert problem.startswith("layout.conditions.smoke (the key): Input should be 'fire'")


def test_wrong_table_name(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, {"layout.conditions.fire.table": "inputs"})
    assert problem.startswith("layout.conditions.fire.table: Input should be 'coils'")
    assert "(got 'inputs')" in problem


def test_bit_on_a_bit_table(tmp_path: Path) -> None:
    assert problems_of(tmp_path, {"panel.silenced": {
        "table": "coils", "address": 3, "bit": 2}}) == [
        "panel.silenced: coils hold single bits: give no bit, mask or value"
    ]


def test_register_flag_needs_a_bit(tmp_path: Path) -> None:
    assert problems_of(tmp_path, {"panel.reset": {"table": "input_registers", "address": 0}}) == [
        "panel.reset: give bit (0-15) or mask and value"
    ]


def test_missing_layout_and_bad_count(tmp_path: Path) -> None:
    document = copy.deepcopy(GOOD)
    del document["layout"]
    document["points"][0]["count"] = 0
    path = write_profile(tmp_path, document)
    with pytest.raises(ProfileError) as caught:
        load_register_map(path)
    assert caught.value.problems == [
        f"{path}: points[0].count: Input should be greater than or equal to 1 (got 0)",
        f"{path}: layout: required key is missing",
    ]


def test_overlapping_blocks(tmp_path: Path) -> None:
    assert problems_of(tmp_path, {"layout.conditions.fault.address": 5}) == [
        "layout.conditions.fire: L1-P6 fire at discrete_inputs 5 overlaps"
        " layout.conditions.fault (L1-P1 fault)"
    ]


def test_panel_flag_on_a_point_bit(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, {"panel.main_power_fault": {
        "table": "discrete_inputs", "address": 9}})
    assert problem == (
        "panel.main_power_fault: system-main-power at discrete_inputs 9 overlaps"
        " layout.conditions.fault (L1-P2 fault)"
    )


def test_points_given_twice_and_details_for_unknown_points(tmp_path: Path) -> None:
    assert problems_of(tmp_path, points=[{"loop": 1, "count": 8}, {"loop": 1, "first": 8,
                                                                   "count": 2}]) == [
        "points[1]: L1-P8 is also in points[0]"
    ]
    assert problems_of(tmp_path, details=[{"loop": 2, "point": 1, "description": "x"}]) == [
        "details[0]: no point L2-P1 in points"
    ]


def test_description_template(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, {"points.0.description": "Detector {zone}"})
    assert problem.startswith("points[0]: description 'Detector {zone}': 'zone' is not a")


def test_status_word_match(tmp_path: Path) -> None:
    layout = {"kind": "status_word", "table": "holding_registers", "address": 0,
              "conditions": {"fire": {"mask": 0x0F, "value": 0x10}}}
    assert problems_of(tmp_path, layout=layout) == [
        "layout.conditions.fire: value 0x0010 has bits outside mask 0x000f"
    ]
    layout["table"] = "discrete_inputs"
    layout["conditions"] = {"fire": {"bit": 0}}
    (problem,) = problems_of(tmp_path, layout=layout)
    assert problem.startswith("layout.table: Input should be 'holding_registers'")


def test_not_yaml_and_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("points: [unclosed\n")
    with pytest.raises(ProfileError, match=f"^{path}: not valid YAML"):
        load_register_map(path)
    path.write_text("- just a list\n")
    with pytest.raises(ProfileError, match=r"\(top level\): expected a mapping"):
        load_register_map(path)


def test_shipped_profiles_and_the_checker(capsys: pytest.CaptureFixture[str]) -> None:
    names = sorted(p.name for p in SHIPPED_PROFILES.glob("*.yaml"))
    assert {"bitmap-v1.yaml", "status-word-v1.yaml"} <= set(names)
    assert check_profiles([str(SHIPPED_PROFILES / n) for n in names]) == 0
    out = capsys.readouterr().out
    assert "96 loop points" in out
    assert "3 read(s) per poll" in out


def test_checker_reports_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_profile(tmp_path, {**GOOD, "layout": {"kind": "bitmap", "conditions": {}}})
    assert check_profiles([str(path)]) == 2
    assert f"{path}: layout.conditions: Dictionary should have at least 1 item" in (
        capsys.readouterr().err
    )


# --- the site-file section -------------------------------------------------------------------


def site_problems(tmp_path: Path, **section: Any) -> str:
    profile = section.pop("profile", "status-word-v1")
    path = write_site(tmp_path, [panel("fire-a", profile, **section)])
    with pytest.raises(ConfigError) as caught:
        load_site(path)
    return str(caught.value)


def test_example_site_validates() -> None:
    site = load_site(REPO / "config" / "examples" / "fire-modbus.yaml")
    profiles = {d.id: getattr(d, "profile", None) for d in site.devices}
    assert profiles == {"fire-panel-a": "status-word-v1", "fire-panel-dorm": "bitmap-v1"}
    (entry,) = site.device("fire-panel-a").inventory()
    assert entry == {
        "id": "fire-panel-a", "driver": "modbus_fire", "name": "Main building fire panel",
        "endpoint": "modbus tcp 127.0.0.1:15030 unit 1", "profile": "status-word-v1",
        "point_count": 48,
    }


def test_site_profile_is_found_beside_the_site_file(tmp_path: Path) -> None:
    write_profile(tmp_path, GOOD, name="status-word-v1")  # the site's own wins over the shipped
    site = load_site(write_site(tmp_path, [panel("fire-a", "status-word-v1")]))
    assert site.device("fire-a").inventory()[0]["point_count"] == 8


def test_site_errors_name_site_and_profile(tmp_path: Path) -> None:
    profile = write_profile(tmp_path, {**GOOD, "read_gap": -1})
    message = site_problems(tmp_path, profile="my-panel")
    assert f"{tmp_path / 'site.yaml'}: devices[0]" in message
    assert f"{profile}: read_gap: Input should be greater than or equal to 0" in message


def test_unknown_profile(tmp_path: Path) -> None:
    message = site_problems(tmp_path, profile="no-such-panel")
    assert "fire panel profile 'no-such-panel' not found in" in message
    assert str(tmp_path / "profiles" / "fire" / "no-such-panel.yaml") in message


def test_site_point_must_exist_in_the_profile(tmp_path: Path) -> None:
    message = site_problems(tmp_path, points=[{"loop": 9, "point": 1, "location": "roof"}])
    assert "points[0]: profile status-word-v1 has no point L9-P1 (loops 1, 2)" in message


def test_site_needs_exactly_one_link_and_a_quick_offline(tmp_path: Path) -> None:
    message = site_problems(tmp_path, rtu={"port": str(tmp_path / "tty")})
    assert "give exactly one of tcp or rtu" in message
    load_site(write_site(tmp_path, [panel("fire-a", "bitmap-v1", timeout="3s", offline_after=3)]))
    assert (
        "a dead panel would be reported only after 12.15 s (offline_after x (timeout +"
        " poll_interval)); keep it within 10 s"
    ) in site_problems(tmp_path, timeout="4s", offline_after=3)


def test_profile_defaults_fill_the_section(tmp_path: Path) -> None:
    section = panel("fire-a", "bitmap-v1")
    del section["poll_interval"], section["timeout"]
    config = load_site(write_site(tmp_path, [section])).device("fire-a")
    assert isinstance(config, ModbusFireConfig)
    assert (config.poll_interval, config.timeout) == (0.25, 1.0)


def test_point_facts_merge_site_over_profile(tmp_path: Path) -> None:
    section = panel("fire-a", "status-word-v1", zones={1: "hall", 2: "upstairs"}, points=[
        {"loop": 1, "point": 12, "location": "2F stairwell"},
        {"loop": 1, "point": 2, "zone": "kitchen", "description": "Kitchen heat detector",
         "component_type": "heat detector"},
    ])
    config = load_site(write_site(tmp_path, [section])).device("fire-a")
    assert isinstance(config, ModbusFireConfig)
    facts = config.point_facts()
    assert facts["L1-P12"].model_dump() == {
        "zone": "upstairs", "location": "2F stairwell", "description": "Manual call point 2F",
        "component_type": "manual call point",
    }
    assert facts["L1-P2"].model_dump() == {
        "zone": "kitchen", "location": "", "description": "Kitchen heat detector",
        "component_type": "heat detector",
    }
    assert facts["L1-P3"].zone == "hall"
    assert facts["system-earth"].description == "Earth fault"


def test_the_documented_example_profile(tmp_path: Path) -> None:
    """The worked example in docs/fire-register-maps.md is a valid profile doing what it says."""
    text = (REPO / "docs" / "fire-register-maps.md").read_text(encoding="utf-8")
    start = text.index("# profiles/fire/fp-200.yaml")
    document = yaml.safe_load(text[start:text.index("```", start)])
    register_map = load_register_map(write_profile(tmp_path, document, name="fp-200"))
    assert [(r.table, r.address, r.count) for r in register_map.reads] == [
        ("input_registers", 0, 2),
        ("input_registers", 1000, 125),
        ("input_registers", 1125, 125),
    ]
    assert register_map.points["L2-P11"].status_word == ("input_registers", 1135)
    assert register_map.points["L2-P11"].component_type == "smoke detector"
    assert register_map.reset_coil is not None and register_map.reset_coil.address == 16
    states = [0] * 250
    states[0], states[1], states[2] = 0x0003, 0x0100, 0x0104  # code 3; isolator; both + disabled
    reading = register_map.decode([
        Block("input_registers", 0, [0b110001, 0]),
        Block("input_registers", 1000, states[:125]),
        Block("input_registers", 1125, states[125:]),
    ])
    assert reading.active == {
        ("L1-P1", "fault"), ("L1-P2", "fault"), ("L1-P3", "fault"), ("L1-P3", "shielded"),
        ("system-main-power", "power_fault"),
    }
    assert (reading.reset, reading.silenced) == (True, True)


def test_a_rule_list_names_the_bad_rule(tmp_path: Path) -> None:
    layout = {"kind": "status_word", "table": "holding_registers", "address": 0,
              "conditions": {"fault": [{"bit": 1}, {"bit": 16}]}}
    (problem,) = problems_of(tmp_path, layout=layout)
    assert problem.startswith("layout.conditions.fault[1].bit: Input should be less than")
