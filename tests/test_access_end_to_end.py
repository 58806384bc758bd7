"""Access control end to end: simulated readers and controllers on real sockets, the gateway as
its own process, mosquitto, and the central platform's subscriber."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Mosquitto, Subscriber
from tests.http_gate.support import ENV, isapi_controller, section
from tests.rig import (
    CHIEF_TOKEN,
    GatewayProcess,
    SimulatorThread,
    assert_events_valid,
    cli,
    site_file,
)

ACCESS: dict[str, Any] = {
    "gates": [{"id": "north-vehicle", "egress": True}, {"id": "east-pedestrian"}],
    "areas": [{"id": "campus", "anti_passback": "hard"}],
    "doors": [{"id": "north-barrier", "gate": "north-vehicle"}],
}


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)


def _eventually(check: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _cards(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "cards.csv"
    path.write_text("person_id,category,code,status\n" + "\n".join(rows) + "\n")
    return path


def _import(site: Path, cards: Path) -> None:
    done = cli(site, "credentials", "import", str(cards), operator="chief", token=CHIEF_TOKEN)
    assert done.returncode == 0, done.stderr


def test_a_controller_that_asks_opens_on_the_gateways_answer(
        tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber) -> None:
    controller = isapi_controller("asks")
    site = site_file(tmp_path, mosquitto.url, modules=0, extra={
        "access": ACCESS, "devices": [section(controller)]})
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    try:
        subscriber.wait_event("device.online", device="north-vehicle-gate", timeout=20)
        _import(site, _cards(tmp_path, ["T1,staff,5001,active", "T2,staff,5002,revoked"]))
        subscriber.wait_event("access.credentials_synced")

        def present(card: str, reader: int = 1) -> None:
            sims.run(lambda: sims.campus.act("gate-controllers", "present-card",
                                             {"card": card, "reader": reader}))

        present("5001")
        granted, = subscriber.wait_event("access.granted", timeout=10)
        assert granted["data"]["person_id"] == "T1" and granted["data"]["gate"] == "north-vehicle"
        assert granted["data"]["decided_by"] == "gateway"
        # the barrier opens on the gateway's answer (sent through the vendor's remoteCheck)
        assert _eventually(lambda: sims.run(lambda: sims.campus.state("gate-controllers"))[
            "controllers"][0]["last_access"]["granted"] is True)
        present("5002")
        present("9999")
        present("5001")  # already inside: hard anti-passback
        denied = subscriber.wait_event("access.denied", count=3, timeout=10)
        assert [d["data"]["reason"] for d in denied] == ["revoked", "unknown_credential",
                                                         "anti_passback"]
        roll = json.loads(cli(site, "access", "on-campus", "--json").stdout)
        assert [p["person_id"] for p in roll] == ["T1"]
        present("5001", reader=2)  # out
        subscriber.wait_event("access.granted", count=2, timeout=10)
        assert json.loads(cli(site, "access", "on-campus", "--json").stdout) == []
        # a guard opens the barrier once, through the vendor's own command channel
        opened = cli(site, "access", "open", "north-vehicle")
        assert opened.returncode == 0, opened.stderr
        assert assert_events_valid(subscriber) > 5
    finally:
        gateway.stop()
        sims.stop()


def test_lockdown_reaches_the_controller_and_a_broker_outage_loses_no_decision(
        tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber) -> None:
    site = site_file(tmp_path, mosquitto.url, modules=0, extra={
        "access": ACCESS, "devices": [section(isapi_controller("asks"))]})
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    try:
        subscriber.wait_event("device.online", device="north-vehicle-gate", timeout=20)
        _import(site, _cards(tmp_path, [f"S{n},student,{7000 + n},active" for n in range(20)]))
        subscriber.wait_event("access.credentials_synced")
        locked = cli(site, "access", "lockdown-start", operator="chief", token=CHIEF_TOKEN)
        assert locked.returncode == 0, locked.stderr
        mode, = subscriber.wait_event("access.gate_mode", gate="north-vehicle", mode="locked")
        assert mode["data"]["devices"] == {"gate-controllers": True}
        state = sims.run(lambda: sims.campus.state("gate-controllers"))
        assert {d["mode"] for d in state["controllers"][0]["doors"]} == {"locked"}
        sims.run(lambda: sims.campus.act("gate-controllers", "present-card", {"card": "7000"}))
        denied, = subscriber.wait_event("access.denied", timeout=10)
        assert denied["data"]["reason"] == "lockdown"
        cli(site, "access", "lockdown-stop", operator="chief", token=CHIEF_TOKEN)
        subscriber.wait_for(lambda _m: [  # back to normal after the lockdown, and confirmed
            e for e in subscriber.events("access.gate_mode") if e["seqno"] > mode["seqno"]
            and e["data"]["gate"] == "north-vehicle" and e["data"]["mode"] == "normal"
            and e["data"]["devices"] == {"gate-controllers": True}], what="the gate normal")
        # the broker goes away; the campus keeps deciding, and every decision is delivered later
        mosquitto.stop()
        for n in range(1, 20):
            sims.run(lambda n=n: sims.campus.act("gate-controllers", "present-card",
                                                 {"card": str(7000 + n)}))
        mosquitto.start()
        granted = subscriber.wait_event("access.granted", count=19, timeout=30)
        assert sorted(g["data"]["person_id"] for g in granted) == sorted(
            f"S{n}" for n in range(1, 20))
    finally:
        gateway.stop()
        sims.stop()
        if os.environ.get("SHOW_LOG"):
            print(gateway.output()[-4000:])
