"""Golden tests: notification messages as cameras send them (tests/captures/onvif/, each
file's provenance in tests/captures/SOURCES.md), through zeep's own PullMessages reply
parsing, to what the driver publishes."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from onvif.client import _WSDL_PATH, ONVIFService
from onvif.settings import DEFAULT_SETTINGS
from onvif.transport import ASYNC_TRANSPORT
from zeep.loader import parse_xml

from drivers.onvif.parsers import PARSERS, Notification, notification_of, parse, topic_path

CAPTURES = Path(__file__).parents[1] / "captures" / "onvif"
ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?><env:Envelope '
    'xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:tev="http://www.onvif.org/ver10/events/wsdl" '
    'xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:tt="http://www.onvif.org/ver10/schema" '
    'xmlns:tns1="http://www.onvif.org/ver10/topics" '
    'xmlns:tnsaxis="http://www.axis.com/2009/event/topics"><env:Body><tev:PullMessagesResponse>'
    "<tev:CurrentTime>2024-03-05T10:20:00Z</tev:CurrentTime>"
    "<tev:TerminationTime>2024-03-05T10:30:00Z</tev:TerminationTime>{messages}"
    "</tev:PullMessagesResponse></env:Body></env:Envelope>")


def pulled(*names: str) -> list[Any]:
    """The NotificationMessages of a PullMessages answer carrying these captures, as zeep
    parses them for the driver (the events WSDL of onvif-zeep-async, offline)."""
    xml = ENVELOPE.format(messages="".join((CAPTURES / f"{n}.xml").read_text() for n in names))

    async def reply() -> Any:
        service = ONVIFService("http://127.0.0.1:9/pullpoint", "u", "p",
                               os.path.join(_WSDL_PATH, "events.wsdl"), no_cache=True,
                               binding_name="{http://www.onvif.org/ver10/events/wsdl}"
                                            "PullPointSubscriptionBinding")
        await service.setup()
        try:
            operation = service.document.bindings[service.binding_name].get("PullMessages")
            return operation.process_reply(parse_xml(xml.encode(), ASYNC_TRANSPORT,
                                                     settings=DEFAULT_SETTINGS))
        finally:
            await service.close()

    return list(asyncio.run(reply()).NotificationMessage)


def one(name: str) -> Notification:
    notification = notification_of(pulled(name)[0])
    assert notification is not None
    return notification


GOLDEN = [
    # capture, kind, active, point, operation
    ("hikvision-cell-motion", "motion", True, "VideoSourceToken/MyMotionDetectorRule", "Changed"),
    ("axis-motion-alarm", "motion", True, "0", "Changed"),
    ("hikvision-tamper", "tamper", True, "VideoSourceToken/MyTamperDetectorRule", "Changed"),
    ("scene-change", "tamper", True, "VideoSource_1", "Changed"),
    ("tapo-tamper", "tamper", True, "vsconf/MyTamperDetectorRule", "Changed"),
    ("hikvision-field", "field", True, "VideoSourceToken/MyFieldDetector1", "Changed"),
    ("hikvision-line", "line_crossed", None, "VideoSourceToken/MyLineDetector1", None),
    ("dahua-digital-input", "digital_input", False, "1", "Initialized"),
    ("too-dark", "image_too_dark", True, "VideoSource_1", "Changed"),
    ("too-bright", "image_too_bright", True, "VideoSource_1", "Changed"),
    ("too-blurry", "image_too_blurry", False, "VideoSource_1", "Changed"),
]


@pytest.mark.parametrize(("capture", "kind", "active", "point", "operation"), GOLDEN)
def test_each_family_is_normalised(capture: str, kind: str, active: bool | None, point: str,
                                   operation: str | None) -> None:
    notification = one(capture)
    reading = parse(notification)
    assert reading is not None
    assert (reading.kind, reading.active) == (kind, active)
    assert notification.point == point
    assert notification.operation == operation


def test_items_time_and_topic_are_kept_as_sent() -> None:
    notification = one("hikvision-cell-motion")
    assert notification.topic == "tns1:RuleEngine/CellMotionDetector/Motion"
    assert notification.utc_time == datetime(2024, 3, 5, 10, 15, 2, 250000, tzinfo=UTC)
    assert notification.source == (("VideoSourceConfigurationToken", "VideoSourceToken"),
                                   ("VideoAnalyticsConfigurationToken", "VideoAnalyticsToken"),
                                   ("Rule", "MyMotionDetectorRule"))
    assert notification.data == (("IsMotion", "true"),)
    assert one("hikvision-line").data == (("ObjectId", "15"),)


def test_a_vendor_topic_has_no_parser_and_keeps_its_items() -> None:
    notification = one("axis-object-analytics")
    assert parse(notification) is None
    assert notification.path == "CameraApplicationPlatform/ObjectAnalytics/Device1Scenario1"
    assert dict(notification.data) == {"active": "1", "reason": "crossed"}


def test_one_answer_with_many_messages_keeps_their_order() -> None:
    names = [g[0] for g in GOLDEN]
    kinds = [r.kind for r in (parse(n) for n in (notification_of(m) for m in pulled(*names))
                              if n is not None) if r is not None]
    assert kinds == [g[1] for g in GOLDEN]


def test_topic_paths_ignore_the_prefix_the_camera_binds() -> None:
    assert topic_path("tns1:RuleEngine/LineDetector/Crossed") == "RuleEngine/LineDetector/Crossed"
    assert topic_path(" ns0:VideoSource/MotionAlarm ") == "VideoSource/MotionAlarm"
    assert topic_path("VideoSource/MotionAlarm") == "VideoSource/MotionAlarm"
    assert "VideoSource/GlobalSceneChange/AnalyticsService" in PARSERS


def test_a_message_the_schema_does_not_type_is_read_from_its_xml() -> None:
    element = etree.fromstring(
        '<tt:Message xmlns:tt="http://www.onvif.org/ver10/schema" UtcTime="2024-03-05T10:15:02Z"'
        ' PropertyOperation="Changed"><tt:Source><tt:SimpleItem Name="InputToken" Value="IN2"/>'
        '</tt:Source><tt:Data><tt:SimpleItem Name="LogicalState" Value="true"/></tt:Data>'
        "</tt:Message>")

    class Holder:
        def __init__(self, value: Any) -> None:
            self._value_1 = value

    class Raw:
        Topic = Holder("tns1:Device/Trigger/DigitalInput")
        Message = Holder(element)

    notification = notification_of(Raw())
    assert notification is not None
    assert notification.point == "IN2" and notification.operation == "Changed"
    reading = parse(notification)
    assert reading is not None and (reading.kind, reading.active) == ("digital_input", True)


def test_a_state_that_is_not_a_boolean_is_no_state() -> None:
    notification = Notification("tns1:VideoSource/MotionAlarm", None, "Changed",
                                (("Source", "1"),), (("State", "maybe"),))
    reading = parse(notification)
    assert reading is not None and reading.active is None
