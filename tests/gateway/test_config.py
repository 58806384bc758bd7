"""Site files: what an installer gets told when something is wrong."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import ConfigError, load_site
from gateway.kernel.fields import parse_duration

GOOD = """
site: {id: s1}
devices:
  - id: m1
    driver: modbus
    tcp: {host: 127.0.0.1, port: 15020}
    points: [{id: b1, input: 0, zone: gate}]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_site(write(tmp_path, text))
    return info.value.problems


def test_the_shipped_demo_campus_is_valid() -> None:
    site = load_site("config/demo-campus.yaml")
    panic = [d for d in site.devices if d.driver == "modbus"]
    assert len(panic) >= 5 and any(d.driver == "modbus_fire" for d in site.devices)
    assert {p.zone for d in panic for p in d.points} >= {
        "gate-house", "main-building-f1", "dormitory", "kindergarten"}
    # the profile supplies the poll interval the site file does not repeat
    assert all(d.poll_interval == pytest.approx(0.1) for d in panic)
    assert [rule.name for rule in site.linkage] == ["open-main-gate-on-fire",
                                                     "gate-camera-on-panic",
                                                     "intruder-lockdown"]
    assert {d.driver for d in site.devices} >= {"osdp", "http_gate", "onvif"}
    assert {g.id for g in site.access.gates} == {"main-gate", "staff-door", "vehicle-gate"}


def test_durations() -> None:
    assert parse_duration("100ms") == pytest.approx(0.1)
    assert parse_duration("20m") == 1200
    assert parse_duration(3) == 3
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_unknown_key_names_file_and_path(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD.replace("zone: gate}", "zone: gate, colour: red}"))
    assert found == [f"{tmp_path / 'site.yaml'}: devices[0].points[0].colour: unknown key (line 7)"]


def test_wrong_type_says_what_was_expected(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD.replace("input: 0", "input: first"))
    assert len(found) == 1
    assert "devices[0].points[0].input" in found[0] and "integer" in found[0]


def test_every_problem_is_listed(tmp_path: Path) -> None:
    text = GOOD.replace("site: {id: s1}", "site: {id: s1, colour: red}").replace(
        "port: 15020", "port: 99999")
    found = problems(tmp_path, text)
    assert len(found) == 2
    assert any("site.colour: unknown key" in p for p in found)
    assert any("devices[0].tcp.port" in p for p in found)


def test_a_wrong_field_does_not_hide_the_whole_file_checks(tmp_path: Path) -> None:
    # the map image is missing AND two devices share an id AND a linkage rule names a device
    # that is there but broken: the first two are reported, with the places of the file
    extra = """
  - id: m1
    driver: modbus
    tcp: {host: 127.0.0.1, port: 15021}
    points: [{id: b1, input: 0, zone: gate}]
  - id: m3
    driver: modbus
    tcp: {host: 127.0.0.1, port: 15022, colour: red}
    points: [{id: b1, input: 0, zone: gate}]
console:
  map: {image: plan.png, markers: [{device: m1, x: 1, y: 1}]}
"""
    path = tmp_path / "site.yaml"
    found = problems(tmp_path, GOOD + extra)
    assert f"{path}: devices[2].tcp.colour: unknown key (line 15)" in found, found
    assert any("console.map.image" in p and "no such image file" in p for p in found), found
    assert f"{path}: devices[1].id: duplicate device id 'm1' (also devices[0])" in found, found
    assert len(found) == 3, found
    # a device entry broken whole (unknown driver) is taken out: the checks after it still run,
    # numbered as the file numbers them, and say nothing of the broken entry's id
    broken = GOOD.replace("  - id: m1\n    driver: modbus", "  - id: m0\n    driver: telex\n"
                          "  - id: m1\n    driver: modbus") + extra.replace(
        ", colour: red", "").replace("device: m1", "device: m0")
    found = problems(tmp_path, broken)
    assert f"{path}: devices[2].id: duplicate device id 'm1' (also devices[1])" in found, found
    assert any("devices[0]" in p and "telex" in p for p in found), found
    assert not any("no device 'm0'" in p for p in found), found


