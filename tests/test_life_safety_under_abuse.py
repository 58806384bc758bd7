"""No flood, bad peer or crash may delay, fake or hide an alarm: the gateway as its own process,
simulators and attackers on real sockets, a real mosquitto in the middle."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import Mosquitto, Subscriber, free_port
from tests.gbt26875.support import receiver_section
from tests.rig import GatewayProcess, SimulatorThread, assert_events_valid, site_file

B = "utd-building-b"
GYM = "utd-gym"


def fire_site(tmp_path: Path, mosquitto: Mosquitto) -> Path:
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({
        "site": {"id": "school-1"},
        "gateway": {"id": "gw1", "state_dir": str(tmp_path / "state")},
        "mqtt": {"url": mosquitto.url, "protocol": "5"},
        "flood": {"burst": 60, "per_second": 5, "ends_after": "2s"},
        "devices": [receiver_section(free_port())],
    }, allow_unicode=True), encoding="utf-8")
    return site


def test_a_flooding_transmitter_never_delays_another_transmitters_fire(
    tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber
) -> None:
    site = fire_site(tmp_path, mosquitto)
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    try:
        subscriber.wait_event("device.online", count=2, timeout=20)
        sims.run(lambda: sims.campus.act("fire-link", "flood", {
            "transmitter": B, "frames": 0, "objects": 22, "seed": 7}))
        (flooding,) = subscriber.wait_event("device.flooding", device=B, timeout=10)
        assert flooding["severity"] == "critical"
        subscriber.wait_for(lambda _m: any(
            e["data"]["alarm"]["condition"] == "flooding" for e in subscriber.events(
                "alarm.raised")), 10, "a flooding alarm")

        sims.run(lambda: sims.campus.act("fire-link", "fire", {
            "transmitter": GYM, "component_address": 9}))
        # GB 26875.1: a fire alarm reaches the monitoring centre within 10 s
        subscriber.wait_event("fire.alarm", device=GYM, timeout=10)
        subscriber.wait_for(lambda _m: any(
            e["data"]["alarm"]["device_id"] == GYM and e["data"]["alarm"]["condition"] == "fire"
            for e in subscriber.events("alarm.raised")), 10, "the gym's fire alarm")

        sims.run(lambda: sims.campus.act("fire-link", "stop-flood", {"transmitter": B}))
        (ended,) = subscriber.wait_event("device.flood_ended", device=B, timeout=15)
        assert ended["data"]["held_back"] > 0
        flood_events = [e for e in subscriber.events("fire.alarm") if e["device"] == B]
        # the flooding device still had its fair share, no more
        assert len(flood_events) < 60 + 5 * (ended["data"]["seconds"] + 5) * 1.5
        assert assert_events_valid(subscriber) > 0
    finally:
        gateway.stop()
        sims.stop()
    assert "Traceback" not in gateway.output()


def test_a_malformed_modbus_reply_is_never_an_alarm(
    tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber
) -> None:
    site = site_file(tmp_path, mosquitto.url, modules=2)
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    try:
        subscriber.wait_event("device.online", count=2, timeout=20)
        sims.run(lambda: sims.module("io-0").act("reply-fault", {"kind": "byte-count"}))
        (offline,) = subscriber.wait_event("device.offline", device="io-0", timeout=10)
        assert "says" in offline["data"]["reason"] and "carries" in offline["data"]["reason"]
        sims.press("io-1", "btn-a")  # the other module is not disturbed
        subscriber.wait_event("panic.pressed", device="io-1", timeout=10)
        sims.run(lambda: sims.module("io-0").act("reply-fault", {"kind": "none"}))
        subscriber.wait_event("device.online", count=2, device="io-0", timeout=10)
        subscriber.settle()
        assert [e for e in subscriber.events("panic.pressed") if e["device"] == "io-0"] == []
        assert not [e for e in subscriber.events("alarm.raised")
                    if e["data"]["alarm"]["device_id"] == "io-0"
                    and e["data"]["alarm"]["condition"] != "comm_fault"]
    finally:
        gateway.stop()
        sims.stop()
    assert "Traceback" not in gateway.output()
    assert gateway.output().count("malformed reply") == 1
