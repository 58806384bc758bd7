"""The pure parts: ISAPI notifications (JSON and XML, shaped like devices send them), the webhook
events, the multipart reader, digest and HMAC checks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from drivers.http_gate import isapi, webhook
from drivers.http_gate.body import BodyError, event_parts
from drivers.http_gate.digest import DigestAuthority
from drivers.http_gate.observations import ParseError
from drivers.http_gate.signing import SignatureChecker, SignatureError, signed_headers

# The shape a DS-K1T502 face terminal posts (pergolafabio/Hikvision-Addons issue #177).
LOCK_OPENED = {
    "ipAddress": "10.0.0.9", "portNo": 80, "protocol": "HTTP",
    "dateTime": "2024-08-26T12:32:28+01:00", "activePostCount": 1,
    "eventType": "AccessControllerEvent", "eventState": "active",
    "eventDescription": "Access Controller Event",
    "AccessControllerEvent": {"deviceName": "DS-K1T502DBFWX-C", "majorEventType": 5,
                              "subEventType": 21, "reportChannel": 5, "cardReaderKind": 1,
                              "doorNo": 1, "serialNo": 257, "currentEvent": True,
                              "frontSerialNo": 256, "hasRecord": False},
}
CARD_PASS = {
    "ipAddress": "10.20.0.21", "macAddress": "C0-6D-ED-02-D3-D9",
    "dateTime": "2026-11-03T07:58:12+08:00", "eventType": "AccessControllerEvent",
    "AccessControllerEvent": {"majorEventType": 5, "subEventType": 1, "cardNo": "0012345678",
                              "cardReaderNo": 2, "doorNo": 1, "serialNo": 42,
                              "currentVerifyMode": "cardOrFace"},
}
XML_DOOR_FORCED = b"""<?xml version="1.0" encoding="UTF-8"?>
<EventNotificationAlert version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">
<ipAddress>10.20.0.21</ipAddress><macAddress>c0:6d:ed:02:d3:d9</macAddress>
<dateTime>2026-11-03T08:00:00+08:00</dateTime><eventType>AccessControllerEvent</eventType>
<eventState>active</eventState><eventDescription>Access Controller Event</eventDescription>
<AccessControllerEvent><majorEventType>5</majorEventType><subEventType>27</subEventType>
<doorNo>1</doorNo><serialNo>43</serialNo></AccessControllerEvent>
</EventNotificationAlert>"""


def test_a_card_the_device_let_through() -> None:
    (seen,) = isapi.parse_notification(json.dumps(CARD_PASS).encode())
    assert seen.kind == "credential" and seen.granted is True
    assert (seen.credential, seen.door, seen.reader, seen.reference) == ("0012345678", 1, 2,
                                                                          "42")
    assert seen.mac == "c0:6d:ed:02:d3:d9"
    assert "legal card pass" in seen.device_reason and "cardOrFace" in seen.device_reason


def test_an_invalid_card_and_a_remote_verification_request() -> None:
    event = {**CARD_PASS["AccessControllerEvent"], "subEventType": 9}  # type: ignore[dict-item]
    (denied,) = isapi.parse_notification(json.dumps({**CARD_PASS, "AccessControllerEvent":
                                                     event}).encode())
    assert denied.granted is False and "invalid card" in denied.device_reason
    asking = {**event, "remoteCheck": True}
    (asks,) = isapi.parse_notification(json.dumps({**CARD_PASS, "AccessControllerEvent":
                                                   asking}).encode())
    assert asks.asks and asks.granted is None


def test_door_events_in_xml_and_events_that_make_none() -> None:
    (forced,) = isapi.parse_notification(XML_DOOR_FORCED, "application/xml")
    assert (forced.kind, forced.door_state, forced.door) == ("door", "forced", 1)
    (lock,) = isapi.parse_notification(json.dumps(LOCK_OPENED).encode())
    assert lock.kind == "other" and "lock opened" in lock.detail
    (beat,) = isapi.parse_notification(json.dumps({"eventType": "heartBeat"}).encode())
    assert beat.kind == "heartbeat"


def test_tamper_of_the_device_and_of_a_reader() -> None:
    alert = {**CARD_PASS, "AccessControllerEvent": {"majorEventType": 1, "subEventType": 0x406,
                                                    "cardReaderNo": 2}}
    (tamper,) = isapi.parse_notification(json.dumps(alert).encode())
    assert tamper.kind == "tamper" and tamper.tamper and tamper.reader == 2
    alert["AccessControllerEvent"] = {"majorEventType": 1, "subEventType": 0x405}
    (restored,) = isapi.parse_notification(json.dumps(alert).encode())
    assert restored.kind == "tamper" and not restored.tamper and restored.reader is None


@pytest.mark.parametrize("body", [b"", b"{", b"[1]", b"<a><b></a>", b'{"eventType": ""}',
                                  b'{"eventType": "AccessControllerEvent"}',
                                  b'{"eventType": "AccessControllerEvent", '
                                  b'"AccessControllerEvent": {"majorEventType": "x", '
                                  b'"subEventType": 1}}'])
def test_what_is_no_notification_says_why(body: bytes) -> None:
    with pytest.raises(ParseError):
        isapi.parse_notification(body)


def test_xml_entity_tricks_are_refused() -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            b"<EventNotificationAlert><eventType>&b;</eventType></EventNotificationAlert>")
    with pytest.raises(ParseError, match="refused"):
        isapi.parse_notification(bomb)


def test_what_the_gateway_sends_and_reads() -> None:
    assert b"<cmd>alwaysClose</cmd>" in isapi.door_command("alwaysClose")
    check = json.loads(isapi.remote_check("42", False, "unknown_credential"))
    assert check == {"RemoteCheck": {"serialNo": 42, "checkResult": "failed",
                                     "info": "unknown_credential"}}
    assert isapi.response_status(isapi.ok_answer("/isapi/events")) == (True, "OK ok")
    assert isapi.door_modes(b'{"AcsWorkStatus": {"doorStatus": [4, 3, 2, 1]}}') == [
        "normal", "locked", "free", "sleep"]


def test_webhook_events() -> None:
    seen = webhook.parse_event(json.dumps({
        "type": "credential", "id": "e-1", "door": 2, "credential": "77",
        "decision": {"granted": False, "reason": "expired"}, "vendor_extra": 1}).encode())
    assert (seen.granted, seen.device_reason, seen.door, seen.reference) == (False, "expired",
                                                                            2, "e-1")
    asks = webhook.parse_event(b'{"type": "credential", "credential": "77", "pin": "1234"}')
    assert asks.asks and asks.pin == "1234"
    door = webhook.parse_event(b'{"type": "door", "door": 1, "state": "held_open"}')
    assert door.door_state == "held_open"
    for bad in (b"nope", b'{"type": "credential"}', b'{"type": "door"}', b'{"type": "x"}',
                b'{"type": "door", "state": "ajar"}'):
        with pytest.raises(ParseError):
            webhook.parse_event(bad)


async def _chunks(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


def _multipart(*parts: tuple[str, str, bytes]) -> bytes:
    out = b""
    for name, content_type, data in parts:
        out += (f'--MIME_boundary\r\nContent-Disposition: form-data; name="{name}"\r\n'
                f"Content-Type: {content_type}\r\n\r\n").encode() + data + b"\r\n"
    return out + b"--MIME_boundary--\r\n"


def test_multipart_keeps_the_event_part_and_drops_the_picture() -> None:
    picture = b"\xff\xd8" + b"p" * 200_000 + b"\xff\xd9"
    body = _multipart(("event_log", "application/json", b'{"eventType": "heartBeat"}'),
                      ("Picture", "image/jpeg", picture))
    parts = asyncio.run(event_parts("multipart/form-data; boundary=MIME_boundary",
                                    _chunks(body), 4096, 1 << 20))
    assert parts == [("application/json", b'{"eventType": "heartBeat"}')]
    with pytest.raises(BodyError) as over:
        asyncio.run(event_parts("multipart/form-data; boundary=MIME_boundary", _chunks(body),
                                4096, 100_000))
    assert over.value.status == 413


def test_multipart_without_an_event_part_or_boundary() -> None:
    only_picture = _multipart(("Picture", "image/jpeg", b"\xff\xd8\xff\xd9"))
    for content_type, body in (("multipart/form-data; boundary=MIME_boundary", only_picture),
                               ("multipart/form-data", only_picture)):
        with pytest.raises(BodyError) as refused:
            asyncio.run(event_parts(content_type, _chunks(body), 4096, 1 << 20))
        assert refused.value.status == 400


def _authorization(authority: DigestAuthority, user: str, password: str, method: str,
                   url: str) -> str:
    """What httpx's digest client answers our challenge with."""
    challenge = httpx.Response(401, headers={"WWW-Authenticate": authority.challenge()},
                               request=httpx.Request(method, url))
    flow = httpx.DigestAuth(user, password).auth_flow(httpx.Request(method, url))
    next(flow)
    return flow.send(challenge).headers["Authorization"]


