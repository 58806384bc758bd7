"""No flood, bad peer or crash may delay, fake or hide an alarm: the gateway as its own process,
simulators and attackers on real sockets, a real mosquitto in the middle."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.remote import request_body
from tests.conftest import Mosquitto, Subscriber
from tests.gbt26875.test_end_to_end import fire_link_site
from tests.rig import GUARD_TOKEN, GatewayProcess, SimulatorThread, assert_events_valid, site_file

B = "utd-building-b"
GYM = "utd-gym"


def test_a_flooding_transmitter_never_delays_another_transmitters_fire(
    tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber
) -> None:
    site = fire_link_site(tmp_path, mosquitto,
                          flood={"burst": 60, "per_second": 5, "ends_after": "2s"})
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


# --- commands: replay, retain, injection, floods ---------------------------------------------

REQUESTS = "campus/school-1/gateway/gw1/request/"
RESPONSES = "campus/school-1/gateway/gw1/response/#"


def publisher(mosquitto: Mosquitto, protocol: int = mqtt.MQTTv5) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=protocol)
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    return client


@pytest.fixture
def panic_rig(tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber
              ) -> Iterator[tuple[Path, SimulatorThread, GatewayProcess]]:
    site = site_file(tmp_path, mosquitto.url, modules=1,
                     extra={"commands": {"per_operator": {"burst": 50, "per_second": 20}}})
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    try:
        subscriber.wait_event("device.online", timeout=20)
        yield site, sims, gateway
    finally:
        gateway.stop()
        sims.stop()


def answers(replies: Subscriber, correlation: str) -> list[dict[str, Any]]:
    return [m.json() for m in replies.messages
            if m.payload and m.json().get("correlation_id") == correlation]


def test_a_request_runs_once_and_only_while_valid(panic_rig, mosquitto: Mosquitto) -> None:  # type: ignore[no-untyped-def]
    _, _, gateway = panic_rig
    replies = Subscriber(mosquitto.url, RESPONSES)
    client = publisher(mosquitto)
    try:
        body = request_body("guard1", GUARD_TOKEN, {}, correlation_id="once")
        raw = json.dumps(body)
        client.publish(REQUESTS + "alarm.list", raw, qos=1)
        replies.wait_for(lambda _m: answers(replies, "once"), 10, "the first answer")
        time.sleep(1)
        client.publish(REQUESTS + "alarm.list", raw, qos=1)  # the same bytes again
        replies.wait_for(lambda _m: len(answers(replies, "once")) == 2, 10, "the replay's answer")
        first, replay = answers(replies, "once")
        assert first["status"] == "ok"
        assert replay["error"]["code"] == "replayed" and replay["correlation_id"] == "once"

        gateway.stop()  # the id cache survives a restart
        gateway.start()
        deadline = time.monotonic() + 20
        while not answers(replies, "probe") and time.monotonic() < deadline:
            probe = request_body("guard1", GUARD_TOKEN, {}, correlation_id="probe")
            client.publish(REQUESTS + "alarm.list", json.dumps(probe), qos=1)
            time.sleep(0.5)
        assert answers(replies, "probe"), "the restarted gateway answers"
        client.publish(REQUESTS + "alarm.list", raw, qos=1)
        replies.wait_for(lambda _m: len(answers(replies, "once")) == 3, 20, "after a restart")
        assert answers(replies, "once")[2]["error"]["code"] == "replayed"

        now = datetime.now(UTC)
        old = {**request_body("guard1", GUARD_TOKEN, {}, correlation_id="old"),
               "issued_at": (now - timedelta(minutes=10)).isoformat(),
               "expires_at": (now - timedelta(minutes=9)).isoformat()}
        future = {**request_body("guard1", GUARD_TOKEN, {}, correlation_id="future"),
                  "issued_at": (now + timedelta(minutes=10)).isoformat(),
                  "expires_at": (now + timedelta(minutes=11)).isoformat()}
        missing = {k: v for k, v in request_body("guard1", GUARD_TOKEN, {},
                                                 correlation_id="bare").items()
                   if k not in {"id", "issued_at", "expires_at"}}
        for doc in (old, future, missing):
            client.publish(REQUESTS + "alarm.list", json.dumps(doc), qos=1)
        replies.wait_for(lambda _m: all(answers(replies, c) for c in ("old", "future", "bare")),
                         10, "three refusals")
        assert answers(replies, "old")[0]["error"]["code"] == "expired"
        assert answers(replies, "future")[0]["error"]["code"] == "not_yet_valid"
        assert answers(replies, "bare")[0]["error"]["code"] == "bad_request"
        assert "id" in answers(replies, "bare")[0]["error"]["message"]
    finally:
        client.loop_stop()
        replies.close()


def test_a_retained_request_sent_while_connected_is_refused(panic_rig, mosquitto: Mosquitto,
                                                            subscriber: Subscriber) -> None:  # type: ignore[no-untyped-def]
    replies = Subscriber(mosquitto.url, RESPONSES)
    client = publisher(mosquitto)
    try:
        body = request_body("guard1", GUARD_TOKEN, {"note": "x"}, correlation_id="kept")
        client.publish(REQUESTS + "drill.start", json.dumps(body), qos=1, retain=True)
        replies.wait_for(lambda _m: answers(replies, "kept"), 10,
                         f"the refusal {[m.payload[:300] for m in replies.messages]}")
        assert answers(replies, "kept")[0]["error"]["code"] == "retained"
        client.publish(REQUESTS + "drill.start", b"", qos=1, retain=True)
        assert not subscriber.events("drill.started")
    finally:
        client.loop_stop()
        replies.close()


def test_answers_never_go_to_a_topic_that_is_not_ours(panic_rig, mosquitto: Mosquitto,
                                                      subscriber: Subscriber) -> None:  # type: ignore[no-untyped-def]
    replies = Subscriber(mosquitto.url, RESPONSES)
    injected = Subscriber(mosquitto.url, "campus/school-1/event/panic/#")
    client = publisher(mosquitto)
    try:
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = "campus/school-1/event/panic/io-0"
        body = request_body("guard1", GUARD_TOKEN, {}, correlation_id="hijack")
        client.publish(REQUESTS + "alarm.list", json.dumps(body), qos=1, properties=props)
        replies.wait_for(lambda _m: answers(replies, "hijack"), 10, "the refusal")
        assert answers(replies, "hijack")[0]["error"]["code"] == "bad_response_topic"
        injected.settle(0.5)
        assert injected.messages == []
    finally:
        client.loop_stop()
        replies.close()
        injected.close()


def test_status_and_inventory_carry_a_content_type_on_mqtt5(  # type: ignore[no-untyped-def]
        panic_rig, mosquitto: Mosquitto) -> None:
    got: list[mqtt.MQTTMessage] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_message = lambda c, u, m: got.append(m)
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    try:
        client.subscribe("campus/school-1/gateway/gw1/+", qos=1)
        deadline = time.monotonic() + 10
        while len({m.topic for m in got}) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        kinds = {m.topic.rsplit("/", 1)[1]: m.properties.ContentType for m in got
                 if m.topic.rsplit("/", 1)[1] in ("status", "devices")}
        assert kinds == {"status": "application/json", "devices": "application/json"}
    finally:
        client.loop_stop()


def test_an_operator_name_cannot_forge_a_log_line(panic_rig, mosquitto: Mosquitto) -> None:  # type: ignore[no-untyped-def]
    _, _, gateway = panic_rig
    replies = Subscriber(mosquitto.url, RESPONSES)
    client = publisher(mosquitto)
    try:
        body = request_body("guard1\n2026-12-01 00:00:00,000 INFO    gateway.app: FORGED",
                            "wrong", {"note": "a\r\nb"}, correlation_id="forge")
        client.publish(REQUESTS + "alarm.acknowledge", json.dumps(body), qos=1)
        replies.wait_for(lambda _m: answers(replies, "forge"), 10, "the refusal")
        time.sleep(0.3)
    finally:
        client.loop_stop()
        replies.close()
    lines = gateway.output().splitlines()
    assert not any(line.startswith("2026-12-01 00:00:00,000") for line in lines)
    assert any("guard1\\n2026-12-01" in line for line in lines)


def test_a_request_flood_delays_no_panic_alarm_and_costs_bounded_disk(
        panic_rig, mosquitto: Mosquitto, subscriber: Subscriber) -> None:  # type: ignore[no-untyped-def]
    site, sims, _ = panic_rig
    stop = threading.Event()
    sent = 0

    def flood() -> None:
        nonlocal sent
        client = publisher(mosquitto, mqtt.MQTTv311)
        junk = {"blob": "x" * 60_000}
        try:
            while not stop.is_set():
                for _ in range(50):
                    body = request_body("guard1", "wrong-token", junk)
                    client.publish(REQUESTS + "alarm.acknowledge", json.dumps(body), qos=0)
                    sent += 1
                time.sleep(0.05)  # about 1,000 requests a second
        finally:
            client.loop_stop()

    flooder = threading.Thread(target=flood)
    flooder.start()
    try:
        time.sleep(1.0)
        for n, point in enumerate(("btn-a", "btn-b")):
            sims.press("io-0", point)
            subscriber.wait_event("panic.pressed", count=n + 1, timeout=5, device="io-0")
        time.sleep(1.0)
    finally:
        stop.set()
        flooder.join()
    assert sent > 1000
    audit = site.parent / "state" / "audit.jsonl"
    assert audit.stat().st_size < 200_000, "every refusal written whole"
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert any(r["command"] == "*" and "not recorded one by one" in r["error"] for r in records) \
        or len(records) <= 61
    assert all(len(json.dumps(r)) < 2_000 for r in records)
