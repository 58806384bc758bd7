"""ONVIF event notifications: what a message says, and what it means.

``notification_of`` turns one ``wsnt:NotificationMessage`` (as zeep hands it from PullMessages,
or as an lxml element when the camera sends a payload the schema does not know) into a plain
``Notification``. The parsers are a registry of pure functions keyed by the topic's path without
its namespace prefix (cameras bind the ONVIF topic namespace to ``tns1`` or to a prefix of their
own), each returning a ``Reading``: the normalised kind and, for a property, its state. A topic
with no parser is not dropped: the driver publishes it as kind ``other`` with its items.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.kernel.boundary import FACT_TEXT, device_text
from gateway.kernel.events import CameraEventKind

Items = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Notification:
    topic: str  # as the camera wrote it, e.g. tns1:RuleEngine/CellMotionDetector/Motion
    utc_time: datetime | None  # the camera's clock
    operation: str | None  # Initialized, Changed, Deleted; None for a non-property event
    source: Items
    data: Items

    @property
    def path(self) -> str:
        return topic_path(self.topic)

    @property
    def key(self) -> tuple[str, Items]:
        """One property instance: its topic and its source (a rule, an input, a video source)."""
        return self.path, self.source

    @property
    def point(self) -> str:
        """The alarm point of the message: the input, the rule or the video source it names."""
        source = dict(self.source)
        if "InputToken" in source:
            return source["InputToken"]
        if "Rule" in source:
            config = source.get("VideoSourceConfigurationToken")
            return f"{config}/{source['Rule']}" if config else source["Rule"]
        for name in ("Source", "VideoSourceToken", "VideoSourceConfigurationToken"):
            if name in source:
                return source[name]
        return "/".join(value for _, value in self.source) or "camera"


@dataclass(frozen=True, slots=True)
class Reading:
    kind: CameraEventKind
    active: bool | None  # None: an instant event (a line crossed), or a state it did not give


Parser = Callable[[Notification], Reading]
PARSERS: dict[str, Parser] = {}


def topic_path(topic: str) -> str:
    """``tns1:RuleEngine/LineDetector/Crossed`` -> ``RuleEngine/LineDetector/Crossed``."""
    text = topic.strip().strip("/")
    head, sep, tail = text.partition(":")
    return tail if sep and "/" not in head else text


def register(*paths: str) -> Callable[[Parser], Parser]:
    def add(parser: Parser) -> Parser:
        for path in paths:
            if path in PARSERS:
                raise ValueError(f"two parsers for {path}")
            PARSERS[path] = parser
        return parser
    return add


def parse(notification: Notification) -> Reading | None:
    """What the message means; None for a topic without a parser."""
    parser = PARSERS.get(notification.path)
    return parser(notification) if parser is not None else None


_TRUE = frozenset({"true", "1", "on", "yes", "active"})
_FALSE = frozenset({"false", "0", "off", "no", "inactive"})


def boolean(value: str | None) -> bool | None:
    if value is None:
        return None
    text = value.strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def state(notification: Notification, *names: str) -> bool | None:
    """The first of ``names`` among the Data items, or else the only boolean Data item."""
    data = dict(notification.data)
    for name in names:
        if name in data:
            return boolean(data[name])
    flags = [b for b in (boolean(v) for _, v in notification.data) if b is not None]
    return flags[0] if len(flags) == 1 else None


def _state_parser(kind: CameraEventKind, *names: str) -> Parser:
    def parser(notification: Notification) -> Reading:
        return Reading(kind, state(notification, *names))
    parser.__name__ = f"{kind}_state"
    return parser


_SERVICES = ("ImagingService", "AnalyticsService", "RecordingService")


def _per_service(base: str) -> list[str]:
    return [f"{base}/{service}" for service in _SERVICES]


register("VideoSource/MotionAlarm", "RuleEngine/MotionRegionDetector/Motion")(
    _state_parser("motion", "State"))
register("RuleEngine/CellMotionDetector/Motion")(_state_parser("motion", "IsMotion"))
register(*_per_service("VideoSource/GlobalSceneChange"))(_state_parser("tamper", "State"))
# TP-Link Tapo cameras put their tamper rule under the cell motion detector's topic
register("RuleEngine/TamperDetector/Tamper", "RuleEngine/CellMotionDetector/Tamper")(
    _state_parser("tamper", "IsTamper"))
register("RuleEngine/FieldDetector/ObjectsInside")(_state_parser("field", "IsInside"))
register("Device/Trigger/DigitalInput")(_state_parser("digital_input", "LogicalState",
                                                      "State"))
register(*_per_service("VideoSource/ImageTooDark"))(_state_parser("image_too_dark", "State"))
register(*_per_service("VideoSource/ImageTooBright"))(_state_parser("image_too_bright",
                                                                   "State"))
register(*_per_service("VideoSource/ImageTooBlurry"))(_state_parser("image_too_blurry",
                                                                   "State"))


@register("RuleEngine/LineDetector/Crossed")
def line_crossed(notification: Notification) -> Reading:
    return Reading("line_crossed", None)


# -- from zeep (or lxml) to a Notification ---------------------------------------------------------


def _local(tag: Any) -> str:
    text = str(tag)
    return text.rsplit("}", 1)[-1]


def _children(element: Any, name: str) -> Iterable[Any]:
    return (child for child in element if isinstance(child.tag, str)
            and _local(child.tag) == name)


# SimpleItems kept of one Source or Data (ONVIF's own have a handful). More than the intake
# keeps (``event_bounds.ITEMS``), so it is the intake that cuts them and says so.
ITEMS = 64


def _item(name: object, value: object) -> tuple[str, str]:
    # event text: escaped, not cut here (the intake cuts it and names the field in `truncated`)
    return device_text(name or "", FACT_TEXT), device_text(value or "", FACT_TEXT)


def _items(holder: Any) -> Items:
    """The SimpleItems of a Source or Data, as (Name, Value) pairs in the camera's order, each
    string escaped (``device_text``) and kept up to ``FACT_TEXT``."""
    if holder is None:
        return ()
    if hasattr(holder, "tag"):  # an lxml element
        return tuple(_item(item.get("Name"), item.get("Value"))
                     for item in list(_children(holder, "SimpleItem"))[:ITEMS])
    simple = getattr(holder, "SimpleItem", None) or []
    return tuple(_item(getattr(item, "Name", ""), getattr(item, "Value", ""))
                 for item in list(simple)[:ITEMS])


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return None


def notification_of(message: Any) -> Notification | None:
    """One NotificationMessage as zeep parsed it; None if it has no topic or no message."""
    topic_holder = getattr(message, "Topic", None)
    topic = getattr(topic_holder, "_value_1", topic_holder)
    if not topic or not isinstance(topic, str):
        return None
    topic = device_text(topic.strip(), FACT_TEXT)
    wrapper = getattr(message, "Message", None)
    inner = getattr(wrapper, "_value_1", wrapper)
    if inner is None:
        return None
    if hasattr(inner, "tag"):  # lxml: tt:Message the schema did not type
        sources = list(_children(inner, "Source"))
        datas = list(_children(inner, "Data"))
        operation = inner.get("PropertyOperation")
        return Notification(topic, _time(inner.get("UtcTime")),
                            device_text(operation, 16) if operation is not None else None,
                            _items(sources[0] if sources else None),
                            _items(datas[0] if datas else None))
    operation = getattr(inner, "PropertyOperation", None)
    return Notification(topic, _time(getattr(inner, "UtcTime", None)),
                        device_text(operation, 16) if operation is not None else None,
                        _items(getattr(inner, "Source", None)),
                        _items(getattr(inner, "Data", None)))
