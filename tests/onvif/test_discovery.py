"""``campus-gateway discover`` in a private network namespace (nothing multicasts on a real
link): the stanzas it prints are valid site-file sections for the cameras found."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from drivers.onvif import OnvifCameraConfig
from tests.onvif_sim.test_discovery import _namespaces_work

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not _namespaces_work(),
                    reason="needs root and unshare -n (a private network namespace)")
def test_discover_prints_stanzas_for_the_cameras_found() -> None:
    result = subprocess.run(["unshare", "-n", sys.executable, "-m", "tests.onvif.discovery_run"],
                            cwd=ROOT, capture_output=True, text=True, timeout=90, check=False)
    assert result.returncode == 0, result.stderr
    found: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])

    anonymous = found["anonymous"]
    assert anonymous["code"] == 0, anonymous["err"]
    devices = yaml.safe_load(anonymous["out"])["devices"]
    assert [(d["id"], d["host"], d["port"], d.get("zone")) for d in devices] == [
        ("lobby-door", "10.203.0.1", 18080, "lobby"), ("yard", "10.203.0.2", 18080, "yard")]
    assert "give --username and --password-file" in anonymous["out"]

    full = found["with_credentials"]
    assert full["code"] == 0, full["err"]
    devices = yaml.safe_load(full["out"])["devices"]
    lobby, yard = devices
    assert lobby["presets"] == ["door", "hall"] and "presets" not in yard
    assert lobby["stream"] == {"profile": "Profile_1"}
    assert lobby["password"] == {"file": found["password_file"]}
    assert "Campus Sim SIM-IPC-2" in full["out"]
    assert "profile Profile_2 (subStream): JPEG 320x240" in full["out"]
    assert "discover-secret" not in full["out"]  # stream URIs are shown without credentials
    os.environ.setdefault("UNUSED", "x")
    for device in devices:
        OnvifCameraConfig.model_validate(device)  # a valid stanza as printed
