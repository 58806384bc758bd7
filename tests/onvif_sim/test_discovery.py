"""WS-Discovery, tested in a private network namespace so nothing multicasts on a real link."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _namespaces_work() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True,
                          check=False).returncode == 0


@pytest.mark.skipif(not _namespaces_work(),
                    reason="needs root and unshare -n (a private network namespace)")
def test_probes_find_cameras_whose_discovery_is_on() -> None:
    result = subprocess.run(["unshare", "-n", sys.executable, "-m",
                             "tests.onvif_sim.discovery_probe"], cwd=ROOT,
                            capture_output=True, text=True, timeout=90, check=False)
    assert result.returncode == 0, result.stderr
    found: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])

    def xaddrs(name: str) -> list[list[str]]:
        return [camera["xaddrs"] for camera in found[name]]

    lobby = ["http://10.203.0.1:18080/onvif/device_service"]
    yard = ["http://10.203.0.2:18080/onvif/device_service"]
    assert xaddrs("site_on") == [lobby]  # the yard camera's stanza leaves discovery off
    assert xaddrs("both_on") == [lobby, yard]  # ... until an action turns it on
    assert xaddrs("lobby_scope") == [lobby]
    assert xaddrs("no_such_scope") == []
    assert xaddrs("lobby_off") == [yard]
    camera = found["site_on"][0]
    assert "onvif://www.onvif.org/name/Lobby" in camera["scopes"]
    assert set(camera["types"]) == {"NetworkVideoTransmitter", "Device"}
    assert found["lobby_state"]["on"] is False and found["yard_state"]["on"] is True
    assert found["yard_state"]["probes"] >= 4
