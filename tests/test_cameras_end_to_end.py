"""Cameras end to end: a simulated ONVIF camera and a panic button on real sockets, the gateway
as its own process, mosquitto, and the central platform fetching the snapshot by its id."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import Mosquitto, Subscriber, free_port
from tests.rig import GUARD_TOKEN, GatewayProcess, SimulatorThread, assert_events_valid, site_file

PASSWORD_ENV = "CAMERA_E2E_PASSWORD"


@pytest.fixture(autouse=True)
def _camera_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "gate-cam-e2e-secret")


def camera_site(tmp_path: Path, broker: str, **media: Any) -> Path:
    path = site_file(tmp_path, broker, modules=1, extra={"media": media, "linkage": [{
        "name": "gate-camera", "when": {"conditions": ["panic"]},
        "do": [{"camera": "gate-cam", "ptz_preset": "gate"},
               {"camera": "gate-cam", "snapshot": True}]}]})
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    doc["devices"].append({
        "id": "gate-cam", "driver": "onvif", "name": "Main gate camera", "host": "127.0.0.1",
        "port": free_port(), "username": "gateway", "password": {"env": PASSWORD_ENV},
        "zone": "gate-house", "presets": ["gate", "street"], "scene": "gate",
        "stream": {"transport": "mjpeg"}, "simulator": {"rtsp": False},
        "subscription": {"pull_timeout": 1, "backoff_initial": 0.2, "backoff_max": 1}})
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_a_panic_press_turns_the_camera_and_its_snapshot_is_fetched_by_id(
        tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber) -> None:
    site = camera_site(tmp_path, mosquitto.url, publish_bytes=True)
    console = yaml.safe_load(site.read_text())["console"]["listen"]
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    try:
        subscriber.wait_event("device.online", device="gate-cam", timeout=30)
        subscriber.wait_event("device.online", device="io-0", timeout=30)
        status, = subscriber.wait_event("camera.status", timeout=15)
        assert status["data"]["state"] == "up" and status["data"]["clock_skew_s"] is not None
        sims.press("io-0", "btn-a")
        raised, = subscriber.wait_event("alarm.raised", timeout=10)
        alarm_id = raised["data"]["alarm"]["alarm_id"]
        moved, = subscriber.wait_event("camera.ptz", timeout=10)
        assert moved["data"]["preset"] == "gate" and moved["data"]["ok"]
        shot, = subscriber.wait_event("camera.snapshot", timeout=10, alarm_id=alarm_id)
        reference = shot["data"]
        assert reference["content_type"] == "image/jpeg" and reference["size"] > 1000
        state = sims.run(lambda: sims.campus.state("gate-cam"))
        assert state["ptz"]["preset"] == "gate"
        # the central platform fetches it by id, with an operator's token, and checks its hash
        url = f"http://{console['host']}:{console['port']}/media/{reference['media_id']}"
        assert reference["url"] == url
        refused = httpx.get(url, timeout=5)
        assert refused.status_code in (401, 403)
        fetched = httpx.get(url, headers={"Authorization": f"Bearer {GUARD_TOKEN}"}, timeout=5)
        assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/jpeg"
        assert hashlib.sha256(fetched.content).hexdigest() == reference["sha256"]
        # the guard sees it on the alarm's page of the console
        password = tmp_path / "guard.password"
        password.write_text("guard-console-password")
        subprocess.run([sys.executable, "-m", "gateway.cli", "operator", "add", "guard1",
                        "-c", str(site), "--password-file", str(password)], check=True,
                       capture_output=True)
        base = f"http://{console['host']}:{console['port']}/"
        with httpx.Client(base_url=base, follow_redirects=False, timeout=5) as web:
            form = web.get("login")
            csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
            logged = web.post("login", data={"name": "guard1", "csrf": csrf,
                                             "password": "guard-console-password"})
            assert logged.status_code == 303
            detail = web.get(f"alarms/{alarm_id}").text
            assert f'src="/media/{reference["media_id"]}"' in detail
            assert web.get(f"media/{reference['media_id']}").status_code == 200
        # and, as the site asks, its bytes on the media topic
        jpeg = subscriber.wait_for(lambda msgs: [m for m in msgs if m.topic.endswith(
            f"/media/gate-cam/{reference['media_id']}")], 10, "the snapshot's bytes")[0]
        assert hashlib.sha256(jpeg.payload).hexdigest() == reference["sha256"]
        linkage, = subscriber.wait_event("linkage.executed", timeout=10)
        assert linkage["data"]["ok"] and len(linkage["data"]["camera_actions"]) == 2
        # the camera's own tamper event: an alarm of the camera, with its picture
        sims.run(lambda: sims.campus.act("gate-cam", "cover", {}))
        tamper = subscriber.wait_event("alarm.raised", count=2, timeout=15)[-1]["data"]["alarm"]
        assert tamper["condition"] == "camera_tamper" and tamper["device_id"] == "gate-cam"
        subscriber.wait_event("camera.snapshot", timeout=10, alarm_id=tamper["alarm_id"])
        assert assert_events_valid(subscriber) > 5
    finally:
        gateway.stop()
        sims.stop()


def test_snapshot_references_taken_while_the_broker_is_down_arrive_after(
        tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber) -> None:
    site = camera_site(tmp_path, mosquitto.url)
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    try:
        subscriber.wait_event("device.online", device="gate-cam", timeout=30)
        subscriber.wait_event("device.online", device="io-0", timeout=30)
        mosquitto.stop()
        sims.press("io-0", "btn-a")
        sims.press("io-0", "btn-b")
        time.sleep(2.0)  # the snapshots are taken and stored meanwhile
        mosquitto.start()
        alarms = subscriber.wait_event("alarm.raised", count=2, timeout=30)
        for alarm in alarms:
            subscriber.wait_event("camera.snapshot", timeout=30,
                                  alarm_id=alarm["data"]["alarm"]["alarm_id"])
    finally:
        gateway.stop()
        sims.stop()


def test_the_retained_inventory_says_what_a_camera_turned_out_to_offer(
        tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber) -> None:
    """A camera with no events service (dialect ``no-events``): the inventory announced at
    start says events (not known yet); once the driver has found out, the retained inventory is
    published again saying no events, so a platform that subscribes later reads the truth."""
    site = camera_site(tmp_path, mosquitto.url)
    doc: dict[str, Any] = yaml.safe_load(site.read_text())
    doc["devices"][-1]["simulator"]["dialect"] = "no-events"
    site.write_text(yaml.safe_dump(doc, sort_keys=False))
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()

    def camera_entries(messages: list[Any]) -> list[dict[str, Any]]:
        return [entry for m in messages if m.topic.endswith("/devices") and m.payload
                for entry in m.json()["devices"] if entry["id"] == "gate-cam"]

    try:
        first = subscriber.wait_for(camera_entries, timeout=30, what="the inventory")[0]
        assert first["events"] is True
        status, = subscriber.wait_event("camera.status", timeout=30)
        assert "events unavailable" in status["data"]["reason"]
        later = subscriber.wait_for(lambda m: [e for e in camera_entries(m)
                                               if e["events"] is False],
                                    timeout=15, what="the inventory again")
        assert later
        late = Subscriber(mosquitto.url)  # a platform that subscribes now
        try:
            retained = late.wait_for(camera_entries, timeout=10, what="the retained inventory")
            assert [entry["events"] for entry in retained] == [False]
        finally:
            late.close()
    finally:
        gateway.stop()
        sims.stop()
