"""Broker failover: the site gives two brokers (a cluster's nodes, or a primary and a backup);
the gateway moves to the one that answers when its node goes away, and back, and nothing it
accepted is lost on the way (each event on one of the two, every sequence number once)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Mosquitto, Subscriber
from tests.rig import GatewayProcess, SimulatorThread, site_file
from tests.test_no_alarm_lost import BUTTONS, outbox_last_seq, press_cycles


def _brokers(tmp_path: Path) -> tuple[Mosquitto, Mosquitto]:
    nodes = []
    for name in ("node-a", "node-b"):
        (tmp_path / name).mkdir()
        node = Mosquitto(tmp_path / name)
        node.start()
        nodes.append(node)
    return nodes[0], nodes[1]


def _events(*subscribers: Subscriber) -> dict[int, dict[str, Any]]:
    """Every event either broker delivered, by sequence number (a repeat must be the same)."""
    found: dict[int, dict[str, Any]] = {}
    for subscriber in subscribers:
        for event in subscriber.events():
            assert found.setdefault(event["seqno"], event) == event
    return found


def _status(subscriber: Subscriber) -> dict[str, Any]:
    retained = [m for m in subscriber.messages if m.topic.endswith("/status") and m.payload]
    return json.loads(retained[-1].payload) if retained else {}


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_the_gateway_moves_between_brokers_and_loses_nothing(tmp_path: Path,
                                                             protocol: str) -> None:
    a, b = _brokers(tmp_path)
    site = site_file(tmp_path, a.url, modules=3, protocol=protocol)
    doc = yaml.safe_load(site.read_text())
    doc["mqtt"]["url"] = [a.url, b.url]
    doc["mqtt"]["keepalive"] = "5s"
    site.write_text(yaml.safe_dump(doc, sort_keys=False))
    on_a, on_b = Subscriber(a.url), Subscriber(b.url)
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    try:
        on_a.wait_event("device.online", count=3, timeout=20)
        assert _status(on_a)["broker"] == {"node": f"127.0.0.1:{a.port}", "nodes": 2,
                                           "moves": 0}
        cycles = press_cycles(sims, 1)
        a.stop()  # the node goes away: the gateway goes on to the other
        cycles += press_cycles(sims, 2)
        on_b.wait_for(lambda _m: _status(on_b).get("online"), 20, "the status on node b")
        assert _status(on_b)["broker"]["node"] == f"127.0.0.1:{b.port}"
        a.start()
        on_b.wait_event("panic.pressed", count=1, timeout=20)
        b.stop()  # and back
        cycles += press_cycles(sims, 1)

        def complete(_m: object) -> bool:
            seqs = set(_events(on_a, on_b))
            return bool(seqs) and seqs == set(range(1, outbox_last_seq(site) + 1))

        on_a.wait_for(complete, 30, "every sequence number on one broker or the other")
        events = _events(on_a, on_b)
        for device, button in BUTTONS:
            presses = [e for e in events.values() if e["type"] == "campus.panic.pressed"
                       and e["device"] == device and e["data"]["point"] == button]
            assert len(presses) == cycles, f"{device}/{button}: {len(presses)} of {cycles}"
        for subscriber in (on_a, on_b):  # each broker's share is in each device's order
            by_device: dict[str, list[int]] = {}
            for event in subscriber.events():
                by_device.setdefault(event["device"], []).append(event["seqno"])
            for device, order in by_device.items():
                assert order == sorted(order), f"{device}: out of order"
        status = _status(on_a)
        assert status["online"] and status["broker"]["node"] == f"127.0.0.1:{a.port}"
        assert status["broker"]["moves"] >= 2
    finally:
        gateway.stop()
        sims.stop()
        on_a.close()
        on_b.close()
        a.stop()
        b.stop()
