"""The dialect records: each one sourced and tested, the interop matrix generated from them, and
the ways an integrator picks one (site file, campus-sim, demo) refusing what cannot be."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import load_site
from simulators.dialects import choose, families, matrix
from simulators.http_gate import ControllerFleet
from simulators.onvif import OnvifCameraSimulators
from simulators.simulator import InvalidArguments

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "config" / "demo-campus.yaml"


def test_the_interop_matrix_is_the_records() -> None:
    assert (ROOT / "docs" / "interop.md").read_text() == matrix() + "\n", (
        "docs/interop.md is stale: campus-sim dialects --markdown > docs/interop.md")


def test_every_dialect_has_a_source_and_a_test_of_its_family() -> None:
    tested = {path.stem.removeprefix("test_").removesuffix("_dialects")
              for path in (ROOT / "tests" / "dialects").glob("test_*_dialects.py")}
    by_family = {"onvif": "camera", "http_gate": "gate", "osdp": "reader"}
    for family, dialects in families().items():
        assert by_family[family] in tested, f"no tests/dialects test for {family}"
        for dialect in dialects.values():
            assert dialect.source and dialect.device and dialect.family == family


def test_a_dialect_is_picked_by_device_id_and_read_by_its_simulator() -> None:
    site = choose(load_site(DEMO), {"gate-cam": "basic-snapshot",
                                    "vehicle-gate": "face-terminal"})
    devices = {device.id: device for device in site.devices}
    (camera,) = OnvifCameraSimulators([devices["gate-cam"]]).devices
    assert camera.config.simulator.snapshot_auth == "basic"
    assert camera.config.simulator.rtsp is False  # the stanza's own keys are kept
    fleet = ControllerFleet(devices["vehicle-gate-controllers"])  # type: ignore[arg-type]
    controller = fleet.controller(None)
    assert (controller.firmware, controller.single_door) == ("face_terminal", True)


@pytest.mark.parametrize(("choice", "message"), [
    ({"nobody": "strict"}, "no camera, gate controller or reader 'nobody'"),
    ({"gate-cam": "fluent"}, "no onvif dialect 'fluent' (dialects: strict,"),
    ({"vehicle-gate": "webhook"}, "needs dialect: webhook in the site file (it has 'isapi')"),
])
def test_a_choice_the_simulators_cannot_speak_is_refused_by_name(
        choice: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidArguments, match=message.replace("(", r"\(").replace(")", r"\)")):
        choose(load_site(DEMO), choice)


def test_campus_sim_lists_the_dialects_and_refuses_a_malformed_choice() -> None:
    listed = subprocess.run([sys.executable, "-m", "simulators", "dialects"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    for family, dialects in families().items():
        for name in dialects:
            assert any(line.split()[:2] == [family, name] for line in listed.splitlines())
    refused = subprocess.run([sys.executable, "-m", "simulators", "serve", "-c", str(DEMO),
                              "--dialect", "gate-cam"], cwd=ROOT, capture_output=True, text=True)
    assert refused.returncode == 1
    assert "--dialect: expected ID=NAME, got 'gate-cam'" in refused.stderr