def test_digest_accepts_httpx_and_refuses_replays_and_wrong_passwords() -> None:
    authority = DigestAuthority("campus-gateway")
    url = "http://gw:8088/isapi/events"
    header = _authorization(authority, "gate-1", "pw", "POST", url)
    assert authority.verify(header, "POST", "/isapi/events", {"gate-1": "pw"}.get).ok
    replay = authority.verify(header, "POST", "/isapi/events", {"gate-1": "pw"}.get)
    assert not replay.ok and "replay" in replay.reason
    wrong = _authorization(authority, "gate-1", "nope", "POST", url)
    assert not authority.verify(wrong, "POST", "/isapi/events", {"gate-1": "pw"}.get).ok
    other = _authorization(authority, "gate-1", "pw", "POST", url)
    assert not authority.verify(other, "POST", "/elsewhere", {"gate-1": "pw"}.get).ok
    stranger = _authorization(DigestAuthority("campus-gateway"), "gate-1", "pw", "POST", url)
    assert not authority.verify(stranger, "POST", "/isapi/events", {"gate-1": "pw"}.get).ok


def test_an_expired_nonce_is_stale_not_wrong() -> None:
    now = [1000.0]
    authority = DigestAuthority("r", lifetime=60, clock=lambda: now[0])
    header = _authorization(authority, "u", "p", "POST", "http://h/x")
    now[0] += 61
    result = authority.verify(header, "POST", "/x", {"u": "p"}.get)
    assert not result.ok and result.stale


