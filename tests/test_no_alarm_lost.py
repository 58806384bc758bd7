"""No alarm is lost: broker outages, a gateway killed mid-burst, modules that drop off the line,
buttons already pressed when the gateway starts, and RTU modules on a serial line."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Mosquitto, Subscriber
from tests.rig import GatewayProcess, SimulatorThread, assert_events_valid, site_file

BUTTONS = [(f"io-{m}", b) for m in range(3) for b in ("btn-a", "btn-b")]
HOLD = 0.2  # longer than poll interval + debounce of the test site (50 ms + 50 ms)


def unique_events(sub: Subscriber) -> list[dict[str, Any]]:
    """Events in arrival order, duplicates dropped; a duplicate must repeat its original."""
    seen: dict[str, dict[str, Any]] = {}
    out = []
    for event in sub.events():
        if event["id"] in seen:
            assert seen[event["id"]] == event, "a duplicate differs from its original"
            continue
        seen[event["id"]] = event
        out.append(event)
    return out


def wait_gap_free(sub: Subscriber, timeout: float = 15.0) -> None:
    """Until every sequence number up to the highest seen has arrived."""
    def gap_free(_messages: object) -> bool:
        seqs = {e["seqno"] for e in sub.events()}
        return bool(seqs) and seqs == set(range(1, max(seqs) + 1))

    sub.wait_for(gap_free, timeout, "every sequence number up to the highest seen")


def assert_complete_and_ordered(events: list[dict[str, Any]], last_seq: int) -> None:
    seqs = sorted(e["seqno"] for e in events)
    assert seqs == list(range(1, last_seq + 1)), (
        f"missing sequence numbers: {sorted(set(range(1, last_seq + 1)) - set(seqs))[:20]}")
    by_device: dict[str, list[int]] = defaultdict(list)
    for e in events:
        by_device[e["device"]].append(e["seqno"])
    for device, order in by_device.items():
        assert order == sorted(order), f"events of {device} arrived out of order"


def press_cycles(sims: SimulatorThread, cycles: int, stop: threading.Event | None = None) -> int:
    done = 0
    for _ in range(cycles):
        for device, button in BUTTONS:
            sims.press(device, button)
        time.sleep(HOLD)
        for device, button in BUTTONS:
            sims.release(device, button)
        time.sleep(HOLD)
        done += 1
        if stop is not None and stop.is_set():
            break
    return done


def outbox_last_seq(site: Path) -> int:
    db = sqlite3.connect(site.parent / "state" / "state.sqlite3")
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()
        return int(row[0]) if row else 0
    finally:
        db.close()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_broker_outage_loses_nothing(tmp_path: Path, mosquitto: Mosquitto,
                                     subscriber: Subscriber, protocol: str) -> None:
    site = site_file(tmp_path, mosquitto.url, modules=3, protocol=protocol)
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    try:
        subscriber.wait_event("device.online", count=3, timeout=20)
        subscriber.wait_event("output.changed", count=3)
        subscriber.settle()
        mosquitto.stop()
        cycles = press_cycles(sims, 5)
        time.sleep(0.5)
        mosquitto.start()
        for device, button in BUTTONS:
            for kind in ("panic.pressed", "panic.released"):
                subscriber.wait_event(kind, count=cycles, timeout=30, device=device, point=button)
        # the life-safety lane delivers the presses first: the ordinary events (sirens) of
        # the backlog may still be on their way, each in its device's order
        wait_gap_free(subscriber)
        events = unique_events(subscriber)
        for device, button in BUTTONS:
            presses = [e for e in events if e["type"] == "campus.panic.pressed"
                       and e["device"] == device and e["data"]["point"] == button]
            assert len(presses) == cycles, f"{device}/{button}: {len(presses)} of {cycles}"
        assert_complete_and_ordered(events, max(e["seqno"] for e in events))
        assert assert_events_valid(subscriber) >= len(events)  # more may arrive meanwhile
    finally:
        gateway.stop()
        sims.stop()


def test_gateway_killed_mid_burst_delivers_everything_it_accepted(
        tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber) -> None:
    site = site_file(tmp_path, mosquitto.url, modules=3)
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    try:
        subscriber.wait_event("device.online", count=3, timeout=20)
        stop = threading.Event()
        burst = threading.Thread(target=press_cycles, args=(sims, 50, stop))
        burst.start()
        time.sleep(1.5)
        gateway.kill()  # SIGKILL: no shutdown, no flush
        accepted = outbox_last_seq(site)
        assert accepted > 0
        time.sleep(0.5)
        stop.set()
        burst.join()
        gateway.start()
        subscriber.wait_for(
            lambda _m: {e["seqno"] for e in subscriber.events()} >= set(range(1, accepted + 1)),
            30, f"every one of the {accepted} events accepted before the kill")
        # and what the restarted gateway numbered after them arrives gap-free too
        time.sleep(2)
        wait_gap_free(subscriber)
        events = unique_events(subscriber)
        assert_complete_and_ordered(events, max(e["seqno"] for e in events))
    finally:
        gateway.stop()
        sims.stop()


def test_module_drops_off_and_comes_back(tmp_path: Path, mosquitto: Mosquitto,
                                         subscriber: Subscriber) -> None:
    site = site_file(tmp_path, mosquitto.url, modules=2)
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    try:
        subscriber.wait_event("device.online", count=2, timeout=20)
        sims.run(lambda: sims.module("io-1").go_offline("silent"))  # cable pulled: no answer
        (offline,) = subscriber.wait_event("device.offline", timeout=15)
        assert offline["device"] == "io-1" and offline["severity"] == "major"
        assert "3 polls failed" in offline["data"]["reason"]
        availability = "campus/school-1/device/io-1/availability"
        subscriber.wait_for(lambda ms: any(m.topic == availability and m.json()["online"] is False
                                           for m in ms), what="retained availability offline")
        comm = subscriber.wait_event("alarm.raised")[0]["data"]["alarm"]
        assert comm["condition"] == "comm_fault" and comm["device_id"] == "io-1"

        # the other module is unaffected, and a press on the dead one is not forgotten
        sims.press("io-0", "btn-b")
        subscriber.wait_event("panic.pressed", point="btn-b")
        sims.press("io-1", "btn-a")
        sims.run(lambda: sims.module("io-1").go_online())
        subscriber.wait_event("device.online", count=3, timeout=15)
        pressed = [e for e in subscriber.wait_event("panic.pressed", count=2)
                   if e["device"] == "io-1"]
        assert pressed and pressed[0]["data"]["point"] == "btn-a"
        returned = subscriber.wait_event("alarm.returned")[0]["data"]["alarm"]
        assert returned["condition"] == "comm_fault"
    finally:
        gateway.stop()
        sims.stop()


def test_a_button_held_when_the_gateway_starts_raises_its_alarm(
        tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber) -> None:
    site = site_file(tmp_path, mosquitto.url, modules=1)
    sims = SimulatorThread(site)
    sims.press("io-0", "btn-a")
    gateway = GatewayProcess(site).start()
    try:
        subscriber.wait_event("panic.pressed", point="btn-a", timeout=20)
        subscriber.wait_event("alarm.raised")
        # a restart does not raise it twice: the open alarm is known, the button still held
        gateway.stop()
        gateway.start()
        subscriber.wait_event("device.online", count=2, timeout=20)
        time.sleep(0.5)
        assert len(subscriber.events("alarm.raised")) == 1
        assert len(subscriber.events("panic.pressed")) == 1
        # released while the gateway is down: the restart notices it returned to normal
        gateway.stop()
        sims.release("io-0", "btn-a")
        gateway.start()
        returned = subscriber.wait_event("alarm.returned", timeout=20)[0]["data"]["alarm"]
        assert returned["state"] == "rtn_unacknowledged"
    finally:
        gateway.stop()
        sims.stop()


def test_panic_button_on_a_modbus_rtu_line(tmp_path: Path, mosquitto: Mosquitto,
                                          subscriber: Subscriber) -> None:
    site = site_file(tmp_path, mosquitto.url, modules=1, rtu_port=tmp_path / "ttyRS485")
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    try:
        subscriber.wait_event("device.online", count=2, timeout=20)
        sims.press("io-rtu", "btn-r")
        (pressed,) = subscriber.wait_event("panic.pressed", point="btn-r")
        assert pressed["device"] == "io-rtu" and pressed["data"]["input"] == 4
        assert pressed["data"]["zone"] == "dormitory"
    finally:
        gateway.stop()
        sims.stop()


def test_a_kill_at_any_moment_of_a_press_leaves_no_alarm_unannounced(
        tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber) -> None:
    site = site_file(tmp_path, mosquitto.url, modules=4)
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    buttons = [(f"io-{m}", b) for m in range(4) for b in ("btn-a", "btn-b")]
    try:
        subscriber.wait_event("device.online", count=4, timeout=20)
        status = "campus/school-1/gateway/gw1/status"
        for n, (device, button) in enumerate(buttons):
            sims.press(device, button)  # and held: the button latches
            time.sleep(0.018 * n)  # 0 to 126 ms: before its poll, in the commit, after it
            gateway.kill()
            gateway.start()
            subscriber.wait_event("device.online", count=4 * (n + 2), timeout=20)
            subscriber.wait_for(lambda ms, n=n: sum(
                1 for m in ms if m.topic == status and m.payload and m.json()["online"]
            ) >= n + 2, 20, "the gateway back")
        # every held button has its alarm, and the stream was told of each one
        def announced(_m: object) -> bool:
            raised = {(e["data"]["alarm"]["device_id"], e["data"]["alarm"]["point"])
                      for e in subscriber.events("alarm.raised")}
            return set(buttons) <= raised

        subscriber.wait_for(announced, 30, "an alarm.raised for every held button")
    finally:
        gateway.stop()
        sims.stop()
    db = sqlite3.connect(site.parent / "state" / "state.sqlite3")
    try:
        believed = [json.loads(doc) for (doc,) in db.execute("SELECT doc FROM alarms")]
    finally:
        db.close()
    open_panic = [(a["device_id"], a["point"]) for a in believed
                  if a["condition"] == "panic" and a["closed_at"] is None]
    assert sorted(open_panic) == sorted(buttons), "one open alarm per held button, no more"
    ids = {e["data"]["alarm"]["alarm_id"] for e in subscriber.events("alarm.raised")}
    assert {a["alarm_id"] for a in believed if a["condition"] == "panic"} <= ids
