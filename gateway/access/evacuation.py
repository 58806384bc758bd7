"""The evacuation roll call: who the gates say is on campus, ticked off at the assembly point.

A roll call is opened from a fire alarm (or, during a drill, as an evacuation drill); the
guards tick people off as they reach the assembly point, and untick a mistake. Every start,
tick and end is a command, so each is authorised and audited with the roll call's id; the open
roll call is kept in the state database and survives a restart. Who is on campus keeps coming
from the gates while the roll call is open: someone who leaves through a gate drops off it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import uuid6
from pydantic import BaseModel

from gateway.alarms import AlarmError, AlarmService, AlarmStore
from gateway.commands import CommandError, Handler, text_arg
from gateway.kernel.events import utcnow

KEY = "evacuation"
TICKS_HELD = 20_000  # far beyond any campus's roll; keeps one roll call's record bounded
FIRE = frozenset({"fire", "pre_alarm"})


class Tick(BaseModel):
    by: str
    at: datetime


class Evacuation(BaseModel):
    evacuation_id: str
    started_at: datetime
    started_by: str
    alarm_id: str | None = None
    drill: bool = False
    ticked: dict[str, Tick] = {}


class Evacuations:
    def __init__(self, store: AlarmStore, alarms: AlarmService,
                 drill_active: Callable[[], bool]) -> None:
        self._store = store
        self._alarms = alarms
        self._drill_active = drill_active
        saved = store.get_value(KEY)
        self.current = Evacuation.model_validate(saved) if saved else None

    def handlers(self) -> dict[str, Handler]:
        """The roll call's commands (roles and audit in ``gateway.command_table``)."""
        return {"evacuation.start": self._start, "evacuation.tick": self._tick,
                "evacuation.end": self._end}

    def start(self, alarm_id: str | None, by: str) -> Evacuation:
        if self.current is not None:
            return self.current  # a second guard opening it from another alarm joins it
        drill = self._drill_active()
        if alarm_id is not None:
            alarm = self._alarms.find(alarm_id)
            if alarm is None or alarm.condition not in FIRE:
                raise AlarmError(f"alarm {alarm_id} is not a fire alarm the gateway holds: a "
                                 "roll call opens from a fire alarm or during a drill",
                                 "no_fire_alarm")
            drill = alarm.drill
        elif not drill:
            raise AlarmError("no fire alarm named and no drill running: a roll call opens from "
                             "a fire alarm or during a drill", "no_fire_alarm")
        self.current = Evacuation(evacuation_id=f"evac-{uuid6.uuid7()}", started_at=utcnow(),
                                  started_by=by, alarm_id=alarm_id, drill=drill)
        self._save()
        return self.current

    def tick(self, evacuation_id: str, person_id: str, present: bool, by: str) -> Evacuation:
        current = self._open(evacuation_id)
        ticked = dict(current.ticked)
        if present:
            if person_id not in ticked and len(ticked) >= TICKS_HELD:
                raise AlarmError(f"roll call {evacuation_id} already has {TICKS_HELD} people "
                                 "ticked off", "roll_call_full")
            ticked.setdefault(person_id, Tick(by=by, at=utcnow()))
        else:
            ticked.pop(person_id, None)
        self.current = current.model_copy(update={"ticked": ticked})
        self._save()
        return self.current

    def end(self, evacuation_id: str) -> Evacuation:
        ended = self._open(evacuation_id)
        self.current = None
        self._store.set_value(KEY, None)
        return ended

    def _open(self, evacuation_id: str) -> Evacuation:
        if self.current is None or self.current.evacuation_id != evacuation_id:
            raise AlarmError(f"roll call {evacuation_id} is not the open one (it has ended, or "
                             "another was started): reload the page", "roll_call_not_open")
        return self.current

    def _save(self) -> None:
        assert self.current is not None
        self._store.set_value(KEY, self.current.model_dump(mode="json"))

    async def _start(self, args: dict[str, Any], by: str) -> Any:
        alarm_id = args.get("alarm_id")
        if alarm_id is not None and not isinstance(alarm_id, str):
            raise CommandError("bad_request", "alarm_id must be a string")
        return self.start(alarm_id or None, by).model_dump(mode="json")

    async def _tick(self, args: dict[str, Any], by: str) -> Any:
        present = args.get("present", True)
        if not isinstance(present, bool):
            raise CommandError("bad_request", "present must be true or false")
        person = text_arg(args, "person_id")
        if len(person) > 64:
            raise CommandError("bad_request", "person_id is longer than 64 characters")
        return self.tick(text_arg(args, "evacuation_id"), person, present,
                         by).model_dump(mode="json")

    async def _end(self, args: dict[str, Any], by: str) -> Any:
        return self.end(text_arg(args, "evacuation_id")).model_dump(mode="json")
