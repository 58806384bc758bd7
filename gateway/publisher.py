"""Turns events and alarm states into outbox messages: the CloudEvents envelope lives here.

Envelope (CloudEvents 1.0, JSON structured mode)::

    specversion, id (UUIDv7: time-ordered, unique), source (/campus/<site>/gateway/<gw>/device/<d>),
    type (campus.<category>.<fact>), time (RFC 3339 UTC), subject (point or alarm), datacontenttype,
    site, gateway, device, severity, drill (extensions), seqno (per-gateway, gap-free, added by
    the outbox when the event is committed), data; where the intake had to, ``devicetime`` (the
    device's own time, when it was outside the sane window and ``time`` is the receipt time) and
    ``truncated`` (the payload fields cut to the event's bounds, comma-separated).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import uuid6

from gateway.bus import AlarmChanged
from gateway.kernel.events import (
    DEVICE_OFFLINE,
    DEVICE_ONLINE,
    AlarmChange,
    AlarmSnapshot,
    Availability,
    DrillSummary,
    Event,
)
from gateway.outbox import Outbox, Outgoing
from gateway.topics import Topics

CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json"


def source_of(site: str, gateway: str, device: str) -> str:
    return f"/campus/{site}/gateway/{gateway}/device/{device}"


def envelope(event: Event, *, site: str, gateway: str, drill: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "specversion": "1.0",
        "id": str(uuid6.uuid7()),
        "source": source_of(site, gateway, event.device_id),
        "type": event.type.name,
        "time": event.time.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "site": site,
        "gateway": gateway,
        "device": event.device_id,
        "severity": event.severity.value,
        "drill": drill,
        "data": event.payload.model_dump(mode="json"),
    }
    if event.subject:
        doc["subject"] = event.subject
    if event.device_time is not None:
        doc["devicetime"] = event.device_time.isoformat().replace("+00:00", "Z")
    if event.truncated:
        doc["truncated"] = ",".join(event.truncated)
    return doc


class EventPublisher:
    """Every event goes to ``event/<category>/<device>``; some also update a retained topic."""

    def __init__(self, outbox: Outbox, topics: Topics, drill_active: Callable[[], bool]) -> None:
        self._outbox = outbox
        self._topics = topics
        self._drill_active = drill_active

    def publish(self, event: Event) -> None:
        t = self._topics
        drill = (
            self._drill_active()
            or isinstance(event.payload, DrillSummary)
            or (isinstance(event.payload, AlarmChange) and event.payload.alarm.drill)
        )
        body = envelope(event, site=t.site, gateway=t.gateway, drill=drill)
        self._outbox.put(
            Outgoing(
                topic=t.event(event.type.category, event.device_id),
                body=body,
                device=event.device_id,
                kind=event.type.name,
                life_safety=event.life_safety,
                sequenced=True,
                content_type=CLOUDEVENTS_CONTENT_TYPE,
            )
        )
        if event.type in (DEVICE_ONLINE, DEVICE_OFFLINE) and isinstance(event.payload,
                                                                         Availability):
            self._outbox.put(
                Outgoing(
                    topic=t.availability(event.device_id),
                    body={
                        "device": event.device_id,
                        "online": event.payload.online,
                        "reason": event.payload.reason,
                        "since": body["time"],
                    },
                    device=event.device_id,
                    kind="availability",
                    retain=True,
                )
            )

    def alarm_changed(self, change: AlarmChanged) -> None:
        """The alarm event, then the retained current state of the alarm."""
        self.publish(change.event())
        self.alarm_state(change.alarm)

    def alarm_state(self, alarm: AlarmSnapshot) -> None:
        """Retained current state of an open alarm; an empty retained message once it closes."""
        body = None if alarm.closed_at else json.loads(alarm.model_dump_json())
        self._outbox.put(
            Outgoing(
                topic=self._topics.alarm(alarm.alarm_id),
                body=body,
                device=alarm.device_id,
                kind="alarm-state",
                retain=True,
                life_safety=alarm.severity.value == "critical" and alarm.closed_at is None,
            )
        )
