"""Where observed facts enter the gateway: the ``DeviceSink`` every driver gets.

Each fact is published on the bus (the publisher, the alarms and the sirens listen there) inside
one outbox ``unit``: the fact, the alarm changes it causes and the alarm store's writes are
committed in one transaction. Repeated availability reports are suppressed, so availability
topics never flap.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Set as AbstractSet
from contextlib import AbstractContextManager

from gateway.bus import Bus
from gateway.events import DEVICE_OFFLINE, DEVICE_ONLINE, Availability, Event, Severity


class Intake:
    def __init__(self, bus: Bus, active_conditions: Callable[[str], AbstractSet[str]],
                 unit: Callable[[], AbstractContextManager[None]]) -> None:
        self._bus = bus
        self._active_conditions = active_conditions
        self._unit = unit
        self.online: dict[str, bool] = {}

    def emit(self, event: Event) -> None:
        with self._unit():
            self._bus.publish(event)

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

    def active_conditions(self, device_id: str) -> AbstractSet[str]:
        return self._active_conditions(device_id)
