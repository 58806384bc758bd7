"""Where observed facts enter the gateway: drivers hand events here, alarms report changes here.

``Intake`` is the ``DeviceSink`` every driver gets: it publishes each fact, suppresses repeated
availability reports (no flapping topics), and lets the alarm service react. ``AlarmFanout``
publishes each alarm change as an event plus the retained alarm state, and tells the drill
bookkeeping, the sirens and the linkage rules.
"""

from __future__ import annotations

from gateway.alarms import AlarmService
from gateway.drills import Drills
from gateway.events import (
    ALARM_RAISED,
    DEVICE_OFFLINE,
    DEVICE_ONLINE,
    AlarmChange,
    AlarmSnapshot,
    Availability,
    Event,
    EventType,
    Severity,
)
from gateway.linkage import Linkage
from gateway.publisher import EventPublisher
from gateway.sirens import SirenLinkage


class Intake:
    def __init__(self, publisher: EventPublisher, sirens: SirenLinkage) -> None:
        self._publisher = publisher
        self._sirens = sirens
        self.alarms: AlarmService | None = None
        self.online: dict[str, bool] = {}

    def emit(self, event: Event) -> None:
        self._publisher.publish(event)
        if self.alarms is not None:
            self.alarms.on_event(event)

    def availability(self, device_id: str, online: bool, reason: str) -> None:
        if self.online.get(device_id) == online:
            return
        self.online[device_id] = online
        self.emit(
            Event(
                DEVICE_ONLINE if online else DEVICE_OFFLINE,
                device_id,
                Availability(online=online, reason=reason),
                Severity.INFO if online else Severity.MAJOR,
            )
        )
        if online:
            self._sirens.device_online(device_id)

    def active_conditions(self, device_id: str) -> set[str]:
        return self.alarms.active_conditions(device_id) if self.alarms else set()


class AlarmFanout:
    def __init__(self, publisher: EventPublisher, drills: Drills, sirens: SirenLinkage,
                 linkage: Linkage) -> None:
        self._publisher = publisher
        self._drills = drills
        self._sirens = sirens
        self._linkage = linkage

    def __call__(self, kind: EventType, alarm: AlarmSnapshot, by: str | None,
                 report: str | None) -> None:
        self._publisher.publish(
            Event(kind, alarm.device_id, AlarmChange(alarm=alarm, by=by, report=report),
                  alarm.severity, alarm.alarm_id)
        )
        self._publisher.alarm_state(alarm)
        self._drills.observe(kind.name, alarm)
        self._sirens.alarm_changed(alarm)
        if kind is ALARM_RAISED:
            self._linkage.alarm_raised(alarm)
