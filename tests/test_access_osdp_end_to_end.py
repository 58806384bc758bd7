"""Turnstile lanes on OSDP end to end: simulated readers (libosdp PDs) on a pseudo-terminal as
the RS-485 line, the gateway (libosdp CP) as its own process, a fire panel, mosquitto."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Mosquitto, Subscriber, free_port
from tests.osdp.support import KEYS
from tests.rig import (
    CHIEF_TOKEN,
    GatewayProcess,
    SimulatorThread,
    assert_events_valid,
    cli,
    site_file,
)

CARDS = "person_id,category,code\n" + "".join(f"P{n},staff,{1000 + n}\n" for n in range(400))


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in KEYS.items():
        monkeypatch.setenv(key, value)


def lanes_site(tmp_path: Path, broker: str, **extra: Any) -> Path:
    readers = [
        {"id": "lane-in", "address": 1, "gate": "main-gate", "direction": "in",
         "key": {"env": "OSDP_TEST_KEY_IN"}, "relay": {"output": 0, "pulse": "1s"}},
        {"id": "lane-out", "address": 2, "gate": "main-gate", "direction": "out",
         "key": {"env": "OSDP_TEST_KEY_OUT"}, "relay": {"output": 0, "pulse": "1s"}},
    ]
    devices: list[dict[str, Any]] = [
        {"id": "lanes", "driver": "osdp", "serial": {"port": str(tmp_path / "ttyOSDP"),
                                                    "baudrate": 115200}, "readers": readers},
        {"id": "fire-panel", "driver": "modbus_fire", "profile": "status-word-v1",
         "tcp": {"host": "127.0.0.1", "port": free_port()}, "poll_interval": "50ms",
         "timeout": "500ms", "zones": {1: "building-a"},
         "points": [{"loop": 1, "point": 12, "zone": "building-a"}]},
    ]
    return site_file(tmp_path, broker, modules=0, extra={
        "devices": devices,
        "access": {"gates": [{"id": "main-gate", "egress": True}]}, **extra})


def until(check: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return result


class Lanes:
    def __init__(self, sims: SimulatorThread) -> None:
        self.sims = sims

    def present(self, reader: str, card: int) -> None:
        self.sims.run(lambda: self.sims.campus.act(reader, "present-card", {"card": card}))

    def state(self, reader: str) -> dict[str, Any]:
        return self.sims.run(lambda: self.sims.campus.state(reader))

    def pulses(self, reader: str) -> int:
        return int(self.state(reader)["relay"]["pulses"])


def start(tmp_path: Path, site: Path, subscriber: Subscriber) -> tuple[SimulatorThread,
                                                                          GatewayProcess]:
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    subscriber.wait_event("device.online", device="lane-in", timeout=30)
    subscriber.wait_event("device.online", device="lane-out", timeout=30)
    cards = tmp_path / "cards.csv"
    cards.write_text(CARDS)
    done = cli(site, "credentials", "import", str(cards), operator="chief", token=CHIEF_TOKEN)
    assert done.returncode == 0, done.stderr
    return sims, gateway


def test_a_card_at_the_lane_pulses_its_relay_and_a_wrong_key_reader_never_grants(
        tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber) -> None:
    site = lanes_site(tmp_path, mosquitto.url)
    sims, gateway = start(tmp_path, site, subscriber)
    lanes = Lanes(sims)
    try:
        lanes.present("lane-in", 1001)
        granted, = subscriber.wait_event("access.granted", timeout=10)
        assert granted["data"]["person_id"] == "P1" and granted["data"]["reader"] == "lane-in"
        until(lambda: lanes.pulses("lane-in") == 1, "the lane's relay pulse")
        assert lanes.state("lane-in")["led"]["color"] == "green"
        lanes.present("lane-in", 999)
        denied, = subscriber.wait_event("access.denied", timeout=10)
        assert denied["data"]["reason"] == "unknown_credential"
        time.sleep(0.5)
        assert lanes.pulses("lane-in") == 1  # a deny never moves the relay
        # the out reader gets a key the gateway does not know: it is offline with its reason,
        # and nothing it reads is ever decided, let alone granted
        sims.run(lambda: sims.campus.act("lane-out", "wrong-key", {}))
        offline = subscriber.wait_event("device.offline", device="lane-out", timeout=30)
        assert "secure" in offline[0]["data"]["reason"]  # its secure session is gone
        # it refuses the key it had a session with: not a quiet retry, an sc_desync alarm
        subscriber.wait_event("access.reader_sc_desync", device="lane-out", timeout=30)
        lanes.present("lane-out", 1001)
        lanes.present("lane-in", 1002)  # the other reader on the bus is not stalled
        subscriber.wait_event("access.granted", count=2, timeout=10)
        time.sleep(1.0)
        assert [g["data"]["reader"] for g in subscriber.events("access.granted")] == [
            "lane-in", "lane-in"]
        assert lanes.pulses("lane-out") == 0
        assert assert_events_valid(subscriber) > 5
    finally:
        gateway.stop()
        sims.stop()


def test_fire_release_stands_the_lanes_open_during_a_lockdown(
        tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber) -> None:
    site = lanes_site(tmp_path, mosquitto.url)
    sims, gateway = start(tmp_path, site, subscriber)
    lanes = Lanes(sims)
    try:
        assert cli(site, "access", "lockdown-start", operator="chief",
                   token=CHIEF_TOKEN).returncode == 0
        subscriber.wait_event("access.gate_mode", mode="locked", timeout=10)
        lanes.present("lane-in", 1003)
        assert subscriber.wait_event("access.denied", timeout=10)[0]["data"]["reason"] \
            == "lockdown"
        sims.run(lambda: sims.campus.device("fire-panel").raise_condition("L1-P12", "fire"))
        released, = subscriber.wait_event("access.gate_mode", mode="free", timeout=15)
        assert released["data"]["cause"] == "fire_release"
        assert released["data"]["devices"] == {"lanes": True}
        # read back at the readers: both lanes' relays held open
        until(lambda: all(lanes.state(r)["relay"]["on"] for r in ("lane-in", "lane-out")),
              "both lane relays held open")
        # the lockdown is still on: after the panel is reset, the lanes lock again
        sims.run(lambda: sims.campus.device("fire-panel").reset())
        subscriber.wait_event("fire.panel_reset", timeout=10)
        subscriber.wait_event("access.gate_mode", mode="locked", count=2, timeout=15)
        until(lambda: not any(lanes.state(r)["relay"]["on"] for r in ("lane-in", "lane-out")),
              "the lanes' relays released")
    finally:
        gateway.stop()
        sims.stop()


def test_a_gateway_killed_mid_rush_loses_no_decision_a_lane_acted_on(
        tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber) -> None:
    site = lanes_site(tmp_path, mosquitto.url)
    sims, gateway = start(tmp_path, site, subscriber)
    lanes = Lanes(sims)
    try:
        for n in range(60):
            lanes.present("lane-in" if n % 2 else "lane-out", 1100 + n)
            time.sleep(0.05)
            if n == 30:
                gateway.kill()  # SIGKILL, mid-rush: cards keep coming at dead readers
        gateway.start()
        subscriber.wait_event("device.online", device="lane-in", count=2, timeout=30)
        for n in range(60, 80):
            lanes.present("lane-in" if n % 2 else "lane-out", 1100 + n)
            time.sleep(0.05)
        pulsed = lanes.pulses("lane-in") + lanes.pulses("lane-out")

        def all_delivered() -> bool:
            return len({e["id"] for e in subscriber.events("access.granted")}) >= pulsed

        # every grant a lane acted on (its relay pulsed) reached the centre, each once (a grant
        # committed in the instant before the kill may never have reached its relay: more
        # grants than pulses is allowed, fewer is a lost event)
        until(all_delivered, f"{pulsed} grants on MQTT", timeout=30)
        subscriber.settle()
        granted = {e["id"]: e for e in subscriber.events("access.granted")}
        persons = [e["data"]["person_id"] for e in granted.values()]
        assert len(persons) == len(set(persons)) >= pulsed >= 40
    finally:
        gateway.stop()
        sims.stop()


def test_a_new_credential_list_arrives_while_the_lanes_decide(
        tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber) -> None:
    site = lanes_site(tmp_path, mosquitto.url)
    sims, gateway = start(tmp_path, site, subscriber)
    lanes = Lanes(sims)
    new_list = tmp_path / "v2.csv"  # everyone of version 1, and 3,000 more (several parts)
    new_list.write_text(CARDS + "".join(f"Q{n},student,{5000 + n}\n" for n in range(3000)))
    try:
        importing = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "credentials", "import", str(new_list),
             "-c", str(site)], env={**os.environ, "CAMPUS_OPERATOR": "chief",
                                    "CAMPUS_OPERATOR_TOKEN": CHIEF_TOKEN},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        presented = 0
        while importing.poll() is None or presented < 20:
            lanes.present("lane-in" if presented % 2 else "lane-out", 1000 + presented % 400)
            presented += 1
            time.sleep(0.03)
        _out, errors = importing.communicate()
        assert importing.returncode == 0, errors
        subscriber.wait_event("access.credentials_synced", count=2, timeout=10)
        def decisions(_msgs: Any) -> list[dict[str, Any]] | None:
            found = [e for e in subscriber.events() if e["type"] in (
                "campus.access.granted", "campus.access.denied")]
            return found if len(found) >= presented else None

        decided = subscriber.wait_for(decisions, 20, f"{presented} decisions")
        # every card of both lists was granted throughout: no moment with half a list
        assert all(e["type"] == "campus.access.granted" for e in decided), [
            e["data"].get("reason") for e in decided if e["type"] != "campus.access.granted"]
        lanes.present("lane-in", 7999)  # a card of the new list only
        subscriber.wait_event("access.granted", count=presented + 1, timeout=10)
        status = json.loads(cli(site, "credentials", "status", "--json").stdout)
        assert status["credentials_version"] == 2 and status["credentials"] == 3400
    finally:
        gateway.stop()
        sims.stop()
