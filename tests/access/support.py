"""The access control on a real state database and outbox, as the gateway builds it, with the
events it publishes recorded (no devices: no gate is served unless a test says so)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gateway.access.config import Access
from gateway.access.control import AccessControl
from gateway.access.credentials import CredentialRecord, CredentialStore, PersonRecord, Snapshot
from gateway.access.doors import Doors
from gateway.access.ledger import Ledger
from gateway.access.modes import GateModes
from gateway.access.schedules import Schedules
from gateway.alarms import AlarmService, AlarmStore
from gateway.bus import AlarmChanged, Bus
from gateway.config import Alarms
from gateway.config import Outbox as Limits
from gateway.kernel.access import AccessDecision, AccessRequest
from gateway.kernel.events import Event
from gateway.outbox import Outbox, state_database

# A Monday in term, 10:00 in Shanghai (02:00 UTC): school hours.
MONDAY_10 = datetime(2026, 9, 7, 2, 0, tzinfo=UTC)

SITE_ACCESS: dict[str, Any] = {
    "gates": [
        {"id": "main-gate", "area": "campus", "egress": True},
        {"id": "staff-door", "area": "campus"},
        {"id": "lab", "area": "lab", "perimeter": False, "pin": True},
        {"id": "dorm", "area": "dorm", "perimeter": False},
    ],
    "areas": [{"id": "campus", "anti_passback": "soft"}, {"id": "dorm", "anti_passback": "hard"}],
    "doors": [{"id": "staff-door", "gate": "staff-door", "held_open_after": "1s",
               "grant_window": "2s"}],
    "schedules": [
        {"id": "school-day", "in_term": True,
         "windows": [{"days": ["mon", "tue", "wed", "thu", "fri"], "time": "07:00-17:00"}]},
        {"id": "staff-hours", "windows": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat"],
                                           "time": "06:00-22:00"}]},
    ],
    "calendar": {"terms": [{"start": "2026-09-01", "end": "2027-01-20"}],
                 "holidays": ["2026-10-01"]},
    "category_schedules": {"student": "school-day", "staff": "staff-hours"},
    "students": {"school_hours": "school-day", "late_after": "08:00"},
    "visitors": {"overstay_grace": "10m", "default_gates": ["main-gate"]},
}


def person(pid: str, category: str = "student", **extra: Any) -> PersonRecord:
    return PersonRecord.model_validate({"id": pid, "category": category, **extra})


def card(code: str, pid: str, **extra: Any) -> CredentialRecord:
    return CredentialRecord.model_validate({"code": code, "person_id": pid, **extra})


class Rig:
    def __init__(self, state_dir: Path, access: Mapping[str, Any] | None = None,
                 serving: Mapping[str, list[str]] | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.access = Access.model_validate(access or SITE_ACCESS)
        database = state_database(state_dir)
        self.outbox = Outbox(database, Limits())
        self.bus = Bus()
        self.events: list[Event] = []
        self.alarm_changes: list[AlarmChanged] = []
        self.store = AlarmStore(database, self.outbox)
        self.alarms = AlarmService(self.store, Alarms(), self.bus.publish, lambda: False)
        schedules = Schedules(self.access, "Asia/Shanghai")
        self.actions: list[tuple[str, str, dict[str, Any]]] = []
        self.modes = GateModes(self.access, schedules, self.store, serving or {}, self._execute,
                               self.bus.publish, self.outbox.unit, "gw1")
        self.credentials = CredentialStore(state_dir)
        self.control = AccessControl(self.access, schedules, self.credentials,
                                     Ledger.load(database, self.outbox), self.modes,
                                     self.bus.publish, self.outbox.unit, self.outbox.durable,
                                     self._execute, serving or {}, "gw1",
                                     **({"clock": clock} if clock else {}))
        self.doors = Doors(self.access.doors, self.bus.publish, self.outbox.unit,
                           self.modes.mode)
        self.bus.subscribe(Event, self.events.append)
        self.bus.subscribe(Event, self.alarms.on_event)
        self.bus.subscribe(Event, self.doors.on_event)
        self.bus.subscribe(AlarmChanged, self.alarm_changes.append)
        self.bus.subscribe(AlarmChanged, self.modes.alarm_changed)
        self.device_answer: dict[str, Any] = {"confirmed": True}

    async def _execute(self, device: str, action: str, args: Mapping[str, Any]) -> dict[str, Any]:
        """The devices' side of ``gate_mode`` / ``open``: recorded, answered as configured."""
        self.actions.append((device, action, dict(args)))
        return {"gate": args.get("gate"), "mode": args.get("mode"), **self.device_answer}

    async def load(self, persons: list[PersonRecord], cards: list[CredentialRecord],
                   version: int = 1) -> None:
        await self.credentials.snapshot(Snapshot(version=version, persons=persons,
                                                 credentials=cards))

    async def present(self, code: str, gate: str = "main-gate", direction: str = "in",
                      at: datetime = MONDAY_10, pin: str | None = None,
                      device: bool | None = None) -> AccessDecision:
        return await self.control.decide(AccessRequest(
            device_id="readers", reader=f"{gate}-{direction}", gate=gate,
            direction=direction,  # type: ignore[arg-type]
            credential=code, pin=pin, decided_by_device=device, time=at))

    def of(self, suffix: str) -> list[Event]:
        return [e for e in self.events if e.type.name.endswith(suffix)]

    async def command(self, name: str, args: dict[str, Any], by: str = "guard1") -> Any:
        return await self.control.handlers()[name](args, by)


@contextlib.asynccontextmanager
async def rig(state_dir: Path, **kwargs: Any) -> AsyncIterator[Rig]:
    r = Rig(state_dir, **kwargs)
    r.outbox.start()
    try:
        yield r
    finally:
        await r.control.wait_idle()
        await asyncio.to_thread(r.outbox.close, 1.0)
        r.credentials.close()


def later(moment: datetime, **delta: float) -> datetime:
    return moment + timedelta(**delta)
