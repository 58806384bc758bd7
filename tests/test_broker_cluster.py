"""Three campuses on a three-node broker cluster (NATS with JetStream, MQTT 3.1.1): a node dies
(SIGKILL) while every campus presses buttons, and comes back. The central platform's subscriber
follows the cluster with its own persistent session; at the end it has every gateway's events
(seqno 1..last, each once or repeated with the same id, each device's in order), and each
gateway's retained status says online on a live node."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.central import CentralSubscriber
from simulators.broker_cluster import BrokerCluster, ClusterError, nats_server
from tests.conftest import Subscriber
from tests.rig import GatewayProcess, SimulatorThread, site_file
from tests.test_no_alarm_lost import outbox_last_seq

CAMPUSES = 3
MODULES = 2
BUTTONS = [(f"io-{m}", b) for m in range(MODULES) for b in ("btn-a", "btn-b")]
HOLD = 0.2  # longer than the test site's poll interval + debounce (50 ms + 50 ms)


class Campus:
    """One school: its site file (pointing at the cluster's nodes, this campus's first node
    first), its simulated devices and its gateway process."""

    def __init__(self, tmp_path: Path, index: int, urls: list[str]) -> None:
        folder = tmp_path / f"school-{index}"
        folder.mkdir()
        self.site = site_file(folder, urls[0], modules=MODULES, protocol="3.1.1")
        doc = yaml.safe_load(self.site.read_text())
        self.site_id = f"school-{index}"
        doc["site"]["id"] = self.site_id
        doc["mqtt"]["url"] = urls[index % len(urls):] + urls[:index % len(urls)]
        doc["mqtt"]["keepalive"] = "5s"
        doc["mqtt"]["in_flight"] = 1  # NATS can take a later event and lose an earlier one
        self.site.write_text(yaml.safe_dump(doc, sort_keys=False))
        self.sims = SimulatorThread(self.site)
        self.gateway = GatewayProcess(self.site).start()
        self.presses = 0

    def press_all(self) -> None:
        for device, button in BUTTONS:
            self.sims.press(device, button)
        time.sleep(HOLD)
        for device, button in BUTTONS:
            self.sims.release(device, button)
        time.sleep(HOLD)
        self.presses += 1

    def stop(self) -> None:
        self.gateway.stop()
        self.sims.stop()


class Central:
    """What the platform received, in arrival order."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[dict[str, Any]] = []
        self.status: dict[str, dict[str, Any]] = {}

    def __call__(self, topic: str, payload: bytes, _retained: bool, _at: float) -> None:
        if not payload:
            return
        with self.lock:
            if "/event/" in topic:
                self.events.append(json.loads(payload))
            elif topic.endswith("/status"):
                doc = json.loads(payload)
                self.status[doc["site"]] = doc

    def of(self, site: str) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.events if e["site"] == site]

    def wait(self, what: str, done: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.1)


def _first_arrivals(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each event once, at its first arrival; a repeat must be the same event (same id)."""
    seen: dict[str, dict[str, Any]] = {}
    by_seq: dict[int, str] = {}
    out = []
    for event in events:
        if event["id"] in seen:
            assert seen[event["id"]] == event, f"seqno {event['seqno']}: a repeat differs"
            continue
        assert by_seq.setdefault(event["seqno"], event["id"]) == event["id"], \
            f"seqno {event['seqno']} came with two ids"
        seen[event["id"]] = event
        out.append(event)
    return out


@pytest.mark.timeout(150)
def test_a_node_dies_mid_stream_and_no_campus_loses_an_event(tmp_path: Path) -> None:
    try:
        nats_server()
    except ClusterError as exc:
        pytest.fail(str(exc))
    cluster = BrokerCluster(tmp_path / "cluster").start()
    central = Central()
    subscriber = CentralSubscriber(cluster.urls, ["campus/#"], central,
                                   client_id="district-platform").start()
    campuses: list[Campus] = []
    stop = threading.Event()
    presser: threading.Thread | None = None
    try:
        campuses = [Campus(tmp_path, i, cluster.urls) for i in range(CAMPUSES)]
        for campus in campuses:
            central.wait(f"{campus.site_id}'s devices online", lambda c=campus: len(
                [e for e in central.of(c.site_id) if e["type"] == "campus.device.online"])
                >= MODULES, 30)

        def press() -> None:
            while not stop.is_set():
                for campus in campuses:
                    campus.press_all()

        presser = threading.Thread(target=press, daemon=True)
        presser.start()
        central.wait("presses at every campus", lambda: all(
            any(e["type"] == "campus.panic.pressed" for e in central.of(c.site_id))
            for c in campuses), 20)
        # the node the platform and the first campus are on dies without a word
        killed = cluster.kill(0)
        before = {c.site_id: len(central.of(c.site_id)) for c in campuses}
        central.wait("events again from every campus after the node died", lambda: all(
            len(central.of(c.site_id)) > before[c.site_id] + 8 for c in campuses), 40)
        cluster.restart(0)
        time.sleep(2)
        stop.set()
        presser.join(30)

        for campus in campuses:
            def complete(c: Campus = campus) -> bool:
                seqs = {e["seqno"] for e in central.of(c.site_id)}
                return bool(seqs) and seqs == set(range(1, outbox_last_seq(c.site) + 1))

            central.wait(f"every seqno of {campus.site_id}", complete, 40)
        for campus in campuses:
            events = _first_arrivals(central.of(campus.site_id))
            by_device: dict[str, list[int]] = {}
            for event in events:
                by_device.setdefault(event["device"], []).append(event["seqno"])
            for device, order in by_device.items():
                assert order == sorted(order), f"{campus.site_id}/{device}: out of order"
            for device, button in BUTTONS:
                pressed = [e for e in events if e["type"] == "campus.panic.pressed"
                           and e["device"] == device and e["data"]["point"] == button]
                assert len(pressed) == campus.presses, \
                    f"{campus.site_id} {device}/{button}: {len(pressed)} of {campus.presses}"
        assert subscriber.moves >= 1  # the platform's own session followed the cluster

        live = {f"127.0.0.1:{node.mqtt_port}" for node in cluster.nodes if node.alive}
        moved = 0
        for campus in campuses:
            central.wait(f"{campus.site_id}'s status online", lambda c=campus: central.status.get(
                c.site_id, {}).get("online"), 20)
            status = central.status[campus.site_id]
            assert status["broker"]["node"] in live, status
            moved += status["broker"]["moves"]
        assert moved >= 1, "no gateway was on the node that died"
        # and the retained status a platform reads on joining, on each node
        for node in cluster.nodes:
            fresh = Subscriber(node.url, "campus/+/gateway/+/status")
            try:
                fresh.wait_for(lambda msgs: {json.loads(m.payload)["site"] for m in msgs
                                             if m.retain and json.loads(m.payload)["online"]}
                               >= {c.site_id for c in campuses}, 20,
                               f"retained online status of every campus on {node.name}")
            finally:
                fresh.close()
        assert killed.starts == 2
    finally:
        stop.set()
        if presser is not None:
            presser.join(30)
        for campus in campuses:
            campus.stop()
        subscriber.stop()
        cluster.stop()
