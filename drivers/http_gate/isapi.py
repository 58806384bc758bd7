"""Hikvision ISAPI, as pure functions: event notifications in, door-control messages out.

A device with an ``httpHosts`` entry POSTs each event to that URL, usually as
``multipart/form-data`` (boundary ``MIME_boundary``) with one JSON or XML part (named
``event_log`` or ``AccessControllerEvent``) and optional ``Picture`` parts; some firmware sends
the JSON or XML alone. The message is an ``EventNotificationAlert``: ``ipAddress``,
``macAddress``, ``dateTime``, ``eventType`` (``AccessControllerEvent``, or ``heartBeat`` for
the keep-alive) and, for access events, an ``AccessControllerEvent`` object with
``majorEventType``/``subEventType`` (the HCNetSDK ``MAJOR_*``/``MINOR_*`` codes), ``cardNo``,
``employeeNoString``, ``doorNo``, ``cardReaderNo``, ``serialNo``, ``currentVerifyMode`` and,
when the device waits for remote verification, ``remoteCheck: true``.

Sources and what is unconfirmed: docs/http-gate-controllers.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeXml
from defusedxml import DefusedXmlException

from drivers.http_gate.models import normal_mac
from drivers.http_gate.observations import DoorState, Observation, ParseError
from gateway.kernel.boundary import (
    FACT_TEXT,
    MAX_JSON_DEPTH,
    BoundaryError,
    device_text,
    parse_json,
)

MAJOR_ALARM, MAJOR_EXCEPTION, MAJOR_OPERATION, MAJOR_EVENT = 1, 2, 3, 5

# MAJOR_EVENT minor codes: a credential was verified by the device (HCNetSDK MINOR_*).
GRANTED: dict[int, str] = {
    0x01: "legal card pass",
    0x02: "card and password pass",
    0x10: "multiple authentication success",
    0x26: "fingerprint compare pass",
    0x28: "card and fingerprint pass",
    0x2B: "card, fingerprint and password pass",
    0x2E: "fingerprint and password pass",
    0x36: "face and fingerprint pass",
    0x39: "face and password pass",
    0x3C: "face and card pass",
    0x3F: "face, password and fingerprint pass",
    0x42: "face, card and fingerprint pass",
    0x45: "employee no. and fingerprint pass",
    0x48: "employee no., fingerprint and password pass",
    0x4B: "face authentication pass",
    0x4D: "employee no. and face pass",
    0x65: "employee no. and password pass",
    0x69: "person and ID card compare pass",
    0x99: "combined authentication pass",
}
# ... and refused by the device.
DENIED: dict[int, str] = {
    0x03: "card and password fail",
    0x04: "card and password timeout",
    0x05: "card and password over times",
    0x06: "card has no right",
    0x07: "card outside its valid period",
    0x08: "card expired",
    0x09: "invalid card (no such card)",
    0x0A: "anti-passback fail",
    0x0B: "interlocked door not closed",
    0x0C: "card not in the multiple-authentication group",
    0x0D: "outside the multiple-authentication period",
    0x27: "fingerprint compare fail",
    0x29: "card and fingerprint fail",
    0x2A: "card and fingerprint timeout",
    0x2C: "card, fingerprint and password fail",
    0x2F: "fingerprint and password fail",
    0x31: "fingerprint does not exist",
    0x4C: "face authentication fail",
    0x50: "face recognition fail",
    0x70: "person and ID card compare fail",
    0x71: "blocklisted",
    0x75: "door remains closed or dormant",
    0x76: "authentication plan dormant",
    0x97: "password mismatch",
    0x98: "employee no. does not exist",
    0x9A: "combined authentication timeout",
    0x9B: "authentication mode mismatch",
}
DOOR: dict[int, tuple[DoorState, str]] = {
    0x17: ("exit_request", "door button pressed"),
    0x19: ("opened", "door opened normally (contact)"),
    0x1A: ("closed", "door closed normally (contact)"),
    0x1B: ("forced", "door opened abnormally (contact)"),
    0x1C: ("held_open", "door open timeout (contact)"),
}
TAMPER: dict[int, tuple[bool, bool, str]] = {  # code -> (active, at a reader, description)
    0x404: (True, False, "device tamper alarm"),
    0x405: (False, False, "device tamper restored"),
    0x406: (True, True, "card reader tamper alarm"),
    0x407: (False, True, "card reader tamper restored"),
}
# Known and deliberately turned into no event (the gateway's own commands cause most of them).
INFORMATIONAL: dict[tuple[int, int], str] = {
    (MAJOR_EVENT, 0x13): "remain open begin",
    (MAJOR_EVENT, 0x14): "remain open end",
    (MAJOR_EVENT, 0x15): "lock opened",
    (MAJOR_EVENT, 0x16): "lock closed",
    (MAJOR_EVENT, 0x18): "door button released",
    (MAJOR_EVENT, 0x1F): "remain closed begin",
    (MAJOR_EVENT, 0x20): "remain closed end",
    (MAJOR_OPERATION, 0x400): "remote open door",
    (MAJOR_OPERATION, 0x401): "remote close door",
    (MAJOR_OPERATION, 0x402): "remote always open",
    (MAJOR_OPERATION, 0x403): "remote always close",
}

# AcsWorkStatus doorStatus values (HCNetSDK NET_DVR_ACS_WORK_STATUS_V50 byDoorStatus).
DOOR_STATUS = {1: "sleep", 2: "free", 3: "locked", 4: "normal"}
COMMANDS = {"free": "alwaysOpen", "locked": "alwaysClose"}

XML_NS = "http://www.isapi.org/ver20/XMLSchema"


def parse_notification(body: bytes, content_type: str = "") -> list[Observation]:
    """One pushed part (JSON or XML ``EventNotificationAlert``) -> what it reports."""
    text = body.strip()
    if not text:
        raise ParseError("empty event part")
    if text[:1] == b"<" or "xml" in content_type:
        alert = _xml_to_dict(text)
    else:
        alert = _json(text, "event part")
    if not isinstance(alert, dict):
        raise ParseError("event part is not an object")
    alert = alert.get("EventNotificationAlert", alert)
    if not isinstance(alert, dict):
        raise ParseError("EventNotificationAlert is not an object")
    return [_observation(alert)]


def _observation(alert: Mapping[str, Any]) -> Observation:
    event_type = str(alert.get("eventType", ""))
    try:
        time = _time(alert.get("dateTime"))
    except ParseError:
        if event_type == "AccessControllerEvent":
            raise
        # a keep-alive or an alert the gateway does not use needs no time: refusing it would
        # only make the device send it again (and a refused heartBeat leave it "offline")
        time = None
    mac = normal_mac(str(alert.get("macAddress", ""))) if alert.get("macAddress") else None
    ip = device_text(alert["ipAddress"], 64) if alert.get("ipAddress") else None
    common: dict[str, Any] = {"time": time, "mac": mac, "source_ip": ip,
                              "detail": device_text(alert.get("eventDescription", ""),
                                                    FACT_TEXT)}
    if event_type.lower() == "heartbeat":
        return Observation("heartbeat", **common)
    if event_type != "AccessControllerEvent":
        if not event_type:
            raise ParseError("no eventType: not an EventNotificationAlert")
        return Observation("other", **{**common,
                                       "detail": f"eventType {device_text(event_type, 64)}"})
    event = alert.get("AccessControllerEvent")
    if not isinstance(event, dict):
        raise ParseError("eventType AccessControllerEvent without an AccessControllerEvent "
                         "object")
    major = _int(event, "majorEventType", required=True)
    minor = _int(event, "subEventType", required=True)
    assert major is not None and minor is not None
    door = _positive(event, "doorNo")
    reader = _positive(event, "cardReaderNo")
    serial = event.get("serialNo")
    reference = device_text(serial, 64) if serial not in (None, "") else ""
    code = f"{major}/0x{minor:02x}"
    # kept whole (escaped): the intake cuts a card number past its bound and says so
    credential = device_text(str(event.get("cardNo") or event.get("employeeNoString")
                                 or event.get("employeeNo") or "").strip(), FACT_TEXT)
    verify = device_text(event.get("currentVerifyMode", ""), 32)
    located = {**common, "door": door, "reader": reader, "reference": reference}
    if major == MAJOR_EVENT and _true(event.get("remoteCheck")) and credential:
        return Observation("credential", **located, credential=credential,
                           device_reason=f"{code} remote verification"
                           + (f" ({verify})" if verify else ""))
    if major == MAJOR_EVENT and (minor in GRANTED or minor in DENIED):
        granted = minor in GRANTED
        name = GRANTED.get(minor) or DENIED[minor]
        if not credential:
            return Observation("other", **{**located, "detail": f"{code} {name} without a "
                                                                "credential"})
        return Observation("credential", **located, credential=credential, granted=granted,
                           device_reason=f"{code} {name}" + (f" ({verify})" if verify else ""))
    if major == MAJOR_EVENT and minor in DOOR:
        state, name = DOOR[minor]
        return Observation("door", **{**located, "detail": name, "device_reason": code},
                           door_state=state)
    if major == MAJOR_ALARM and minor in TAMPER:
        active, at_reader, name = TAMPER[minor]
        return Observation("tamper", **{**located, "reader": reader if at_reader else None,
                                        "detail": name, "device_reason": code}, tamper=active)
    name = INFORMATIONAL.get((major, minor), "not mapped")
    return Observation("other", **{**located, "detail": f"{code} {name}"})


def _json(text: bytes, what: str) -> Any:
    """A JSON document of the device, bounded (the body was capped before: ``max_body``)."""
    try:
        return parse_json(text, what=what, max_bytes=len(text))
    except BoundaryError as exc:
        raise ParseError(str(exc)) from None


def _xml_to_dict(text: bytes) -> dict[str, Any]:
    try:
        root = SafeXml.fromstring(text)
    except DefusedXmlException as exc:
        raise ParseError(f"XML refused: {type(exc).__name__}") from None
    except SafeXml.ParseError as exc:
        raise ParseError(f"malformed XML: {exc}") from None
    return {_local(root.tag): _element(root, 1)}


def _element(element: Element, depth: int) -> Any:
    if depth > MAX_JSON_DEPTH:  # no ISAPI document nests more than a few levels
        raise ParseError(f"XML nests deeper than {MAX_JSON_DEPTH} levels")
    children = list(element)
    if not children:
        return (element.text or "").strip()
    result: dict[str, Any] = {}
    for child in children:
        result.setdefault(_local(child.tag), _element(child, depth + 1))
    return result


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _int(event: Mapping[str, Any], name: str, required: bool = False) -> int | None:
    value = event.get(name)
    if value in (None, ""):
        if required:
            raise ParseError(f"AccessControllerEvent without {name}")
        return None
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ParseError(f"{name} {device_text(value, 20)!r} is not a whole number")
    try:
        number = int(str(value), 0) if isinstance(value, str) else int(value)
    except (TypeError, ValueError, OverflowError):
        raise ParseError(f"{name} {device_text(value, 20)!r} is not a number") from None
    if not 0 <= number <= 0xFFFFFFFF:
        raise ParseError(f"{name} {device_text(number, 24)} is out of range (0-4294967295)")
    return number


def _positive(event: Mapping[str, Any], name: str) -> int | None:
    number = _int(event, name)
    return number if number else None  # 0 is "invalid" (not given) in the SDK's words


def _true(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _time(value: object) -> datetime | None:
    """The device's ``dateTime`` as it said it (the intake judges whether it is sane); one
    without a UTC offset is returned naive, for the receiver to place in the controller's zone;
    one that is no time at all (year 0, an offset of 25 hours) is a ``ParseError`` naming it."""
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ParseError(f"dateTime {device_text(value, 40)!r} is not a date and time") from None
    return parsed


# --- what the gateway sends ----------------------------------------------------------------------

def door_command(cmd: str) -> bytes:
    """The body of ``PUT /ISAPI/AccessControl/RemoteControl/door/<n>``."""
    return (f'<?xml version="1.0" encoding="UTF-8"?><RemoteControlDoor version="2.0" '
            f'xmlns="{XML_NS}"><cmd>{cmd}</cmd></RemoteControlDoor>').encode()


def remote_check(serial_no: str, granted: bool, info: str) -> bytes:
    """The body of ``PUT /ISAPI/AccessControl/remoteCheck?format=json``."""
    serial: int | str = int(serial_no) if serial_no.isdigit() else serial_no
    return json.dumps({"RemoteCheck": {"serialNo": serial,
                                       "checkResult": "success" if granted else "failed",
                                       "info": info[:32]}}).encode()


def response_status(body: bytes) -> tuple[bool, str]:
    """A device's ``ResponseStatus`` (XML or JSON): (statusCode is 1, statusString/subStatus)."""
    text = body.strip()
    try:
        if text[:1] == b"<":
            parsed: Any = _xml_to_dict(text).get("ResponseStatus", {})
        else:
            parsed = _json(text, "the answer") if text else {}
            parsed = parsed.get("ResponseStatus", parsed) if isinstance(parsed, dict) else {}
    except ParseError:
        return False, "the answer is not a ResponseStatus"
    if not isinstance(parsed, dict):
        return False, "the answer is not a ResponseStatus"
    code = device_text(parsed.get("statusCode", ""), 16)
    words = " ".join(device_text(parsed[k], 64) for k in ("statusString", "subStatusCode",
                                                          "errorMsg") if parsed.get(k))
    return code == "1", words or f"statusCode {code or 'missing'}"


