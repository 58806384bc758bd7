"""The in-process bus: every fact and every alarm change, handed to whoever subscribed to its kind.

Listeners subscribe by message class (``Event``, ``AlarmChanged``) and are called synchronously,
in the order they subscribed, on the event loop. A listener that raises is logged with what it
was given and the others still get the message: one faulty consumer (a console, a metric) never
stops the publisher, the alarms or the linkage. Adding a consumer is one ``subscribe`` line in
the composition root; nothing that publishes changes.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from gateway.kernel.events import AlarmChange, AlarmSnapshot, Event, EventType

log = logging.getLogger(__name__)

M = TypeVar("M")


@dataclass(frozen=True)
class AlarmChanged:
    """An alarm was raised or changed state; ``kind`` is the alarm event type that says how."""

    kind: EventType
    alarm: AlarmSnapshot
    by: str | None = None
    report: str | None = None

    def event(self) -> Event:
        """The alarm event that tells the stream (and the event log) of this change."""
        return Event(self.kind, self.alarm.device_id,
                     AlarmChange(alarm=self.alarm, by=self.by, report=self.report),
                     self.alarm.severity, self.alarm.alarm_id)


@dataclass(frozen=True)
class Polled:
    """A driver polled its device: how long it took, and why it failed if it did."""

    device_id: str
    seconds: float
    error: str | None = None


class Bus:
    def __init__(self) -> None:
        self._listeners: dict[type, list[Callable[[Any], None]]] = defaultdict(list)

    def subscribe(self, kind: type[M], listener: Callable[[M], None]) -> None:
        self._listeners[kind].append(listener)

    def listens(self, kind: type) -> bool:
        return bool(self._listeners.get(kind))

    def publish(self, message: object) -> None:
        for listener in self._listeners.get(type(message), ()):
            try:
                listener(message)
            except Exception:
                log.exception("%s failed on a %s; the other listeners still got it",
                              getattr(listener, "__qualname__", listener),
                              type(message).__name__)