def test_duplicate_device_ids_and_port_clashes(tmp_path: Path) -> None:
    extra = """
  - id: {id}
    driver: modbus
    tcp: {{host: 127.0.0.1, port: 15020}}
    points: [{{id: b1, input: 0, zone: gate}}]
"""
    found = problems(tmp_path, GOOD + extra.format(id="m1") + extra.format(id="m2"))
    path = tmp_path / "site.yaml"
    assert f"{path}: devices[1].id: duplicate device id 'm1' (also devices[0])" in found
    assert (f"{path}: devices: 'm2' and 'm1' both use modbus tcp 127.0.0.1:15020 unit 1"
            in found)


def test_an_input_used_twice_is_refused(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD.replace("zone: gate}", "zone: gate, tamper_input: 0}"))
    assert "input 0 of point 'b1' (tamper_input) is already b1.input" in found[0]


def test_unknown_driver_and_missing_link(tmp_path: Path) -> None:
    assert "driver" in problems(tmp_path, GOOD.replace("driver: modbus", "driver: telex"))[0]
    found = problems(tmp_path, GOOD.replace("    tcp: {host: 127.0.0.1, port: 15020}\n", ""))
    assert "give exactly one of tcp or rtu" in found[0]


def test_passwords_never_sit_in_the_site_file(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD + "mqtt: {username: gw, password: hunter2}\n")
    assert "mqtt.password" in found[0]
    site = load_site(write(tmp_path, GOOD + "mqtt: {username: gw, password: {env: GW_PW}}\n"))
    assert site.mqtt.password is not None and site.mqtt.password.env == "GW_PW"


def test_not_yaml(tmp_path: Path) -> None:
    found = problems(tmp_path, "site: [unclosed")
    assert "not valid YAML" in found[0]