def test_hmac_signatures_window_and_replay() -> None:
    now = [1_800_000_000.0]
    checker = SignatureChecker(300, clock=lambda: now[0])
    body = b'{"type": "heartbeat"}'
    def sign(at: float) -> dict[str, str]:
        signed = signed_headers("ET-1", "s3cret", body, "POST", "/webhook/events", at)
        return {k.lower(): v for k, v in signed.items()}

    headers = sign(now[0])
    checker.check("s3cret", headers, body, "POST", "/webhook/events")
    with pytest.raises(SignatureError, match="replay"):
        checker.check("s3cret", headers, body, "POST", "/webhook/events")
    same_second = sign(now[0])  # the same body in the same second: a new nonce, taken
    checker.check("s3cret", same_second, body, "POST", "/webhook/events")
    for changed in ((body + b" ", "POST", "/webhook/events"), (body, "PUT", "/webhook/events"),
                    (body, "POST", "/gate/open")):
        with pytest.raises(SignatureError, match="does not match"):
            checker.check("s3cret", sign(now[0]), *changed)
    with pytest.raises(SignatureError, match="off our clock"):
        checker.check("s3cret", sign(now[0] - 301), body, "POST", "/webhook/events")
    with pytest.raises(SignatureError, match="missing"):
        checker.check("s3cret", {}, body, "POST", "/webhook/events")


def test_a_time_that_is_no_time_refuses_an_access_event_but_not_a_heartbeat() -> None:
    """A firmware that writes ``11:46:3100:00`` (node-red-contrib-hikvision-ultimate issue
    #59): its keep-alive still keeps it online; an access event still needs its time."""
    broken = "2024-01-22T11:46:3100:00"
    (beat,) = isapi.parse_notification(json.dumps(
        {"eventType": "heartBeat", "dateTime": broken}).encode())
    assert beat.kind == "heartbeat" and beat.time is None
    with pytest.raises(ParseError, match="dateTime"):
        isapi.parse_notification(json.dumps(
            {"eventType": "AccessControllerEvent", "dateTime": broken,
             "AccessControllerEvent": {"majorEventType": 5, "subEventType": 1,
                                       "cardNo": "1"}}).encode())


def test_a_boundary_named_in_another_case_than_the_body_spells_it_is_read() -> None:
    body = (b'--MIME_boundary\r\nContent-Disposition: form-data; name="AccessControllerEvent"'
            b'\r\nContent-Type: application/json\r\n\r\n{"eventType": "heartBeat"}\r\n'
            b"--MIME_boundary--\r\n")

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 7):
            yield body[i:i + 7]

    parts = asyncio.run(event_parts("multipart/form-data; boundary=mime_boundary", chunks(),
                                    4096, 65536))
    assert parts == [("application/json", b'{"eventType": "heartBeat"}')]
