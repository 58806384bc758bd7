"""``notify-raw``: a captured NotificationMessage goes out as it is, within its bounds; anything
else is refused with the reason, and the camera goes on."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from simulators.onvif.actions import RawArgs
from simulators.onvif.events import RAW_LIMIT, RawMessage, RawMessageError
from simulators.onvif.soap import Answer, add
from simulators.onvif.xmltree import etree

CAPTURES = Path(__file__).parents[1] / "captures" / "onvif"


def _answered(message: RawMessage) -> etree._Element:
    """The message as it comes out of a PullMessages answer, parsed again by a client."""
    answer = Answer()
    message.to_xml(add(answer.body, "tev:PullMessagesResponse"), None)
    root = etree.fromstring(etree.tostring(answer.envelope))
    return next(e for e in root.iter() if isinstance(e.tag, str)
                and etree.QName(e).localname == "NotificationMessage")


@pytest.mark.parametrize("capture", ["axis-object-analytics.xml", "axis-pir-change.xml"])
def test_a_capture_keeps_its_topic_prefix_in_scope(capture: str) -> None:
    """With its own declarations or without: the topic's text names a prefix (tnsaxis) that no
    element uses, so it must still be declared where the client reads the topic."""
    sent = _answered(RawMessage.parse((CAPTURES / capture).read_text()))
    topic = next(e for e in sent.iter() if isinstance(e.tag, str)
                 and etree.QName(e).localname == "Topic")
    prefix = (topic.text or "").split(":")[0]
    assert topic.nsmap[prefix].startswith("http://www.")


@pytest.mark.parametrize(("xml", "reason"), [
    ("<wsnt:NotificationMessage>", "not well-formed"),
    ("<tt:Message/>", "not one wsnt:NotificationMessage"),
    ("<wsnt:NotificationMessage/><wsnt:NotificationMessage/>", "not one"),
    ('<?xml version="1.0"', "not one"),
    ('<!DOCTYPE x [<!ENTITY e "boom">]><wsnt:NotificationMessage>&e;'
     "</wsnt:NotificationMessage>", "not well-formed"),
])
def test_what_is_not_one_notification_message_is_refused_naming_why(xml: str,
                                                                     reason: str) -> None:
    with pytest.raises(RawMessageError, match=reason):
        RawMessage.parse(xml)


def test_a_message_over_the_bound_is_refused_before_it_is_parsed() -> None:
    big = "<wsnt:NotificationMessage>" + "x" * RAW_LIMIT + "</wsnt:NotificationMessage>"
    with pytest.raises(ValidationError, match="at most"):
        RawArgs.model_validate({"xml": big})
    with pytest.raises(RawMessageError, match=f"at most {RAW_LIMIT}"):
        RawMessage.parse(big)
