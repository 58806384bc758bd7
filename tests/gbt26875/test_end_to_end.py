"""Simulated transmitters -> `campus-gateway run` -> mosquitto -> a subscriber, as on a site."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.conftest import Mosquitto, Subscriber
from tests.gbt26875.support import free_port, receiver_section
from tests.rig import GatewayProcess, SimulatorThread, assert_events_valid

B = "utd-building-b"


def test_a_fire_behind_a_transmission_device_reaches_the_central_platform(
    tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber
) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({
        "site": {"id": "school-1"},
        "gateway": {"id": "gw1", "state_dir": str(tmp_path / "state")},
        "mqtt": {"url": mosquitto.url, "protocol": "5"},
        "devices": [receiver_section(free_port())],
    }, allow_unicode=True), encoding="utf-8")
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    try:
        subscriber.wait_event("device.online", count=2, timeout=20)
        sims.run(lambda: sims.campus.act("fire-link", "fire", {
            "transmitter": B, "component_address": 258, "description": "二层东走廊感烟探测器"}))
        (alarm,) = subscriber.wait_event("fire.alarm", device=B, point="S1-1/C258")
        assert alarm["data"]["description"] == "二层东走廊感烟探测器"
        assert alarm["data"]["zone"] == "building-b-f2"
        subscriber.wait_event("alarm.raised", device=B)

        sims.run(lambda: sims.campus.act("fire-link", "system-reset", {"transmitter": B}))
        subscriber.wait_event("fire.panel_reset", device=B)
        assert assert_events_valid(subscriber) >= 4
    finally:
        gateway.stop()
        sims.stop()
    assert "Traceback" not in gateway.output(), gateway.output()


def fire_link_site(tmp_path: Path, mosquitto: Mosquitto, **extra: Any) -> Path:
    """A site with the GB/T receiver of the tests (two transmitters), and ``extra`` sections."""
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({
        "site": {"id": "school-1"},
        "gateway": {"id": "gw1", "state_dir": str(tmp_path / "state")},
        "mqtt": {"url": mosquitto.url, "protocol": "5"},
        "devices": [receiver_section(free_port())],
        **extra,
    }, allow_unicode=True), encoding="utf-8")
    return site


def test_a_fire_during_a_broker_outage_is_not_lost(
    tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber
) -> None:
    site = fire_link_site(tmp_path, mosquitto)
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    try:
        subscriber.wait_event("device.online", count=2, timeout=20)
        subscriber.settle()
        mosquitto.stop()
        for address in (258, 259, 260):
            sims.run(lambda a=address: sims.campus.act(  # type: ignore[misc]
                "fire-link", "fire", {"transmitter": B, "component_address": a}))
        sims.run(lambda: sims.campus.act("fire-link", "fault", {"transmitter": "utd-gym",
                                                                 "component_address": 7}))
        mosquitto.start()
        fires = subscriber.wait_event("fire.alarm", count=3, device=B, timeout=30)
        assert sorted(f["data"]["point"] for f in fires) == [
            "S1-1/C258", "S1-1/C259", "S1-1/C260"]
        subscriber.wait_event("fire.fault", device="utd-gym", timeout=30)

        def gap_free(_messages: object) -> bool:
            # life-safety rows overtake the gym's ordinary ones: wait for those to catch up
            seqs = sorted({e["seqno"] for e in subscriber.events()})
            return seqs == list(range(1, seqs[-1] + 1))

        subscriber.wait_for(gap_free, 15, "every sequence number: nothing accepted was lost")
    finally:
        gateway.stop()
        sims.stop()


def test_a_transmission_device_that_drops_and_reconnects(
    tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber
) -> None:
    site = fire_link_site(tmp_path, mosquitto)
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    try:
        subscriber.wait_event("device.online", count=2, timeout=20)
        sims.run(lambda: sims.campus.act("fire-link", "disconnect", {"transmitter": B}))
        (offline,) = subscriber.wait_event("device.offline", device=B, timeout=15)
        assert offline["severity"] == "major"
        subscriber.wait_event("alarm.raised", device=B)  # comm_fault: the link is supervised
        sims.run(lambda: sims.campus.act("fire-link", "connect", {"transmitter": B}))
        subscriber.wait_event("device.online", count=2, device=B, timeout=15)
        sims.run(lambda: sims.campus.act("fire-link", "fire", {"transmitter": B,
                                                               "component_address": 258}))
        subscriber.wait_event("fire.alarm", device=B)
    finally:
        gateway.stop()
        sims.stop()
