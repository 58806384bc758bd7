"""Running the gateway as an operator would: Prometheus metrics, the doctor, the systemd unit."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Mosquitto, Subscriber, free_port, wait_port
from tests.rig import GatewayProcess, SimulatorThread, site_file


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_tell_events_backlog_devices_alarms_polls_and_deliveries(
        tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber) -> None:
    port = free_port()
    site = site_file(tmp_path, mosquitto.url, modules=2, extra={
        "metrics": {"enabled": True, "listen": {"host": "127.0.0.1", "port": port}}})
    doc = yaml.safe_load(site.read_text())
    doc["gateway"]["log_format"] = "json"
    site.write_text(yaml.safe_dump(doc))
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    try:
        subscriber.wait_event("device.online", count=2, timeout=20)
        sims.press("io-0", "btn-a")
        subscriber.wait_event("alarm.raised", timeout=10)
        subscriber.settle()
        wait_port(port)
        got = samples(httpx.get(f"http://127.0.0.1:{port}/metrics").text)
    finally:
        gateway.stop()
        sims.stop()
    assert got[("campus_events_total", (("type", "campus.panic.pressed"),))] == 1
    assert got[("campus_events_total", (("type", "campus.alarm.raised"),))] == 1
    assert got[("campus_device_online", (("device", "io-0"),))] == 1
    assert got[("campus_alarms_open", (("condition", "panic"), ("severity", "critical")))] == 1
    assert got[("campus_broker_connected", ())] == 1
    assert got[("campus_storage_ok", ())] == 1
    assert got[("campus_outbox_backlog", ())] == 0
    assert got[("campus_delivery_seconds_count", ())] >= 3
    assert got[("campus_poll_seconds_count", (("device", "io-1"),))] > 5
    # the log was one JSON object a line, with the device where there is one
    lines = [json.loads(line) for line in gateway.output().splitlines() if line.strip()]
    online = [r for r in lines if r["message"].startswith("io-0: online")]
    assert online and online[0]["device"] == "io-0" and online[0]["level"] == "INFO"
