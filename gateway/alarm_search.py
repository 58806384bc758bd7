"""Searching the alarms the gateway still holds (open, follow-up and history) for the console's
alarm history: by the time raised, zone, condition and the operator who acted on them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from gateway.kernel.events import AlarmSnapshot


@dataclass(frozen=True)
class AlarmQuery:
    since: datetime | None = None
    until: datetime | None = None
    zone: str = ""
    condition: str = ""
    operator: str = ""

    def matches(self, alarm: AlarmSnapshot) -> bool:
        return ((self.since is None or alarm.raised_at >= self.since)
                and (self.until is None or alarm.raised_at <= self.until)
                and (not self.zone or alarm.zone == self.zone)
                and (not self.condition or alarm.condition == self.condition)
                and (not self.operator or self.operator in operators(alarm)))


def operators(alarm: AlarmSnapshot) -> set[str]:
    """Who acted on an alarm: acknowledged it, recorded the police call, closed it."""
    return {name for name in (alarm.acknowledged_by, alarm.police_called_by, alarm.closed_by)
            if name}


def search(alarms: Iterable[AlarmSnapshot], query: AlarmQuery, limit: int) -> list[AlarmSnapshot]:
    """The first ``limit`` alarms that match, in the order given (newest first, as held)."""
    found = []
    for alarm in alarms:
        if query.matches(alarm):
            found.append(alarm)
            if len(found) >= limit:
                break
    return found
