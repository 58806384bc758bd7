"""A broker cluster whose store elects a new leader can lose an event the gateway published and
acknowledge the events published after it on the same connection, then drop the connection
(NATS JetStream does: the fleet bench saw events of a device arrive after later ones). The
gateway sends the lost event again on its next connection, after the later ones. With
``mqtt.in_flight: 1`` no event is on the wire before the one before it is acknowledged, so each
device's order holds at the platform even then; the relay here loses an event that way, in
front of a real mosquitto."""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from tests.broker_relay import LosingRelay
from tests.conftest import Mosquitto, Subscriber
from tests.rig import GatewayProcess, SimulatorThread, site_file
from tests.test_no_alarm_lost import outbox_last_seq, unique_events


def test_each_device_keeps_its_order_when_the_broker_loses_an_earlier_event(
        tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber) -> None:
    relay = LosingRelay(mosquitto.port)
    site = site_file(tmp_path, relay.url, modules=2, protocol="3.1.1")
    doc = yaml.safe_load(site.read_text())
    doc["mqtt"]["in_flight"] = 1  # without it: io-0's seqno 3 came after its 5 and 6
    site.write_text(yaml.safe_dump(doc, sort_keys=False))
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    try:
        subscriber.wait_event("device.online", count=2, timeout=20)
        relay.arm()
        for _ in range(4):  # each press: pressed, alarm raised, alarm changes, released
            for device in ("io-0", "io-1"):
                sims.press(device, "btn-a")
            time.sleep(0.2)
            for device in ("io-0", "io-1"):
                sims.release(device, "btn-a")
            time.sleep(0.2)
        assert relay.dropped.wait(20), "the relay lost no event"
        subscriber.wait_for(lambda _m: {e["seqno"] for e in subscriber.events()}
                            == set(range(1, outbox_last_seq(site) + 1)), 30,
                            "every seqno, the lost event's too")
        order: dict[str, list[int]] = {}
        for event in unique_events(subscriber):
            order.setdefault(event["device"], []).append(event["seqno"])
        for device, seqnos in order.items():
            assert seqnos == sorted(seqnos), f"{device}: {seqnos}"
    finally:
        gateway.stop()
        sims.stop()
        relay.close()
