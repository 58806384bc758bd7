"""Linkage rules: an alarm drives outputs elsewhere, reads them back, and a failure is an alarm."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, load_site
from tests.conftest import Mosquitto, Subscriber
from tests.rig import GatewayProcess, SimulatorThread, assert_events_valid, site_file

RULES = {"linkage": [
    {"name": "lock-down-zone-0", "when": {"conditions": ["panic"], "zones": ["zone-0"]},
     "do": [{"device": "io-1", "output": "door", "set": True}]},
    {"name": "never-here", "when": {"conditions": ["panic"], "zones": ["zone-9"]},
     "do": [{"device": "io-0", "output": "door"}]},
]}


def test_a_rule_drives_and_reads_back_and_a_failure_raises_an_alarm(
        tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber) -> None:
    site = site_file(tmp_path, mosquitto.url, modules=2, extra=RULES)
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    try:
        subscriber.wait_event("device.online", count=2, timeout=20)
        sims.press("io-0", "btn-a")
        (done,) = subscriber.wait_event("linkage.executed")
        outcome = done["data"]
        assert outcome["rule"] == "lock-down-zone-0" and outcome["ok"] is True
        assert outcome["actions"][0] | {"reason": ""} == {
            "output": "door", "device": "io-1", "address": 1, "requested": True,
            "confirmed": True, "reason": "", "error": ""}
        assert sims.coil("io-1", "door") is True
        assert not sims.coil("io-0", "door")  # the zone-9 rule did not fire

        # the module with the door relay drops off the line; the next press cannot drive it
        sims.run(lambda: sims.module("io-1").go_offline("refuse"))
        subscriber.wait_event("device.offline", timeout=15)
        sims.press("io-0", "btn-b")
        failed = subscriber.wait_event("linkage.executed", count=2)[1]
        assert failed["data"]["ok"] is False and failed["severity"] == "major"
        assert failed["data"]["actions"][0]["error"]
        subscriber.wait_for(lambda _m: any(
            e["data"]["alarm"]["condition"] == "linkage_failed"
            for e in subscriber.events("alarm.raised")), what="a linkage_failed alarm")
        alarms = [e["data"]["alarm"] for e in subscriber.events("alarm.raised")]
        failed_alarm = next(a for a in alarms if a["condition"] == "linkage_failed")
        assert failed_alarm["point"] == "lock-down-zone-0" and failed_alarm["severity"] == "major"
        assert assert_events_valid(subscriber) > 0
    finally:
        gateway.stop()
        sims.stop()


def test_rules_must_name_real_outputs(tmp_path: Path) -> None:
    bad = {"linkage": [{"name": "r", "do": [{"device": "io-0", "output": "trumpet"},
                                             {"device": "io-7", "output": "door"}]}]}
    with pytest.raises(ConfigError) as info:
        load_site(site_file(tmp_path, "mqtt://127.0.0.1:1883", modules=1, extra=bad))
    assert any("linkage[0].do[0].output: device 'io-0' has no output 'trumpet'" in p
               for p in info.value.problems)
    assert any("linkage[0].do[1].device: no device 'io-7'" in p for p in info.value.problems)
