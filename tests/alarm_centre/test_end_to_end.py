"""The path to the centre with the gateway as its own process: a press reaches the simulated
receiver, a kill with messages the centre has not acknowledged loses none and doubles none,
and ``validate`` and ``doctor`` speak of the stanza."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from simulators.alarm_centre import ReceiverSimulator
from tests.conftest import Mosquitto, Subscriber, free_port
from tests.rig import GatewayProcess, SimulatorThread, site_file


def centre(key_file: Path, url: str | None = None) -> dict[str, Any]:
    return {"account": "1234", "receivers": [{"url": url or f"tcp://127.0.0.1:{free_port()}",
                                              "name": "arc"}],
            "key": {"file": str(key_file)}, "supervision": "1s", "answer_within": "1s",
            "zones": {"zone-0": 12}}


def wait(check: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def panics(receiver: ReceiverSimulator) -> list[dict[str, Any]]:
    return [r for r in receiver.events() if r["code"] == "PA"]


def test_a_kill_loses_no_message_and_doubles_none(tmp_path: Path, mosquitto: Mosquitto,
                                                  subscriber: Subscriber) -> None:
    key = tmp_path / "arc.key"
    key.write_text("5A" * 32)  # AES-256
    site = site_file(tmp_path, mosquitto.url, modules=1, extra={"alarm_centre": centre(key)})
    sims = SimulatorThread(site)
    receiver = sims.campus.device("arc")
    assert isinstance(receiver, ReceiverSimulator)
    gateway = GatewayProcess(site)
    try:
        sims.run(lambda: receiver.act("down", {}))  # the centre is unreachable
        gateway.start()
        subscriber.wait_event("device.online", timeout=20)
        sims.press("io-0", "btn-a")
        subscriber.wait_for(lambda ms: [e for e in subscriber.events("alarm.raised")
                                        if e["data"]["alarm"]["condition"] == "panic"],
                            what="the panic alarm accepted")
        gateway.kill()  # with the panic and the start-up report unacknowledged
        assert panics(receiver) == []

        # the centre answers again, but late: it takes the panic, its ACK misses the gateway
        sims.run(lambda: receiver.act("slow", {"delay": 1.5}))
        gateway.start()
        wait(lambda: panics(receiver), "the panic at the centre after the restart")
        gateway.kill()  # before its ACK came: the panic is still in the gateway's queue
        sims.run(lambda: receiver.act("normal", {}))
        gateway.start()
        wait(lambda: [r for r in receiver.events() if r["code"] == "RR"][2:],
             "the third start-up report (the queue emptied in order)")
        taken = [r for r in panics(receiver) if not r["duplicate"]]
        assert len(taken) == 1 and len(panics(receiver)) >= 2  # sent again, counted once
        assert {(r["sequence"], r["time"]) for r in panics(receiver)} == {
            (taken[0]["sequence"], taken[0]["time"])}
        assert taken[0]["encrypted"] and taken[0]["zone"] == 12
        status = "campus/school-1/gateway/gw1/status"  # the retained status: both paths up
        subscriber.wait_for(lambda ms: [m for m in ms if m.topic == status and m.payload and (
            json.loads(m.payload).get("alarm_paths") == {"mqtt": True, "alarm_centre": True})],
            what="a status saying both alarm paths are up")
        assert gateway.stop() == 0, "the gateway did not stop cleanly on SIGTERM"
    finally:
        gateway.stop()
        sims.stop()
        print(gateway.output()[-3000:])


def test_validate_and_doctor(tmp_path: Path) -> None:
    key = tmp_path / "arc.key"
    key.write_text("00" * 16)
    port = free_port()
    doc = {"site": {"id": "school-1"}, "gateway": {"state_dir": str(tmp_path / "state")},
           "mqtt": {"url": f"mqtt://127.0.0.1:{free_port()}"}, "console": {"enabled": False},
           "alarm_centre": {**centre(key, f"tcp://127.0.0.1:{port}"), "supervision": "90s",
                            "answer_within": "5s"}}
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(doc))
    gateway = [sys.executable, "-m", "gateway.cli"]
    ok = subprocess.run([*gateway, "validate", "-c", str(site)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "alarm centre: account 1234, SIA-DCS, encrypted" in ok.stdout
    assert "within 100 s (EN 50136-1 SP4, on paper)" in ok.stdout

    doc["alarm_centre"]["receivers"] = [{"url": "http://arc.example:6000"}]
    site.write_text(yaml.safe_dump(doc))
    bad = subprocess.run([*gateway, "validate", "-c", str(site)], capture_output=True, text=True)
    assert bad.returncode == 2
    assert "alarm_centre.receivers[0].url" in bad.stderr and "tcp://host:port" in bad.stderr

    doc["alarm_centre"]["receivers"] = [{"url": f"tcp://127.0.0.1:{port}", "name": "arc"}]
    site.write_text(yaml.safe_dump(doc))
    sims = SimulatorThread(site)
    try:
        up = subprocess.run([*gateway, "doctor", "-c", str(site)], capture_output=True,
                            text=True, timeout=60)
        assert "ok   alarm centre key: AES-128" in up.stdout
        assert "ok   alarm centre arc: " in up.stdout
        assert "acknowledged a test message" in up.stdout
        sims.run(lambda: sims.campus.act("arc", "forget", {}))
        duh = subprocess.run([*gateway, "doctor", "-c", str(site)], capture_output=True,
                             text=True, timeout=60)
        assert "FAIL alarm centre arc: " in duh.stdout and "DUH" in duh.stdout
        assert duh.returncode == 1
    finally:
        sims.stop()
