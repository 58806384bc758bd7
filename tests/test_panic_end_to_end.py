"""Panic buttons end to end: simulated I/O modules -> gateway process -> mosquitto -> subscriber,
and guards acting through the same MQTT command path the central platform uses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.remote import request_body
from tests.conftest import Mosquitto, Subscriber
from tests.rig import (
    CHIEF_TOKEN,
    GUARD_TOKEN,
    GatewayProcess,
    SimulatorThread,
    alarm_of,
    assert_events_valid,
    cli,
    site_file,
)


@pytest.fixture
def rig(tmp_path: Path, mosquitto: Mosquitto,
        subscriber: Subscriber) -> Iterator[tuple[Path, SimulatorThread, GatewayProcess]]:
    site = site_file(tmp_path, mosquitto.url, alarms={"escalate_after": "2s"},
                     extra={"commands": {"response_topics": ["central/replies/"]}})
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    try:
        subscriber.wait_event("device.online", count=2, timeout=20)
        yield site, sims, gateway
        assert assert_events_valid(subscriber) > 0
    finally:
        code = gateway.stop()
        sims.stop()
        print(gateway.output()[-3000:])
    assert code == 0, "the gateway did not stop cleanly on SIGTERM"


def test_press_latches_until_a_guard_resets_it(rig, subscriber: Subscriber) -> None:  # type: ignore[no-untyped-def]
    site, sims, _ = rig
    sims.press("io-0", "btn-a")
    (pressed,) = subscriber.wait_event("panic.pressed", point="btn-a")
    assert pressed["severity"] == "critical" and pressed["device"] == "io-0"
    assert pressed["data"]["zone"] == "zone-0" and pressed["data"]["location"] == "Room 0A"
    assert pressed["source"] == "/campus/school-1/gateway/gw1/device/io-0"
    subscriber.wait_event("alarm.raised")
    alarm = alarm_of(subscriber, "btn-a")
    assert alarm["state"] == "active_unacknowledged" and alarm["latched"]
    retained = f"campus/school-1/alarm/{alarm['alarm_id']}"
    subscriber.wait_for(lambda ms: any(m.topic == retained for m in ms), what="alarm state")
    subscriber.wait_event("output.changed", output="siren", requested=True, confirmed=True)
    assert sims.coil("io-0", "siren") is True

    listed = cli(site, "alarm", "list")
    assert listed.returncode == 0, listed.stderr
    assert alarm["alarm_id"] in listed.stdout and "active_unacknowledged" in listed.stdout

    # nobody acknowledged within escalate_after (2 s)
    subscriber.wait_event("alarm.escalated")

    called = cli(site, "command", "alarm.police_called", f"alarm_id={alarm['alarm_id']}",
                 "note=110 called at 08:02")  # every command of the table has a command line
    assert called.returncode == 0, called.stderr
    (police,) = subscriber.wait_event("alarm.police_called")
    assert police["data"]["by"] == "guard1"

    acked = cli(site, "alarm", "ack", alarm["alarm_id"], "--note", "on my way")
    assert acked.returncode == 0, acked.stderr
    assert json.loads(acked.stdout)["state"] == "active_acknowledged"
    subscriber.wait_event("output.changed", output="siren", requested=False, confirmed=False)
    assert sims.coil("io-0", "siren") is False

    refused = cli(site, "alarm", "reset", alarm["alarm_id"])
    assert refused.returncode == 1
    assert "still active" in refused.stderr
    # the answer says what the refusal is about, for a console to word it in its language
    answered = subscriber.wait_for(lambda messages: [
        body["error"] for m in messages if "/response/" in m.topic and m.payload
        and (body := m.json()).get("error")], what="the refusal's answer")
    assert answered[-1]["code"] == "refused" and answered[-1]["reason"] == "alarm_still_active"

    sims.release("io-0", "btn-a")  # the key reset at the button
    subscriber.wait_event("panic.released", point="btn-a")
    subscriber.wait_event("alarm.returned")
    reset = cli(site, "alarm", "reset", alarm["alarm_id"], "--note", "false alarm, pupil")
    assert reset.returncode == 0, reset.stderr
    closed = subscriber.wait_event("alarm.closed")[0]["data"]
    assert closed["by"] == "guard1" and closed["alarm"]["note"] == "false alarm, pupil"
    subscriber.wait_for(lambda ms: any(m.topic == retained and not m.payload for m in ms),
                        what="retained alarm state cleared")
    audits = subscriber.wait_event("audit.command", count=2)
    assert {(a["data"]["command"], a["data"]["outcome"]) for a in audits} >= {
        ("alarm.acknowledge", "ok"), ("alarm.reset", "error"), ("alarm.reset", "ok")}
    audit_log = (site.parent / "state" / "audit.jsonl").read_text().splitlines()
    assert [json.loads(line)["command"] for line in audit_log] == [
        "alarm.police_called", "alarm.acknowledge", "alarm.reset", "alarm.reset"]
    listing = cli(site, "command")
    assert listing.returncode == 0 and "credentials.changes" in listing.stdout


def test_commands_need_a_known_operator_and_the_right_role(rig, subscriber: Subscriber) -> None:  # type: ignore[no-untyped-def]
    site, sims, _ = rig
    sims.press("io-1", "btn-b")
    subscriber.wait_event("alarm.raised")
    alarm = alarm_of(subscriber, "btn-b")

    wrong = cli(site, "alarm", "ack", alarm["alarm_id"], token="guess")
    assert wrong.returncode == 1 and "unauthorised" in wrong.stderr
    drill = cli(site, "drill", "start", "--note", "x")  # a guard may not start drills
    assert drill.returncode == 1 and "forbidden" in drill.stderr
    denied = subscriber.wait_event("audit.command", count=2, outcome="denied")
    assert {d["data"]["command"] for d in denied} == {"alarm.acknowledge", "drill.start"}
    assert all(e["data"]["alarm"]["state"] == "active_unacknowledged"
               for e in subscriber.events("alarm.raised"))


def test_a_drill_flags_everything_and_ends_with_a_summary(rig, subscriber: Subscriber) -> None:  # type: ignore[no-untyped-def]
    site, sims, _ = rig
    started = cli(site, "drill", "start", "--note", "monthly lockdown drill", operator="chief",
                  token=CHIEF_TOKEN)
    assert started.returncode == 0, started.stderr
    subscriber.wait_event("drill.started")
    sims.press("io-0", "btn-b")
    subscriber.wait_event("alarm.raised")
    alarm = alarm_of(subscriber, "btn-b")
    assert alarm["drill"] and alarm["reports_due"] == {}
    assert cli(site, "alarm", "ack", alarm["alarm_id"]).returncode == 0
    sims.release("io-0", "btn-b")
    subscriber.wait_event("alarm.returned")
    assert cli(site, "alarm", "reset", alarm["alarm_id"]).returncode == 0
    subscriber.wait_event("alarm.closed")
    stopped = cli(site, "drill", "stop", operator="chief", token=CHIEF_TOKEN)
    assert stopped.returncode == 0, stopped.stderr
    (summary,) = subscriber.wait_event("drill.stopped")
    assert summary["drill"] is True
    data = summary["data"]
    assert data["alarms_raised"] == 1 and data["alarms_still_open"] == 0
    assert 0 < data["seconds_to_first_acknowledge"] <= data["seconds_to_last_reset"]
    during = [e for e in subscriber.events() if e["type"] in {
        "campus.panic.pressed", "campus.alarm.raised", "campus.alarm.closed"}]
    assert during and all(e["drill"] for e in during)


def test_line_fault_and_tamper_are_reported_and_clear(rig, subscriber: Subscriber) -> None:  # type: ignore[no-untyped-def]
    _, sims, _ = rig
    sims.run(lambda: sims.module("io-1").set_line_fault("btn-a", True))
    sims.run(lambda: sims.module("io-1").set_tamper("btn-b", True))
    (fault,) = subscriber.wait_event("panic.line_fault", point="btn-a")
    assert fault["severity"] == "major" and fault["data"]["input"] == 8
    subscriber.wait_event("panic.tamper", point="btn-b")
    subscriber.wait_event("alarm.raised", count=2)
    sims.run(lambda: sims.module("io-1").set_line_fault("btn-a", False))
    subscriber.wait_event("panic.line_restored", point="btn-a")
    returned = subscriber.wait_event("alarm.returned")[0]["data"]["alarm"]
    assert returned["condition"] == "line_fault" and returned["state"] == "rtn_unacknowledged"


def test_mqtt5_request_with_response_topic_and_correlation_data(
        rig, mosquitto: Mosquitto) -> None:  # type: ignore[no-untyped-def]
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    got: list[mqtt.MQTTMessage] = []
    client.on_message = lambda c, u, m: got.append(m)
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    try:
        client.subscribe("central/replies/#", qos=1)
        sub = Subscriber(mosquitto.url, "campus/school-1/event/#", protocol=mqtt.MQTTv5)
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = "central/replies/42"
        props.CorrelationData = b"req-42"
        client.publish("campus/school-1/gateway/gw1/request/alarm.list",
                       json.dumps(request_body("guard1", GUARD_TOKEN, {})),
                       qos=1, properties=props)
        sub.wait_for(lambda _m: got, 10, "a response on the response topic")
        reply = got[0]
        assert reply.topic == "central/replies/42"
        assert reply.properties.CorrelationData == b"req-42"
        body = json.loads(reply.payload)
        assert body["status"] == "ok" and body["data"] == [] and body["error"] is None
        sub.close()
    finally:
        client.loop_stop()


def test_retained_and_oversized_requests_are_refused(rig, subscriber: Subscriber,
                                                     mosquitto: Mosquitto) -> None:  # type: ignore[no-untyped-def]
    _, _, gateway = rig
    replies = Subscriber(mosquitto.url, "campus/school-1/gateway/gw1/response/#")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    try:
        base = "campus/school-1/gateway/gw1/request/"
        client.publish(base + "alarm.list", b"{" + b" " * 70000 + b"}", qos=1)
        client.publish(base + "alarm.list", b"not json", qos=1)
        replies.wait_for(lambda ms: len(ms) >= 2, 10, "two refusals")
        errors = [m.json()["error"]["message"] for m in replies.messages]
        assert any("request is 70002 bytes; the limit is 65536" in e for e in errors)
        assert any(e.startswith("request is not JSON") for e in errors)

        # a retained command would replay at every reconnect: it is never executed
        gateway.stop()
        client.publish(base + "alarm.list",
                       json.dumps(request_body("guard1", GUARD_TOKEN, {})),
                       qos=1, retain=True).wait_for_publish(5)
        gateway.start()
        replies.wait_for(lambda ms: len(ms) >= 3, 20, "the retained request refused")
        refused = replies.messages[2].json()
        assert refused["error"]["code"] == "retained"
        assert refused["error"]["message"].startswith("retained requests are ignored")
        client.publish(base + "alarm.list", b"", qos=1, retain=True).wait_for_publish(5)
    finally:
        client.loop_stop()
        replies.close()


def test_tail_shows_what_the_central_platform_sees(rig, mosquitto: Mosquitto,
                                                   subscriber: Subscriber) -> None:  # type: ignore[no-untyped-def]
    _, sims, _ = rig
    tails = {
        mode: subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "tail", "--broker", mosquitto.url,
             "--site", "school-1", *(["--json"] if mode == "json" else [])],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        for mode in ("human", "json")
    }
    try:
        for tail in tails.values():  # each says what it watches once it is subscribed
            assert tail.stderr is not None and "# watching" in tail.stderr.readline()
        sims.press("io-1", "btn-a")
        subscriber.wait_event("alarm.raised")
        lines = {mode: _read_until(tail, "panic.pressed") for mode, tail in tails.items()}
        human = next(line for line in lines["human"] if "panic.pressed" in line)
        assert "CRITICAL" in human and "io-1" in human and "zone=zone-1" in human
        assert any(line.startswith("GATEWAY school-1 gw1 online") for line in lines["human"])
        raw = [json.loads(line) for line in lines["json"]]
        pressed = next(r for r in raw if r["topic"] == "campus/school-1/event/panic/io-1")
        assert pressed["payload"]["type"] == "campus.panic.pressed"
    finally:
        for tail in tails.values():
            tail.terminate()
            tail.wait(10)


def _read_until(process: subprocess.Popen[str], needle: str, limit: int = 200) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    while len(lines) < limit:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            break
    return lines


def test_stats_report_backlog_devices_and_alarms(rig, subscriber: Subscriber) -> None:  # type: ignore[no-untyped-def]
    _, sims, _ = rig
    sims.press("io-0", "btn-a")
    subscriber.wait_event("alarm.raised")
    stats_topic = "campus/school-1/gateway/gw1/stats"

    def latest(messages: list[Any]) -> dict[str, Any] | None:
        found = [m.json() for m in messages if m.topic == stats_topic]
        return found[-1] if found and found[-1]["alarms_open"] == 1 else None

    stats = subscriber.wait_for(latest, 10, "stats with the open alarm")
    assert stats["devices"] == {"total": 2, "online": 2, "offline": 0}
    assert stats["outbox"]["backlog"] == 0 and stats["outbox"]["accepted"] >= 4
    assert stats["drill"] is False


def test_a_guard_opens_a_door_relay_by_command(rig, subscriber: Subscriber) -> None:  # type: ignore[no-untyped-def]
    site, sims, _ = rig
    opened = cli(site, "device", "act", "io-1", "output", "name=door", "on=true")
    assert opened.returncode == 0, opened.stderr
    result = json.loads(opened.stdout)
    assert result["requested"] is True and result["confirmed"] is True
    assert result["reason"] == "command by guard1"
    assert sims.coil("io-1", "door") is True
    (audit,) = subscriber.wait_event("audit.command", command="device.action")
    assert audit["data"]["outcome"] == "ok" and audit["data"]["args"]["device"] == "io-1"
    unknown = cli(site, "device", "act", "io-1", "output", "name=trapdoor", "on=true")
    assert unknown.returncode == 1 and "no output 'trapdoor'" in unknown.stderr
