"""`campus-gateway audit-stream`: the central platform accounts for every gateway's sequence,
against a real gateway on a real mosquitto, and against a faulty stream published to one."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from gateway.stream_audit import StreamAudit, describe
from tests.conftest import Mosquitto, Subscriber
from tests.rig import GatewayProcess, SimulatorThread, site_file
from tests.test_no_alarm_lost import outbox_last_seq

TOPIC = "campus/school-9/event/panic/io-{device}"


def event(seqno: int, device: str = "0", *, event_id: str | None = None,
          site: str = "school-9", note: str = "") -> tuple[str, bytes, str]:
    event_id = event_id or str(uuid.uuid4())
    body = {"id": event_id, "seqno": seqno, "site": site, "gateway": "gw1",
            "device": f"io-{device}", "type": "campus.panic.pressed", "data": {"note": note}}
    return TOPIC.format(device=device), json.dumps(body).encode(), event_id


def status(online: bool = True) -> tuple[str, bytes]:
    return ("campus/school-9/gateway/gw1/status",
            json.dumps({"online": online, "site": "school-9", "gateway": "gw1",
                        "broker": {"node": "127.0.0.1:1883", "nodes": 3, "moves": 2}}).encode())


def stats(last_sequence: int) -> tuple[str, bytes]:
    return ("campus/school-9/gateway/gw1/stats",
            json.dumps({"outbox": {"last_sequence": last_sequence}}).encode())


def gateway_of(report: dict[str, Any]) -> dict[str, Any]:
    return report["campuses"]["school-9"]["gw1"]  # type: ignore[no-any-return]


def test_gaps_duplicates_conflicts_and_reorders_are_told_apart() -> None:
    audit = StreamAudit()
    sent = {n: event(n, device=str(n % 2)) for n in range(1, 11)}
    for n in (1, 2, 3, 5, 4, 6, 9, 10):  # 7 and 8 never come; 4 after 5 is another device's
        topic, payload, _ = sent[n]
        audit.take(topic, payload, now=0)
    audit.take(*sent[3][:2], now=0)  # a QoS 1 repeat: same id, same bytes
    topic, _, first_id = sent[6]
    audit.take(topic, event(6, "0", event_id=first_id, note="changed")[1], now=0)  # same id
    audit.take(*event(9, "1")[:2], now=0)  # seqno 9 again, under another id
    audit.take(*event(2, "0")[:2], now=0)  # an old seqno under a new id (not 1): a conflict too
    late = event(11, "1")
    audit.take(*event(12, "1")[:2], now=0)
    audit.take(*late[:2], now=0)  # io-1's 11 after its 12
    g = gateway_of(audit.report(now=0))
    assert (g["delivered"], g["missing"], g["duplicates"], g["conflicts"], g["reordered"]) == \
        (10, 2, 1, 3, 1), g
    assert g["epochs"][0]["missing_seqnos"] == "7-8"
    assert audit.lost_anything()
    assert "missing seqno 7-8" in describe(audit.report(now=0))


def test_a_gateway_reset_to_seqno_1_is_a_new_epoch_not_duplicates() -> None:
    audit = StreamAudit()
    for n in range(1, 501):
        audit.take(*event(n)[:2], now=0)
    audit.take(*stats(500), now=0)
    for n in range(1, 31):  # its state directory was emptied: it counts from 1 again
        audit.take(*event(n)[:2], now=1)
    g = gateway_of(audit.report(now=1))
    assert [(e["first"], e["last"], e["missing"]) for e in g["epochs"]] == [(1, 500, 0),
                                                                              (1, 30, 0)]
    assert (g["accepted"], g["delivered"], g["duplicates"], g["conflicts"]) == (530, 530, 0, 0)
    assert not audit.lost_anything()


def test_an_auditor_that_joins_late_counts_from_the_first_seqno_it_sees() -> None:
    audit = StreamAudit()
    for n in range(400, 411):
        audit.take(*event(n)[:2], now=0)
    g = gateway_of(audit.report(now=0))
    assert (g["epochs"][0]["first"], g["delivered"], g["missing"]) == (400, 11, 0)


def test_a_stall_is_a_gateway_behind_its_stats_and_a_quiet_campus_is_not() -> None:
    audit = StreamAudit(stats_interval=5)
    audit.take(*status(online=True), now=0)
    for n in range(1, 6):
        audit.take(*event(n)[:2], now=0)
    for second in range(5, 60, 5):  # quiet: stats every 5 s, every accepted event arrived
        audit.take(*stats(5), now=second)
        audit.check(now=second)
    assert gateway_of(audit.report(now=60))["stalls"] == 0
    audit.take(*stats(9), now=60)  # 4 accepted that do not come
    audit.check(now=63)
    assert not gateway_of(audit.report(now=63))["stalled"]
    g = gateway_of(audit.report(now=66))
    assert g["stalls"] == 1 and "4 accepted events have not arrived" in g["stalled"]
    for n in range(6, 10):
        audit.take(*event(n)[:2], now=67)
    g = gateway_of(audit.report(now=67))
    assert (g["stalled"], g["stalls"], g["missing"]) == ("", 1, 0)
    g = gateway_of(audit.report(now=67 + 11))  # then silence: no stats, no events
    assert g["stalls"] == 2 and "nothing from it" in g["stalled"]
    audit.take(*status(online=False), now=80)  # it said goodbye: offline is no stall
    g = gateway_of(audit.report(now=200))
    assert (g["stalled"], g["online"], g["node"], g["moves"]) == ("", False, "127.0.0.1:1883", 2)


def test_unreadable_messages_are_named_and_the_audit_goes_on() -> None:
    audit = StreamAudit()
    audit.take(TOPIC.format(device="0"), b"{not json", now=0)
    audit.take(TOPIC.format(device="0"), b'{"id": "x", "seqno": "7"}', now=0)
    audit.take("campus/school-9/event/panic/io-\x1b[2J", b"[1, 2]", now=0)
    audit.take(TOPIC.format(device="0"), b"{" * 100 + b"}" * 100, now=0)
    audit.take(*event(1)[:2], now=0)
    report = audit.report(now=0)
    assert report["unreadable"] == 4
    assert "is not JSON" in report["problems"][0]
    assert "has no valid seqno, device, site, gateway" in report["problems"][1]
    assert "\\x1b[2J" in report["problems"][2] and "must be a JSON object" in report["problems"][2]
    assert "deeper than 32 levels" in report["problems"][3]
    assert gateway_of(report)["delivered"] == 1


def _audit(broker: str, *args: str, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "audit-stream", "--broker", broker,
         "--for", str(seconds), "--json", "--client-id", f"audit-{uuid.uuid4().hex[:8]}", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen[str]) -> tuple[int, dict[str, Any]]:
    out, err = proc.communicate(timeout=60)
    assert out.strip(), err
    return proc.returncode, json.loads(out.strip().splitlines()[-1])


def test_audit_stream_accounts_for_every_event_of_a_live_gateway(
        tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber) -> None:
    site = site_file(tmp_path, mosquitto.url, modules=2)
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    auditor = _audit(mosquitto.url, "--stats-interval", "2", seconds=12)
    try:
        subscriber.wait_event("device.online", count=2, timeout=20)
        for _ in range(3):
            for device in ("io-0", "io-1"):
                sims.press(device, "btn-a")
            time.sleep(0.2)
            for device in ("io-0", "io-1"):
                sims.release(device, "btn-a")
            time.sleep(0.2)
        subscriber.wait_event("panic.pressed", count=6, timeout=20)
        code, report = _finish(auditor)
    finally:
        auditor.kill()
        gateway.stop()
        sims.stop()
    g = report["campuses"]["school-1"]["gw1"]
    assert code == 0, report
    assert g["online"] is True
    assert (g["delivered"], g["missing"], g["conflicts"], g["stalls"]) == \
        (outbox_last_seq(site), 0, 0, 0), g


def test_audit_stream_names_the_missing_seqnos_and_exits_1(mosquitto: Mosquitto) -> None:
    auditor = _audit(mosquitto.url, seconds=6)
    time.sleep(2.5)  # its subscription is in place (the audit's own session starts empty)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="faulty-gateway")
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    try:
        for n in (1, 2, 3, 6, 7):
            topic, payload, _ = event(n)
            client.publish(topic, payload, qos=1).wait_for_publish(5)
        client.publish(TOPIC.format(device="0"), b"\xff\xfe", qos=1).wait_for_publish(5)
        code, report = _finish(auditor)
    finally:
        auditor.kill()
        client.disconnect()
        client.loop_stop()
    g = gateway_of(report)
    assert code == 1
    assert (g["delivered"], g["missing"]) == (5, 2)
    assert g["epochs"][0]["missing_seqnos"] == "4-5"
    assert report["unreadable"] == 1 and "is not JSON" in report["problems"][0]


def test_a_wild_seqno_is_one_run_of_missing_not_a_count_to_it() -> None:
    """A publisher on the platform's broker that sends seqno 10**15 makes one missing run; the
    report is made at once (it used to count every number up to it)."""
    audit = StreamAudit("campus")
    for seqno in (1, 2, 4, 10**15):
        audit.take("campus/s1/event/panic/io-0", json.dumps(
            {"id": f"e{seqno}", "seqno": seqno, "device": "io-0", "site": "s1",
             "gateway": "gw1", "type": "campus.panic.pressed"}).encode(), now=0.0)
    (epoch,) = audit.gateways[("s1", "gw1")].figures(0.0)["epochs"]
    assert epoch["missing"] == 10**15 - 4
    assert epoch["missing_seqnos"] == f"3, 5-{10**15 - 1}"
