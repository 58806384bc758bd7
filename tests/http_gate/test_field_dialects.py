"""The driver against controllers that push as other vendors' firmware does (shapes from
Hikvision's ISAPI access-control documents and captures quoted in open-source projects; see
docs/http-gate-controllers.md), through the simulator's dialect options over real sockets."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import defusedxml.ElementTree as SafeXml
import httpx

from tests.http_gate.support import (
    ADMIN_PASSWORD,
    VEHICLE,
    Rig,
    isapi_controller,
    rig,
    run,
    section,
    until,
)

SINGLE_DOOR = [{"door": 1, "gate": "north-vehicle", "direction": "in",
                "door_id": "north-barrier"}]


def _accepted(r: Rig) -> dict[str, Any]:
    accepted: dict[str, Any] = r.receiver.counts()["controllers"][VEHICLE]["accepted"]
    return accepted


def test_a_single_door_terminal_without_door_no_is_taken_at_its_one_door() -> None:
    async def scenario() -> None:
        stanza = section(isapi_controller("decides", doors=SINGLE_DOOR))
        async with rig(stanza) as r:
            await r.act("push-format", single_door=True)
            await r.act("enrol", card="3000561")
            await r.act("present-card", card="3000561", verify="fingerprint")
            await until(lambda: r.sink.requests, "the fingerprint pass")
            (request,) = r.sink.requests
            assert (request.gate, request.direction, request.credential) == (
                "north-vehicle", "in", "3000561")
            assert request.decided_by_device is True
            assert "fingerprint compare pass" in request.device_reason
            assert _accepted(r).get("unmapped", 0) == 0
    run(scenario())


def test_a_credential_at_a_door_the_site_file_does_not_map_is_published_as_unmapped() -> None:
    async def scenario() -> None:
        async with rig(section(isapi_controller("decides"))) as r:
            alert = {"eventType": "AccessControllerEvent", "dateTime": "2026-11-03T07:58:12Z",
                     "AccessControllerEvent": {"majorEventType": 5, "subEventType": 0x26,
                                               "doorNo": 7, "cardNo": "3000561",
                                               "serialNo": 41}}
            status, _ = await r.controller().push_raw(json.dumps(alert).encode(),
                                                      "application/json")
            assert status == 200
            (request,) = r.sink.requests
            assert (request.gate, request.reader, request.credential) == (
                "", "door7", "3000561")
            assert request.decided_by_device is True
            assert _accepted(r)["unmapped"] == 1
    run(scenario())


def test_an_unmapped_credential_the_device_asks_about_is_published_refused() -> None:
    async def scenario() -> None:
        async with rig(section(isapi_controller("asks"))) as r:
            alert = {"eventType": "AccessControllerEvent", "dateTime": "2026-11-03T07:58:12Z",
                     "AccessControllerEvent": {"majorEventType": 5, "subEventType": 1,
                                               "doorNo": 7, "cardReaderNo": 2,
                                               "cardNo": "3000561", "serialNo": 42,
                                               "remoteCheck": True}}
            status, _ = await r.controller().push_raw(json.dumps(alert).encode(),
                                                      "application/json")
            assert status == 200
            (request,) = r.sink.requests
            assert (request.gate, request.reader) == ("", "door7-reader2")
            assert request.decided_by_device is False
            assert "refused by the receiver" in request.device_reason
            assert _accepted(r)["unmapped"] == 1
    run(scenario())


def test_a_face_terminal_pushing_as_real_ones_do_is_taken_in_json_and_xml() -> None:
    async def scenario() -> None:
        stanza = section(isapi_controller("decides", doors=SINGLE_DOOR))
        async with rig(stanza) as r:
            await r.act("enrol", card="1042")
            await r.act("push-format", firmware="face_terminal")
            await r.act("present-card", card="1042")
            await until(lambda: r.sink.requests, "the face pass")
            await r.act("push-format", firmware="face_terminal", format="xml", pictures=True)
            await r.act("present-card", card="2077")
            await until(lambda: len(r.sink.requests) == 2, "the face refusal")
            granted, refused = r.sink.requests
            assert (granted.gate, granted.credential, granted.decided_by_device) == (
                "north-vehicle", "1042", True)
            assert "face authentication pass" in granted.device_reason
            assert (refused.credential, refused.decided_by_device) == ("2077", False)
            assert "face authentication fail" in refused.device_reason
            assert r.receiver.counts()["refused"] == {}
            assert _accepted(r)["credential"] == 2
    run(scenario())


def test_device_times_are_normalised_to_utc_and_a_bare_one_is_read_in_the_devices_zone() -> None:
    async def scenario() -> None:
        berlin = isapi_controller("decides", doors=SINGLE_DOOR, timezone="Europe/Berlin")
        stanza = section(berlin, device_timezone="Asia/Shanghai")
        async with rig(stanza) as r:
            when = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
            shanghai = when.astimezone(ZoneInfo("Asia/Shanghai"))
            await r.act("misbehave", device_time=shanghai.isoformat())
            await r.act("present-card", card="1042")
            # no offset: the controller's own zone (Berlin), not the receiver's default
            local = when.astimezone(ZoneInfo("Europe/Berlin")).replace(tzinfo=None)
            await r.act("misbehave", device_time=local.isoformat())
            await r.act("present-card", card="1043")
            await until(lambda: len(r.sink.requests) == 2, "both reads")
            for request in r.sink.requests:
                assert request.time.utcoffset() == timedelta(0)
                assert request.time == when
    run(scenario())


def test_an_event_without_mac_address_is_taken_and_a_different_one_refused() -> None:
    async def scenario() -> None:
        async with rig(section(isapi_controller("decides"))) as r:
            alert: dict[str, Any] = {
                "dateTime": "2026-11-03T07:58:12+08:00", "eventType": "AccessControllerEvent",
                "AccessControllerEvent": {"majorEventType": 5, "subEventType": 0x4B,
                                          "cardReaderNo": 1, "employeeNoString": "1042"}}
            status, _ = await r.controller().push_raw(json.dumps(alert).encode(),
                                                      "application/json")
            assert status == 200 and len(r.sink.requests) == 1
            alert["macAddress"] = "02:00:00:00:00:01"
            status, _ = await r.controller().push_raw(json.dumps(alert).encode(),
                                                      "application/json")
            assert status == 403 and len(r.sink.requests) == 1
            assert r.receiver.counts()["refused"] == {"wrong_identity": 1}
    run(scenario())


def test_the_device_serves_what_an_isapi_client_reads_when_it_connects() -> None:
    async def scenario() -> None:
        async with rig(section(isapi_controller("decides"))) as r:
            command = r.config.controllers[0].command
            assert command is not None
            auth = httpx.DigestAuth("admin", ADMIN_PASSWORD)
            async with httpx.AsyncClient(base_url=command.base, auth=auth) as client:
                for path, root in (("/ISAPI/System/status", "DeviceStatus"),
                                   ("/ISAPI/System/capabilities", "DeviceCap"),
                                   ("/ISAPI/Event/notification/httpHosts",
                                    "HttpHostNotificationList"),
                                   ("/ISAPI/AccessControl/RemoteControl/door/capabilities",
                                    "RemoteControlDoor")):
                    answer = await client.get(path)
                    assert answer.status_code == 200, path
                    assert SafeXml.fromstring(answer.content).tag.endswith(root)
                    answer = await client.get(path, params={"format": "json"})
                    assert root in answer.json()
                hosts = (await client.get("/ISAPI/Event/notification/httpHosts",
                                          params={"format": "json"})).json()
                (host,) = hosts["HttpHostNotificationList"]["HttpHostNotification"]
                assert (host["url"], host["portNo"]) == ("/isapi/events", r.config.listen.port)
                refused = await client.put("/ISAPI/AccessControl/RemoteControl/door/9",
                                           content=b"<RemoteControlDoor/>")
                assert refused.status_code == 400
                assert (b"<requestURL>/ISAPI/AccessControl/RemoteControl/door/9</requestURL>"
                        in refused.content)
            status, answer = await r.controller().push_raw(
                b'{"eventType": "heartBeat"}', "application/json")
            assert status == 200 and b"<requestURL>/isapi/events</requestURL>" in answer
    run(scenario())


def test_a_bare_time_no_zone_can_place_stays_bare_for_the_intake_to_judge() -> None:
    """0001-01-01T00:00:00 with no offset cannot be moved to UTC: it is passed on as it came,
    never with the zone's local mean time (+08:05:43, an offset RFC 3339 cannot carry)."""
    async def scenario() -> None:
        async with rig(section(isapi_controller("decides", doors=SINGLE_DOOR),
                               device_timezone="Asia/Shanghai")) as r:
            await r.act("misbehave", device_time="0001-01-01T00:00:00")
            await r.act("present-card", card="1044")
            await until(lambda: len(r.sink.requests) == 1, "the read")
            (request,) = r.sink.requests
            assert request.time == datetime(1, 1, 1) and request.time.tzinfo is None
    run(scenario())
