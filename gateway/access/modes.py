"""Gate modes: normal, locked (lockdown), free (free-passage schedules, fire release).

What wins, strongest first:

1. **fire release**: while a fire alarm is open (until it is reset), egress gates stand free,
   lockdown or not (NFPA 101 / GB 50016: a lockdown must never keep people in during a fire;
   the fire system's own release is the primary one, this is the secondary, and it reports);
2. **lockdown**: every gate locked (a supervisor's command, or a linkage rule on a panic alarm);
3. **free passage**: the gate's schedules (arrival, dismissal);
4. normal.

Each change of a gate's mode is carried out on every device that serves the gate (``gate_mode``
action) and published with what each device confirmed. A device that did not confirm (offline,
refused) is tried again every ``RETRY`` seconds until it does, so a gate comes back in the right
mode when its controller does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from gateway.access.config import Access, Gate
from gateway.access.schedules import Schedules
from gateway.alarms import AlarmStore
from gateway.bus import AlarmChanged
from gateway.kernel.events import (
    ALARM_CLOSED,
    GATE_MODE,
    AlarmSnapshot,
    Event,
    GateModeChange,
    Severity,
    utcnow,
)
from gateway.kernel.ports import ActionError
from gateway.reactions import Reactions

log = logging.getLogger(__name__)

RETRY = 10.0
STARTUP_GRACE = 3.0
ACTION_TIMEOUT = 5.0
Execute = Callable[[str, str, Mapping[str, Any]], Awaitable[dict[str, Any]]]


def serving(devices: list[Any]) -> dict[str, list[str]]:
    """Gate -> the devices (readers' buses, controllers) that serve it, from the site file."""
    out: dict[str, list[str]] = {}
    for device in devices:
        for gate in sorted(getattr(device, "gates", set)()):
            out.setdefault(gate, []).append(device.id)
    return out


class GateModes:
    def __init__(self, access: Access, schedules: Schedules, store: AlarmStore,
                 serving: Mapping[str, list[str]], execute: Execute,
                 publish: Callable[[object], None],
                 unit: Callable[[], AbstractContextManager[None]], gateway_id: str) -> None:
        self._gates = {g.id: g for g in access.gates}
        self._schedules = schedules
        self._store = store
        self._serving = serving  # gate -> devices that serve it
        self._execute = execute
        self._publish = publish
        self._unit = unit
        self._gateway = gateway_id
        self._fires: dict[str, str] = {}  # open fire alarm id -> zone
        self._applied: dict[str, tuple[str, str]] = {}  # gate -> (mode, cause) last carried out
        self._unconfirmed: dict[str, float] = {}  # gate -> when to try again
        self.reactions = Reactions("access")
        self.retry_after = RETRY
        self._started = False

    # -- what the mode is ----------------------------------------------------------------

    @property
    def lockdown(self) -> dict[str, Any] | None:
        value = self._store.get_value("lockdown")
        return value if isinstance(value, dict) else None

    @property
    def fire_release(self) -> bool:
        return bool(self._fires)

    def mode(self, gate_id: str, now: datetime | None = None) -> tuple[str, str]:
        """(mode, cause) of a gate now."""
        gate = self._gates.get(gate_id)
        if gate is None:
            return "normal", "unknown gate"
        return self._mode(gate, now or utcnow())

    def _mode(self, gate: Gate, now: datetime) -> tuple[str, str]:
        if self._fires and gate.egress:
            return "free", "fire_release"
        if self.lockdown is not None:
            return "locked", "lockdown"
        for schedule in gate.free_passage:
            if self._schedules.allows(schedule, now):
                return "free", f"free_passage {schedule}"
        return "normal", "normal"

    def states(self) -> list[dict[str, Any]]:
        now = utcnow()
        return [{"gate": g.id, "name": g.name, "mode": self._mode(g, now)[0],
                 "cause": self._mode(g, now)[1], "egress": g.egress,
                 "devices": self._serving.get(g.id, []),
                 "confirmed": g.id not in self._unconfirmed}
                for g in self._gates.values()]

    # -- what changes it -----------------------------------------------------------------

    def start(self, open_alarms: list[AlarmSnapshot], grace: float = STARTUP_GRACE) -> None:
        """At start: the fire alarms still open, then (once the drivers have had ``grace``
        seconds to reach their devices) every gate set to its mode and announced."""
        for alarm in open_alarms:
            if alarm.condition == "fire":
                self._fires[alarm.alarm_id] = alarm.zone
        if grace <= 0:
            self._begin()
        else:
            asyncio.get_running_loop().call_later(grace, self._begin)

    def _begin(self) -> None:
        self._started = True
        self.refresh(force=True)

    def start_lockdown(self, by: str, note: str = "") -> dict[str, Any]:
        if self.lockdown is None:
            with self._store.unit():
                self._store.set_value("lockdown", {"by": by, "note": note,
                                                   "since": utcnow().isoformat()})
            log.warning("LOCKDOWN started by %s: %s", by, note)
        self.refresh(by=by)
        return {"lockdown": self.lockdown, "gates": self.states()}

    def stop_lockdown(self, by: str) -> dict[str, Any]:
        if self.lockdown is not None:
            with self._store.unit():
                self._store.set_value("lockdown", None)
            log.warning("lockdown ended by %s", by)
        self.refresh(by=by)
        return {"lockdown": None, "gates": self.states()}

    def alarm_changed(self, change: AlarmChanged) -> None:
        alarm = change.alarm
        if alarm.condition != "fire":  # in a drill too: releasing the exits is the safe side
            return
        if change.kind is ALARM_CLOSED:
            self._fires.pop(alarm.alarm_id, None)
        elif alarm.active:
            self._fires[alarm.alarm_id] = alarm.zone
        self.refresh(by=f"alarm {alarm.alarm_id}")

    def tick(self) -> None:
        """Once a second or so: schedules that began or ended, devices still to confirm."""
        self.refresh()

    def refresh(self, by: str = "", force: bool = False) -> None:
        if not self._started:
            return  # the first refresh, after the start's grace, sets every gate
        now = utcnow()
        clock = time.monotonic()
        for gate in self._gates.values():
            wanted = self._mode(gate, now)
            retry = self._unconfirmed.get(gate.id)
            if force or self._applied.get(gate.id) != wanted or (retry is not None
                                                                  and retry <= clock):
                first = self._applied.get(gate.id) != wanted
                self._applied[gate.id] = wanted
                self._unconfirmed[gate.id] = clock + self.retry_after
                self.reactions.start(self._carry_out(gate, *wanted, by,
                                                     announce=first or force))

    async def _carry_out(self, gate: Gate, mode: str, cause: str, by: str,
                         announce: bool) -> None:
        devices = self._serving.get(gate.id, [])
        results = await asyncio.gather(*(self._set(d, gate.id, mode) for d in devices))
        confirmed = {device: ok for device, (ok, _) in zip(devices, results, strict=True)}
        errors = "; ".join(f"{d}: {e}" for d, (_, e) in zip(devices, results, strict=True) if e)
        if self._applied.get(gate.id) != (mode, cause):
            return  # overtaken by a later change
        if all(confirmed.values()):
            self._unconfirmed.pop(gate.id, None)
        elif not announce:
            return  # still unconfirmed: said so already, tried again later
        severity = Severity.INFO if not errors else Severity.MAJOR
        with self._unit():
            self._publish(Event(GATE_MODE, self._gateway, GateModeChange(
                gate=gate.id, mode=mode, cause=cause, by=by,
                devices=confirmed, error=errors), severity, gate.id))

    async def _set(self, device: str, gate: str, mode: str) -> tuple[bool | None, str]:
        try:
            result = await asyncio.wait_for(
                self._execute(device, "gate_mode", {"gate": gate, "mode": mode}), ACTION_TIMEOUT)
        except (ActionError, TimeoutError) as exc:
            return None, str(exc) or "no answer"
        confirmed = result.get("confirmed")
        return (bool(confirmed) if confirmed is not None else None,
                str(result.get("error") or ""))

    async def wait_idle(self) -> None:
        await self.reactions.wait_idle()
