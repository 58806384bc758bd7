"""Running the gateway as an operator would: Prometheus metrics, the doctor, the systemd unit."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Mosquitto, Subscriber, free_port, wait_port
from tests.rig import GatewayProcess, SimulatorThread, site_file


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_tell_events_backlog_devices_alarms_polls_and_deliveries(
        tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber) -> None:
    port = free_port()
    site = site_file(tmp_path, mosquitto.url, modules=2, extra={
        "metrics": {"enabled": True, "listen": {"host": "127.0.0.1", "port": port}}})
    doc = yaml.safe_load(site.read_text())
    doc["gateway"]["log_format"] = "json"
    site.write_text(yaml.safe_dump(doc))
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    try:
        subscriber.wait_event("device.online", count=2, timeout=20)
        sims.press("io-0", "btn-a")
        subscriber.wait_event("alarm.raised", timeout=10)
        subscriber.settle()
        wait_port(port)
        got = samples(httpx.get(f"http://127.0.0.1:{port}/metrics").text)
    finally:
        gateway.stop()
        sims.stop()
    assert got[("campus_events_total", (("type", "campus.panic.pressed"),))] == 1
    assert got[("campus_events_total", (("type", "campus.alarm.raised"),))] == 1
    assert got[("campus_device_online", (("device", "io-0"),))] == 1
    assert got[("campus_alarms_open", (("condition", "panic"), ("severity", "critical")))] == 1
    assert got[("campus_broker_connected", ())] == 1
    assert got[("campus_storage_ok", ())] == 1
    assert got[("campus_outbox_backlog", ())] == 0
    assert got[("campus_delivery_seconds_count", ())] >= 3
    assert got[("campus_poll_seconds_count", (("device", "io-1"),))] > 5
    # the log was one JSON object a line, with the device where there is one
    lines = [json.loads(line) for line in gateway.output().splitlines() if line.strip()]
    online = [r for r in lines if r["message"].startswith("io-0: online")]
    assert online and online[0]["device"] == "io-0" and online[0]["level"] == "INFO"


def test_the_doctor_says_what_is_wrong_in_one_line_each(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    site = site_file(tmp_path, mosquitto.url, modules=2)
    sims = SimulatorThread(site)
    try:
        sims.run(lambda: sims.module("io-1").go_offline("refuse"))

        def doctor() -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "gateway.cli", "doctor", "-c",
                                   str(site)], capture_output=True, text=True, timeout=60)

        first = doctor()
        lines = first.stdout.splitlines()
        assert first.returncode == 1, first.stdout + first.stderr
        assert any(line.startswith("ok   broker") and "subscribed" in line for line in lines)
        assert any(line.startswith("ok   device io-0") for line in lines)
        assert any(line.startswith("FAIL device io-1") and "refused" in line.lower()
                   for line in lines), lines
        assert any(line.startswith("warn console logins") for line in lines)
        sims.run(lambda: sims.module("io-1").go_online())
        mosquitto.stop()
        second = doctor()
        assert any(line.startswith("FAIL broker") for line in second.stdout.splitlines())
        assert any(line.startswith("ok   device io-1") for line in second.stdout.splitlines())
        # a cluster: each node is checked, the one that is down is named
        mosquitto.start()
        down = f"mqtt://127.0.0.1:{free_port()}"
        doc = yaml.safe_load(site.read_text())
        doc["mqtt"]["url"] = [mosquitto.url, down]
        site.write_text(yaml.safe_dump(doc, sort_keys=False))
        third = doctor().stdout.splitlines()
        assert any(line.startswith(f"ok   broker {mosquitto.url}") for line in third), third
        assert any(line.startswith(f"FAIL broker {down}") for line in third), third
    finally:
        sims.stop()


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not here")
def test_the_systemd_unit_is_valid_and_hardened(tmp_path: Path) -> None:
    unit = (Path(__file__).parents[1] / "config" / "systemd" / "campus-gateway.service")
    text = unit.read_text()
    for setting in ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                    "User=campus-gateway", "StateDirectoryMode=0700", "Restart=always",
                    "LoadCredential=", "UMask=0077"):
        assert setting in text
    assert "campus-gateway run -c /etc/campus-gateway/site.yaml" in text
    # verify it as it would be installed, with this checkout's executable and an existing user
    local = tmp_path / "campus-gateway.service"
    local.write_text(text.replace("/opt/campus-gateway/.venv/bin/campus-gateway",
                                  str(Path(sys.executable).parent / "campus-gateway"))
                     .replace("User=campus-gateway", "User=root")
                     .replace("Group=campus-gateway", "Group=root"))
    checked = subprocess.run(["systemd-analyze", "verify", str(local)], capture_output=True,
                             text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr


def test_the_doctor_checks_readers_and_cameras_and_their_secrets(
        tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCTOR_MISSING_KEY", raising=False)
    monkeypatch.setenv("DOCTOR_CAMERA_PASSWORD", "camera-password")
    site = site_file(tmp_path, mosquitto.url, modules=0, extra={
        "access": {"gates": [{"id": "main-gate"}]},
        "devices": [
            {"id": "lanes", "driver": "osdp", "tcp": {"host": "127.0.0.1", "port": free_port()},
             "readers": [{"id": "lane-in", "address": 1, "gate": "main-gate", "direction": "in",
                          "key": {"env": "DOCTOR_MISSING_KEY"}}]},
            {"id": "gate-cam", "driver": "onvif", "host": "127.0.0.1", "port": free_port(),
             "username": "gateway", "password": {"env": "DOCTOR_CAMERA_PASSWORD"}},
        ]})
    done = subprocess.run([sys.executable, "-m", "gateway.cli", "doctor", "-c", str(site)],
                          capture_output=True, text=True, timeout=60)
    lines = done.stdout.splitlines()
    assert done.returncode == 1
    assert any(line.startswith("FAIL device lanes") and "DOCTOR_MISSING_KEY" in line
               for line in lines), lines
    assert any(line.startswith("FAIL device lanes") and "osdp tcp" in line for line in lines)
    assert any(line.startswith("FAIL device gate-cam") and "onvif tcp" in line
               for line in lines), lines
    assert not any("gate-cam" in line and "secret" in line for line in lines)
