"""The ONVIF captures of tests/captures/onvif/ (provenance in tests/captures/SOURCES.md)
replayed through the driver: the simulated camera sends each one as it is in a PullMessages
answer (``notify-raw``), the gateway (its own process) pulls it over a real socket, and the
normalised ``camera.event`` is read off a real mosquitto.

One gateway, camera and broker serve the whole corpus (module scope). Each capture has its own
topic and source, so no property state of one hides another's change.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulators.onvif import SimulatedCamera
from tests.conftest import Mosquitto, Subscriber, free_port
from tests.rig import GatewayProcess, SimulatorThread, site_file

CAPTURES = Path(__file__).parents[1] / "captures" / "onvif"
PASSWORD_ENV = "ONVIF_CORPUS_PASSWORD"
CAMERA = "corpus-cam"


@dataclass
class Replay:
    sims: SimulatorThread
    subscriber: Subscriber
    gateway: GatewayProcess

    def send(self, capture: str) -> None:
        camera = self.sims.campus.device(CAMERA)
        assert isinstance(camera, SimulatedCamera)
        xml = (CAPTURES / capture).read_text()
        self.sims.run(lambda: camera.act("notify-raw", {"xml": xml}))

    def act(self, action: str) -> None:
        camera = self.sims.campus.device(CAMERA)
        assert isinstance(camera, SimulatedCamera)
        self.sims.run(lambda: camera.act(action, {}))

    def published(self, topic: str, device_time: str) -> dict[str, Any]:
        (event,) = self.subscriber.wait_for(
            lambda _m: [e for e in self.subscriber.events("camera.event")
                        if e["data"]["topic"] == topic
                        and _utc(e["data"]["device_time"]) == _utc(device_time)] or None,
            what=f"camera.event {topic} at {device_time}")
        return event["data"]  # type: ignore[no-any-return]


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replay]:
    tmp = tmp_path_factory.mktemp("onvif-corpus")
    with pytest.MonkeyPatch.context() as env:
        env.setenv(PASSWORD_ENV, "corpus-cam-secret")
        broker = Mosquitto(tmp)
        broker.start()
        site = site_file(tmp, broker.url, modules=0)
        doc: dict[str, Any] = yaml.safe_load(site.read_text())
        doc["devices"] = [{
            "id": CAMERA, "driver": "onvif", "host": "127.0.0.1", "port": free_port(),
            "username": "gateway", "password": {"env": PASSWORD_ENV}, "zone": "gate-house",
            "scene": "gate", "stream": {"transport": "mjpeg"}, "simulator": {"rtsp": False},
            "subscription": {"pull_timeout": 1, "backoff_initial": 0.2, "backoff_max": 1}}]
        site.write_text(yaml.safe_dump(doc, sort_keys=False))
        subscriber = Subscriber(broker.url)
        sims = SimulatorThread(site)
        gateway = GatewayProcess(site).start()
        try:
            subscriber.wait_event("camera.status", device=CAMERA, timeout=30, state="up")
            camera = sims.campus.device(CAMERA)
            assert isinstance(camera, SimulatedCamera)
            subscriber.wait_for(lambda _m: camera.events.subscriptions, timeout=30,
                                what="the driver's pull point (a raw message is no state: "
                                     "sent before it, it would reach nobody)")
            yield Replay(sims, subscriber, gateway)
        finally:
            gateway.stop()
            sims.stop()
            subscriber.close()
            broker.stop()


# capture, topic as published, device time, kind, active, source items the event names, and
# what the camera does first (the simulator's own state for the same topic and source)
CHANGES = [
    ("hikvision-cell-motion.xml", "tns1:RuleEngine/CellMotionDetector/Motion",
     "2024-03-05T10:15:02.250Z", "motion", True, {"Rule": "MyMotionDetectorRule"}),
    ("axis-motion-alarm.xml", "tns1:VideoSource/MotionAlarm", "2024-03-05T10:15:02Z",
     "motion", True, {"Source": "0"}),
    ("axis-object-analytics.xml",
     "tnsaxis:CameraApplicationPlatform/ObjectAnalytics/Device1Scenario1",
     "2024-03-05T10:19:00Z", "other", True, {}),
    ("hikvision-field.xml", "tns1:RuleEngine/FieldDetector/ObjectsInside",
     "2024-03-05T10:17:00Z", "field", True, {"Rule": "MyFieldDetector1"}),
    ("hikvision-line.xml", "tns1:RuleEngine/LineDetector/Crossed", "2024-03-05T10:17:05Z",
     "line_crossed", None, {"Rule": "MyLineDetector1"}),
    ("hikvision-tamper.xml", "tns1:RuleEngine/TamperDetector/Tamper", "2024-03-05T10:16:40Z",
     "tamper", True, {"Rule": "MyTamperDetectorRule"}),
    ("scene-change.xml", "tns1:VideoSource/GlobalSceneChange/ImagingService",
     "2024-03-05T10:16:41Z", "tamper", True, {"Source": "VideoSource_1"}),
    ("too-dark.xml", "tns1:VideoSource/ImageTooDark/AnalyticsService", "2024-03-05T10:18:00Z",
     "image_too_dark", True, {"Source": "VideoSource_1"}),
    ("too-bright.xml", "tns1:VideoSource/ImageTooBright/ImagingService",
     "2024-03-05T10:18:01Z", "image_too_bright", True, {"Source": "VideoSource_1"}),
    ("too-blurry.xml", "tns1:VideoSource/ImageTooBlurry/ImagingService",
     "2024-03-05T10:18:02Z", "image_too_blurry", False, {"Source": "VideoSource_1"},
     "defocus"),
    ("axis-pir-change.xml", "tns1:Device/tnsaxis:Sensor/PIR", "2019-03-12T23:48:28.425164Z",
     "other", True, {"sensor": "0"}),
    ("tapo-tamper.xml", "tns1:RuleEngine/CellMotionDetector/Tamper", "2025-01-05T21:01:05Z",
     "tamper", True, {"Rule": "MyTamperDetectorRule"}),
    ("tapo-line-cross.xml", "tns1:RuleEngine/CellMotionDetector/LineCross",
     "2025-01-03T21:05:14Z", "other", True, {"Rule": "MyLineCrossDetectorRule"}),
    ("tapo-people.xml", "tns1:RuleEngine/CellMotionDetector/People", "2025-01-03T20:09:22Z",
     "other", True, {"Rule": "MyPeopleDetectorRule"}),
]


@pytest.mark.parametrize(("capture", "topic", "device_time", "kind", "active", "source",
                          "before"), [(*c, "")[:7] for c in CHANGES], ids=[c[0] for c in CHANGES])
def test_a_captured_notification_reaches_the_platform_normalised(
        replay: Replay, capture: str, topic: str, device_time: str, kind: str,
        active: bool | None, source: dict[str, str], before: str) -> None:
    if before:  # a change from the camera's own state: the same state again is no news
        replay.act(before)
    replay.send(capture)
    fact = replay.published(topic, device_time)
    assert (fact["camera"], fact["zone"], fact["kind"], fact["active"]) == (
        CAMERA, "gate-house", kind, active)
    assert {k: fact["source"].get(k) for k in source} == source


INITIAL = [("dahua-digital-input.xml", "tns1:Device/Trigger/DigitalInput", {"InputToken": "1"}),
           ("axis-scene-change-initialized.xml",
            "tns1:VideoSource/GlobalSceneChange/ImagingService", {"Source": "0"})]


@pytest.mark.parametrize(("capture", "topic", "source"), INITIAL, ids=[c[0] for c in INITIAL])
def test_a_captured_initial_state_is_taken_quietly(replay: Replay, capture: str, topic: str,
                                                   source: dict[str, str]) -> None:
    """An ``Initialized`` message is the state a camera reports on subscribing: the driver
    learns it and publishes nothing (docs/cameras.md), and goes on pulling."""
    def crossings() -> int:
        return len([e for e in replay.subscriber.events("camera.event")
                    if e["data"]["source"].get("Rule") == "MyLineDetectorRule"])

    before = crossings()
    replay.send(capture)
    replay.act("cross")  # a later message of the camera's own: pulled after the capture
    replay.subscriber.wait_for(lambda _m: crossings() > before,
                               what="the line crossing sent after the capture")
    assert [e for e in replay.subscriber.events("camera.event")
            if e["data"]["topic"] == topic and e["data"]["source"] == source] == []
