"""The ISAPI captures of tests/captures/isapi/ (provenance in tests/captures/SOURCES.md), each
POSTed as its device sends it (JSON, XML, multipart with its own boundary) over real HTTP with
the device's digest to the receiver of a real gateway process, and what reaches the central
platform read off a real mosquitto.

One gateway and broker serve the whole corpus (module scope), so the replay costs one start;
each capture carries its own serial number and time, so none is taken as a repeat of another.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Mosquitto, Subscriber, wait_port
from tests.http_gate.support import ENV, PUSH_PASSWORD, VEHICLE, isapi_controller, section
from tests.rig import GatewayProcess, site_file

CAPTURES = Path(__file__).parents[1] / "captures" / "isapi"
ACCESS = {"gates": [{"id": "north-vehicle"}],
          "doors": [{"id": "north-barrier", "gate": "north-vehicle"}]}
JSON = "application/json"
XML = "application/xml; charset=\"UTF-8\""
MULTIPART = "multipart/form-data; boundary=MIME_boundary"


@dataclass
class Replay:
    url: str
    subscriber: Subscriber
    gateway: GatewayProcess

    def push(self, name: str, content_type: str) -> httpx.Response:
        body = (CAPTURES / name).read_bytes()
        return httpx.post(self.url, content=body, headers={"Content-Type": content_type},
                          auth=httpx.DigestAuth(VEHICLE, PUSH_PASSWORD), timeout=10)


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replay]:
    """A gateway whose one controller (no MAC to check: the captures come from many devices)
    maps reader 1 of door 1 as the way in and reader 2 as the way out."""
    tmp = tmp_path_factory.mktemp("isapi-corpus")
    with pytest.MonkeyPatch.context() as env:
        for key, value in ENV.items():
            env.setenv(key, value)
        broker = Mosquitto(tmp)
        broker.start()
        controller = isapi_controller("decides")
        del controller["command"]
        controller["identity"] = {"peer": "127.0.0.1"}
        stanza = section(controller)
        site = site_file(tmp, broker.url, modules=0,
                         extra={"access": ACCESS, "devices": [stanza]})
        subscriber = Subscriber(broker.url)
        gateway = GatewayProcess(site).start()
        try:
            port = stanza["listen"]["port"]
            wait_port(port, timeout=30)
            yield Replay(f"http://127.0.0.1:{port}/isapi/events", subscriber, gateway)
        finally:
            gateway.stop()
            subscriber.close()
            broker.stop()


def _utc(text: str) -> str:
    return datetime.fromisoformat(text).astimezone(UTC).isoformat().replace("+00:00", "Z")


def _published(replay: Replay, kind: str, device_time: str) -> dict[str, Any]:
    """The one event of ``kind`` the gateway published for the capture dated ``device_time``
    (every capture is old enough for the intake to keep the device's time in ``devicetime``
    and date the event at its receipt)."""
    (event,) = replay.subscriber.wait_for(
        lambda _m: [e for e in replay.subscriber.events(kind)
                    if e.get("devicetime") == _utc(device_time)] or None,
        what=f"{kind} dated {device_time}")
    return event  # type: ignore[no-any-return]


# capture, content type, event type, device time, what the event's data must say (the
# credential as published: all but its last four characters masked)
ACCESS_CAPTURES = [
    ("face-terminal-face-pass.json", JSON, "access.granted",
     "2026-02-24T19:45:13+08:00",
     {"gate": "north-vehicle", "credential": "**0042", "direction": "in",
      "decided_by": "device"}),
    ("controller-card-pass-ver20.xml", XML, "access.granted",
     "2026-11-03T07:58:12+08:00",
     {"gate": "north-vehicle", "credential": "***0561", "direction": "out",
      "decided_by": "device"}),
    ("ds-k1t323-fingerprint-pass.multipart", "multipart/form-data; boundary=mime_boundary",
     "access.granted", "2026-09-19T18:02:38+03:00",
     {"gate": "north-vehicle", "credential": "**0015", "direction": "in",
      "decided_by": "device"}),
    ("face-terminal-face-fail-picture.multipart", MULTIPART, "access.denied",
     "2026-04-21T13:15:05+03:00",
     {"gate": "north-vehicle", "credential": "**0077", "decided_by": "device"}),
]


@pytest.mark.parametrize(("capture", "content_type", "kind", "device_time", "data"),
                         ACCESS_CAPTURES, ids=[c[0] for c in ACCESS_CAPTURES])
def test_an_access_capture_is_published_as_the_normalised_access_event(
        replay: Replay, capture: str, content_type: str, kind: str, device_time: str,
        data: dict[str, Any]) -> None:
    answer = replay.push(capture, content_type)
    assert answer.status_code == 200, answer.text
    event = _published(replay, kind, device_time)  # the device's own time, in UTC
    assert event["device"] == VEHICLE
    assert {k: event["data"].get(k) for k in data} == data
    assert event["time"].endswith("Z")


CONDITION_CAPTURES = [
    ("controller-door-forced.json", "door.forced", "2026-11-03T07:58:12+08:00",
     {"door": "north-barrier", "gate": "north-vehicle"}),
    ("controller-reader-tamper.json", "access.reader_tamper", "2026-11-03T07:59:40+08:00",
     {"gate": "north-vehicle"}),
]


@pytest.mark.parametrize(("capture", "kind", "device_time", "data"), CONDITION_CAPTURES,
                         ids=[c[0] for c in CONDITION_CAPTURES])
def test_a_door_or_tamper_alarm_capture_is_published(replay: Replay, capture: str, kind: str,
                                                     device_time: str, data: dict[str, Any]
                                                     ) -> None:
    answer = replay.push(capture, JSON)
    assert answer.status_code == 200, answer.text
    event = _published(replay, kind, device_time)
    assert {k: event["data"].get(k) for k in data} == data


OTHER_CAPTURES = [
    ("ds-k1t502-lock-opened.json", JSON),
    ("ds-k1t323-heartbeat.multipart", "multipart/form-data; boundary=MIME_boundary"),
    ("nvr-videoloss-ver20.xml", XML),
    ("camera-io-alarm.xml", "application/xml"),
    # its dateTime is no time (an offset without its sign and colon): not needed, not refused
    ("nvr-videoloss-bad-datetime.xml", XML),
]


@pytest.mark.parametrize(("capture", "content_type"), OTHER_CAPTURES,
                         ids=[c[0] for c in OTHER_CAPTURES])
def test_a_push_that_is_no_access_event_is_taken_without_an_event(
        replay: Replay, capture: str, content_type: str) -> None:
    before = len(replay.subscriber.events())
    answer = replay.push(capture, content_type)
    assert answer.status_code == 200, answer.text
    assert b"<statusCode>1</statusCode>" in answer.content
    with contextlib.suppress(AssertionError):
        replay.subscriber.settle(quiet=0.3, timeout=5)
    published = [e["type"] for e in replay.subscriber.events()[before:]]
    assert not [t for t in published if ".access." in t or ".door." in t], published
    assert replay.gateway.proc is not None and replay.gateway.proc.poll() is None
