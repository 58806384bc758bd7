"""Doors: a contact and a request-to-exit button make ``door_forced`` and ``door_held_open``.

A door that opens within ``grant_window`` of a grant at its gate, of its exit button, or while
its gate stands free, was opened rightly; otherwise it was **forced**. A door open longer than
``held_open_after`` is **held open**. Closing it again is ``door.secured`` (per condition), which
returns the alarm; the alarm closes the usual way (acknowledged, then normal). Both alarms feed
linkage (a snapshot, a siren) like any other.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from gateway.access.config import Door
from gateway.kernel.events import (
    ACCESS_GRANTED,
    DOOR_CLOSED,
    DOOR_EXIT_REQUEST,
    DOOR_FORCED,
    DOOR_HELD_OPEN,
    DOOR_OPENED,
    DOOR_SECURED,
    AccessDecisionFact,
    DoorFact,
    Event,
    Severity,
)


@dataclass
class _Open:
    device_id: str
    reader: str
    since: float
    forced: bool
    held: bool = False


class Doors:
    def __init__(self, doors: list[Door], publish: Callable[[object], None],
                 unit: Callable[[], AbstractContextManager[None]],
                 gate_mode: Callable[[str], tuple[str, str]]) -> None:
        self._doors = {d.id: d for d in doors}
        self._by_gate: dict[str, list[Door]] = {}
        for door in doors:
            self._by_gate.setdefault(door.gate, []).append(door)
        self._publish = publish
        self._unit = unit
        self._gate_mode = gate_mode
        self._allowed_until: dict[str, tuple[float, str]] = {}  # door -> (until, what allowed it)
        self._open: dict[str, _Open] = {}

    def on_event(self, event: Event) -> None:
        payload = event.payload
        if event.type is ACCESS_GRANTED and isinstance(payload, AccessDecisionFact):
            for door in self._by_gate.get(payload.gate, []):
                self._allow(door, f"grant to {payload.person_id or payload.credential}")
        elif isinstance(payload, DoorFact) and payload.door in self._doors:
            door = self._doors[payload.door]
            if event.type is DOOR_EXIT_REQUEST:
                self._allow(door, "exit request")
            elif event.type is DOOR_OPENED:
                self._opened(door, event.device_id, payload)
            elif event.type is DOOR_CLOSED:
                self._closed(door, event.device_id, payload)

    def _allow(self, door: Door, why: str) -> None:
        self._allowed_until[door.id] = (time.monotonic() + door.grant_window, why)

    def _opened(self, door: Door, device_id: str, fact: DoorFact) -> None:
        if door.id in self._open:
            return
        until, _why = self._allowed_until.pop(door.id, (0.0, ""))
        forced = time.monotonic() > until and self._gate_mode(door.gate)[0] != "free"
        self._open[door.id] = _Open(device_id, fact.reader, time.monotonic(), forced)
        if forced:
            self._emit(Event(DOOR_FORCED, device_id, self._fact(door, fact.reader),
                             Severity.MAJOR, door.id))

    def _closed(self, door: Door, device_id: str, fact: DoorFact) -> None:
        state = self._open.pop(door.id, None)
        if state is None:
            return
        seconds = round(time.monotonic() - state.since, 1)
        for active, ended in ((state.forced, "door_forced"), (state.held, "door_held_open")):
            if active:
                self._emit(Event(DOOR_SECURED, device_id, self._fact(
                    door, fact.reader, open_seconds=seconds, ended=ended), Severity.INFO,
                    door.id))

    def tick(self) -> None:
        now = time.monotonic()
        for door_id, state in self._open.items():
            door = self._doors[door_id]
            if not state.held and now - state.since > door.held_open_after:
                if self._gate_mode(door.gate)[0] == "free":
                    continue  # a gate standing open on purpose is not held open
                state.held = True
                self._emit(Event(DOOR_HELD_OPEN, state.device_id, self._fact(
                    door, state.reader, open_seconds=round(now - state.since, 1)),
                    Severity.MINOR, door.id))

    def _emit(self, event: Event) -> None:
        with self._unit():
            self._publish(event)

    @staticmethod
    def _fact(door: Door, reader: str, **extra: object) -> DoorFact:
        return DoorFact.model_validate({"door": door.id, "gate": door.gate, "reader": reader,
                                        **extra})
