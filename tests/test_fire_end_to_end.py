"""Fire panels end to end: simulated panels -> gateway process -> mosquitto -> subscriber, with
fire linkage driving a door-release relay on an I/O module, and a broker outage mid-alarm."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import Mosquitto, Subscriber, free_port
from tests.rig import GatewayProcess, SimulatorThread, assert_events_valid, cli, site_file


def fire_site(tmp_path: Path, broker_url: str) -> Path:
    path = site_file(tmp_path, broker_url, modules=1, extra={"linkage": [
        {"name": "release-doors-building-a", "when": {"conditions": ["fire"],
                                                      "zones": ["building-a-f2"]},
         "do": [{"device": "io-0", "output": "door", "set": True}]}]})
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    doc["devices"].append({
        "id": "fire-panel-a", "driver": "modbus_fire", "name": "Main building fire panel",
        "profile": "status-word-v1", "tcp": {"host": "127.0.0.1", "port": free_port()},
        "poll_interval": "50ms", "timeout": "500ms",
        "zones": {1: "building-a-f1", 2: "building-a-f2"},
        "points": [{"loop": 1, "point": 12, "zone": "building-a-f2",
                    "location": "2F stairwell", "description": "Manual call point 2F"}],
    })
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def panel(sims: SimulatorThread) -> Any:
    return sims.campus.device("fire-panel-a")


def test_fire_alarm_linkage_and_panel_reset(tmp_path: Path, mosquitto: Mosquitto,
                                            subscriber: Subscriber) -> None:
    site = fire_site(tmp_path, mosquitto.url)
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    try:
        subscriber.wait_event("device.online", count=2, timeout=20)
        sims.run(lambda: panel(sims).raise_condition("L1-P12", "fire"))
        (fire,) = subscriber.wait_event("fire.alarm")
        assert fire["severity"] == "critical" and fire["device"] == "fire-panel-a"
        data = fire["data"]
        assert (data["point"], data["zone"], data["location"], data["description"]) == (
            "L1-P12", "building-a-f2", "2F stairwell", "Manual call point 2F")
        assert data["component_type"] == "manual call point"
        alarm = subscriber.wait_event("alarm.raised")[0]["data"]["alarm"]
        assert alarm["condition"] == "fire" and alarm["latched"]

        (linkage,) = subscriber.wait_event("linkage.executed")
        assert linkage["data"]["ok"] is True and linkage["data"]["alarm_id"] == alarm["alarm_id"]
        assert linkage["data"]["seconds_after_alarm"] < 3  # GB 50166 (a fact, not a benchmark)
        assert sims.coil("io-0", "door") is True

        sims.run(lambda: panel(sims).raise_condition("L1-P3", "fault"))
        subscriber.wait_event("fire.fault", point="L1-P3")
        assert cli(site, "alarm", "ack", alarm["alarm_id"]).returncode == 0

        sims.run(lambda: panel(sims).reset())  # reset at the panel clears and closes
        subscriber.wait_event("fire.panel_reset")
        closed = subscriber.wait_event("alarm.closed", count=2)
        assert {c["data"]["alarm"]["condition"] for c in closed} == {"fire", "fault"}
        assert all(c["data"]["alarm"]["note"] == "panel reset" for c in closed)
        assert assert_events_valid(subscriber) > 0
    finally:
        gateway.stop()
        sims.stop()


def test_fire_alarm_during_a_broker_outage_is_delivered_first(
        tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber) -> None:
    site = fire_site(tmp_path, mosquitto.url)
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    try:
        subscriber.wait_event("device.online", count=2, timeout=20)
        subscriber.wait_event("output.changed")
        subscriber.settle()
        mosquitto.stop()
        # ordinary traffic is accepted first ...
        sims.run(lambda: sims.module("io-0").set_tamper("btn-b", True))
        time.sleep(0.3)
        for point in ("L1-P1", "L1-P2", "L1-P4", "L1-P5"):
            sims.run(lambda p=point: panel(sims).raise_condition(p, "fault"))  # type: ignore[misc]
        sims.run(lambda: panel(sims).raise_condition("L1-P12", "fire"))
        time.sleep(1.0)
        mosquitto.start()
        subscriber.wait_event("fire.alarm", timeout=30)
        subscriber.wait_event("fire.fault", count=4, timeout=30)
        subscriber.wait_event("panic.tamper", timeout=30)
        events = subscriber.events()
        kinds = [e["type"] for e in events]
        tamper = next(e for e in events if e["type"] == "campus.panic.tamper")
        fire = next(e for e in events if e["type"] == "campus.fire.alarm")
        assert tamper["seqno"] < fire["seqno"]
        # ... but the fire alarm, a life-safety event, is delivered before it
        assert kinds.index("campus.fire.alarm") < kinds.index("campus.panic.tamper")
        faults = [e["seqno"] for e in events if e["type"] == "campus.fire.fault"]
        assert faults == sorted(faults)
    finally:
        gateway.stop()
        sims.stop()