def door_modes(body: bytes) -> list[str]:
    """``GET /ISAPI/AccessControl/AcsWorkStatus?format=json`` -> each door's mode (index 0 is
    door 1): normal, locked, free or sleep."""
    try:
        status = _json(body, "AcsWorkStatus").get("AcsWorkStatus", {})
        values = status.get("doorStatus", [])
    except (ParseError, AttributeError):
        raise ParseError("AcsWorkStatus is not JSON with doorStatus") from None
    if not isinstance(values, list):
        raise ParseError("AcsWorkStatus.doorStatus is not a list")
    return [DOOR_STATUS.get(v, f"unknown {v}") if isinstance(v, int)
            else f"unknown {device_text(v, 32)}" for v in values[:256]]


def status_answer(path: str, code: int = 1, text: str = "OK", sub: str = "ok",
                  as_json: bool = False) -> bytes:
    """An ISAPI ``ResponseStatus`` for a request to ``path`` (devices name the request's path
    in ``requestURL``; clients log it), XML or, for ``?format=json`` requests, JSON."""
    if as_json:
        return json.dumps({"requestURL": path, "statusCode": code, "statusString": text,
                           "subStatusCode": sub, "errorCode": 0 if code == 1 else code,
                           "errorMsg": sub}).encode()
    url = path.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (f'<?xml version="1.0" encoding="UTF-8"?><ResponseStatus version="2.0" '
            f'xmlns="{XML_NS}"><requestURL>{url}</requestURL><statusCode>{code}</statusCode>'
            f'<statusString>{text}</statusString><subStatusCode>{sub}</subStatusCode>'
            f'</ResponseStatus>').encode()


def ok_answer(path: str) -> bytes:
    """What the receiver answers an accepted push to ``path`` with."""
    return status_answer(path)