def test_validate_command_exit_codes(tmp_path: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "gateway.cli", "validate",
                         str(write(tmp_path, GOOD))], capture_output=True, text=True)
    assert ok.returncode == 0 and "ok: site s1, 1 devices (1 modbus), 0 linkage rules" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "gateway.cli", "validate",
                          str(write(tmp_path, GOOD.replace("input: 0", "input: -1")))],
                         capture_output=True, text=True)
    assert bad.returncode == 2
    assert "devices[0].points[0].input" in bad.stderr
    # -c FILE like every other command; the file alone is the old form, still understood
    site = str(write(tmp_path, GOOD))
    ok = subprocess.run([sys.executable, "-m", "gateway.cli", "validate", "-c", site],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and f"{site}: ok: site s1" in ok.stdout, ok.stderr
    neither = subprocess.run([sys.executable, "-m", "gateway.cli", "validate"],
                             capture_output=True, text=True)
    assert neither.returncode == 2 and "validate -c site.yaml" in neither.stderr


def test_a_missing_secret_stops_the_daemon_with_a_clear_message(tmp_path: Path) -> None:
    site = write(tmp_path, GOOD + "mqtt: {username: gw, password: {env: NO_SUCH_VAR_HERE}}\n")
    run = subprocess.run([sys.executable, "-m", "gateway.cli", "run", "-c", str(site)],
                         capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert run.returncode == 2
    assert "environment variable NO_SUCH_VAR_HERE is not set" in run.stderr


LAUGHS = "\n".join(
    [GOOD.strip(), 'lol0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"lol{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, 9)])


@pytest.mark.parametrize(("text", "expected"), [
    (LAUGHS, "aliases expand to more than 1,000,000 values"),
    ("site: " + "[" * 5000 + "]" * 5000, "not valid YAML"),
    ("site:\n" + "".join("  " * n + f"k{n}:\n" for n in range(1, 80)), "nested too deeply"),
    (GOOD.replace("port: 15020", "port: 99999"), "65535"),
    (GOOD + "mqtt: {url: 'mqtt://h:99999'}\n", "port 99999 is not 1 to 65535"),
    (GOOD + "mqtt: {url: 'mqtt://h:0'}\n", "port 0 is not 1 to 65535"),
    (GOOD + "mqtt: {keepalive: 10d}\n", "less than or equal to 3600"),
    (GOOD + "gateway: {stats_interval: 0}\n", "greater than or equal to 1"),
    (GOOD.replace("points:", "poll_interval: 0\n    points:"), "greater than or equal to 0.01"),
    (GOOD + """  - {id: r1, driver: gbt26875, listen: {host: 0.0.0.0, port: 9000},
     transmitters: [{id: t1, address: "0A0B0C0D0E0F", zone: z}]}
  - {id: r2, driver: gbt26875, listen: {host: 127.0.0.1, port: 9000},
     transmitters: [{id: t2, address: "0A0B0C0D0E01", zone: z}]}
""", "127.0.0.1:9000 clashes with devices[1].listen (0.0.0.0:9000)"),
    ("console: {listen: {port: 9000}}\n" + GOOD + """  - {id: r1, driver: gbt26875,
     listen: {host: 0.0.0.0, port: 9000},
     transmitters: [{id: t1, address: "0A0B0C0D0E0F", zone: z}]}
""", "clashes with console.listen"),
])
def test_files_that_validate_but_could_not_run_are_refused(tmp_path: Path, text: str,
                                                           expected: str) -> None:
    found = problems(tmp_path, text)
    assert any(expected in p for p in found), found


def test_errors_name_the_line(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD.replace("port: 15020", "port: 15020, colour: red"))
    assert any("devices[0].tcp.colour: unknown key (line 6)" in p for p in found), found


def test_validate_never_gives_a_traceback(tmp_path: Path) -> None:
    cases = {
        "utf8": b"site:\n  id: s1\n  name: \xff\xfe\n",
        "laughs": LAUGHS.encode(),
        "deep": ("site: " + "[" * 5000 + "]" * 5000).encode(),
    }
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "broken.yaml").write_text("points: [unclosed\n")
    cases["profile"] = GOOD.replace("driver: modbus",
                                    "driver: modbus\n    profile: broken").encode()
    for name, content in cases.items():
        path = tmp_path / f"{name}.yaml"
        path.write_bytes(content)
        run = subprocess.run([sys.executable, "-m", "gateway.cli", "validate", str(path)],
                             capture_output=True, text=True, timeout=30)
        assert run.returncode == 2, (name, run.stdout, run.stderr)
        assert "Traceback" not in run.stderr, (name, run.stderr)
        assert str(path) in run.stderr or "broken.yaml" in run.stderr, (name, run.stderr)
    assert "not UTF-8 (byte 0xFF" in subprocess.run(
        [sys.executable, "-m", "gateway.cli", "validate", str(tmp_path / "utf8.yaml")],
        capture_output=True, text=True).stderr


def test_instructions_for_each_condition(tmp_path: Path) -> None:
    site = load_site(write(tmp_path, GOOD + """
instructions:
  panic: {text: Go to the button., call: [Duty head 138 0000 0000, "110"], go_to: Guard booth}
  fire: {text: Start the roll call.}
"""))
    assert site.instructions["panic"].call == ["Duty head 138 0000 0000", "110"]
    assert site.instructions["fire"].go_to == ""


def test_instructions_name_what_is_wrong(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD + """
instructions:
  panik: {text: Go.}
  fire: {call: ["119"]}
  panic: {text: Go., phone: "110"}
""")
    text = "\n".join(found)
    assert "instructions.panik: no alarm condition 'panik'" in text and "panic" in text
    assert "instructions.fire.text" in text
    assert "instructions.panic.phone" in text


def test_the_broker_may_be_a_list_of_nodes_each_checked(tmp_path: Path) -> None:
    cluster = GOOD + "mqtt: {url: [mqtt://node-1:1883, mqtt://node-2:1883, mqtt://node-3]}\n"
    assert load_site(write(tmp_path, cluster)).mqtt.urls == [
        "mqtt://node-1:1883", "mqtt://node-2:1883", "mqtt://node-3"]
    assert load_site(write(tmp_path, GOOD)).mqtt.urls == ["mqtt://127.0.0.1:1883"]
    for urls, says in (("[mqtt://a:1883, http://b]", "'http://b': expected mqtt://host:port"),
                       ("[mqtt://a:1883, mqtts://b:8883]", "mix mqtt:// and mqtts://"),
                       ("[mqtt://a:1883, mqtt://a:1883]", "listed twice"),
                       ("[]", "give 1 to 16 broker URLs"),
                       ("[mqtt://a:70000]", "port 70000 is not 1 to 65535")):
        found = problems(tmp_path, GOOD + f"mqtt: {{url: {urls}}}\n")
        assert len(found) == 1 and "mqtt.url" in found[0] and says in found[0], found
