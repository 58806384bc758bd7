"""Emergency drills: while one runs every event carries the drill flag; stopping it summarises it.

Primary and secondary schools drill monthly, kindergartens quarterly; what the centre needs back is
how the campus did: alarms raised, time to the first acknowledge, time until the last reset.
"""

from __future__ import annotations

from datetime import datetime

import uuid6

from gateway.alarms import AlarmError, AlarmStore
from gateway.bus import AlarmChanged
from gateway.kernel.events import (
    ALARM_ACKNOWLEDGED,
    ALARM_CLOSED,
    ALARM_RAISED,
    DrillSummary,
    utcnow,
)

KEY = "drill"


class Drills:
    def __init__(self, store: AlarmStore) -> None:
        self._store = store
        saved = store.get_value(KEY)
        self._current = DrillSummary.model_validate(saved) if saved else None
        self._acks: list[datetime] = []
        self._resets: list[datetime] = []
        self._open: set[str] = set()

    @property
    def active(self) -> bool:
        return self._current is not None

    @property
    def current(self) -> DrillSummary | None:
        return self._current

    def start(self, note: str, by: str) -> DrillSummary:
        if self._current is not None:
            raise AlarmError(f"drill {self._current.drill_id} is already running",
                             "drill_running")
        self._current = DrillSummary(drill_id=f"drill-{uuid6.uuid7()}", note=note,
                                     started_at=utcnow(), started_by=by)
        self._acks, self._resets, self._open = [], [], set()
        self._store.set_value(KEY, self._current.model_dump(mode="json"))
        return self._current

    def stop(self, by: str) -> DrillSummary:
        drill = self._current
        if drill is None:
            raise AlarmError("no drill is running", "no_drill")
        started = drill.started_at
        summary = drill.model_copy(update={
            "stopped_at": utcnow(),
            "stopped_by": by,
            "seconds_to_first_acknowledge": (
                (min(self._acks) - started).total_seconds() if self._acks else None),
            "seconds_to_last_reset": (
                (max(self._resets) - started).total_seconds() if self._resets else None),
            "alarms_still_open": len(self._open),
        })
        self._current = None
        self._store.set_value(KEY, None)
        return summary

    def observe(self, change: AlarmChanged) -> None:
        """Count what happened to the drill's alarms (called for every alarm change)."""
        kind, alarm = change.kind, change.alarm
        if self._current is None or not alarm.drill:
            return
        if kind is ALARM_RAISED:
            self._open.add(alarm.alarm_id)
            self._current = self._current.model_copy(
                update={"alarms_raised": self._current.alarms_raised + 1})
            self._store.set_value(KEY, self._current.model_dump(mode="json"))
        elif kind is ALARM_ACKNOWLEDGED and alarm.acknowledged_at:
            self._acks.append(alarm.acknowledged_at)
        elif kind is ALARM_CLOSED and alarm.closed_at:
            self._resets.append(alarm.closed_at)
            self._open.discard(alarm.alarm_id)
