"""Sirens and strobes follow the panic alarms of their zones.

A siren is on while any open panic alarm in its zones is unacknowledged (``siren_off_on:
acknowledge``, the default) or not yet reset (``siren_off_on: reset``). Each change is written to
the coil and read back; the outcome is an ``output.changed`` event. When a module comes back
online its sirens are written again, so a siren missed while it was offline still sounds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from drivers import DeviceConfig
from drivers.modbus.models import ModbusIoConfig
from gateway.bus import AlarmChanged
from gateway.kernel.events import (
    DEVICE_ONLINE,
    OUTPUT_CHANGED,
    AlarmSnapshot,
    Event,
    OutputChange,
    Severity,
)
from gateway.kernel.ports import ActionError
from gateway.reactions import Reactions

log = logging.getLogger(__name__)

Execute = Callable[[str, str, Mapping[str, Any]], Awaitable[dict[str, Any]]]


class SirenLinkage:
    def __init__(
        self,
        devices: list[DeviceConfig],
        off_on: str,
        open_alarms: Callable[[str], list[AlarmSnapshot]],
        execute: Execute,
        emit: Callable[[Event], None],
    ) -> None:
        self._outputs = {
            d.id: [o for o in d.outputs if o.follows_panic]
            for d in devices
            if isinstance(d, ModbusIoConfig) and any(o.follows_panic for o in d.outputs)
        }
        self._off_on = off_on
        self._open_alarms = open_alarms
        self._execute = execute
        self._emit = emit
        self._written: dict[tuple[str, str], bool] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.reactions = Reactions("sirens")

    def alarm_changed(self, change: AlarmChanged) -> None:
        alarm = change.alarm
        if alarm.condition == "panic" and alarm.device_id in self._outputs:
            self._schedule(alarm.device_id, f"alarm {alarm.alarm_id} {alarm.state}", force=False)

    def on_event(self, event: Event) -> None:
        """A module that comes back online gets its sirens written again."""
        if event.type is DEVICE_ONLINE and event.device_id in self._outputs:
            self._schedule(event.device_id, "module back online", force=True)

    def _schedule(self, device_id: str, reason: str, force: bool) -> None:
        self.reactions.start(self._drive(device_id, reason, force))

    def _wanted(self, device_id: str, zones: list[str]) -> bool:
        return any(
            a.condition == "panic"
            and (not zones or a.zone in zones)
            and (self._off_on == "reset" or not a.acknowledged)
            for a in self._open_alarms(device_id)
        )

    async def _drive(self, device_id: str, reason: str, force: bool) -> None:
        lock = self._locks.setdefault(device_id, asyncio.Lock())
        async with lock:
            for siren in self._outputs[device_id]:
                want = self._wanted(device_id, siren.zones)
                key = (device_id, siren.name)
                if not force and self._written.get(key, False) == want:
                    continue
                try:
                    result = await self._execute(
                        device_id, "output", {"name": siren.name, "on": want, "reason": reason})
                except ActionError as exc:
                    result = OutputChange(output=siren.name, address=siren.coil, requested=want,
                                          confirmed=None, reason=reason,
                                          error=str(exc)).model_dump()
                change = OutputChange.model_validate(result)
                if not change.error:
                    self._written[key] = want
                else:
                    log.warning("%s: siren %s not switched %s: %s", device_id, siren.name,
                                "on" if want else "off", change.error)
                self._emit(Event(OUTPUT_CHANGED, device_id, change,
                                 Severity.MAJOR if change.error else Severity.INFO, siren.name))

    async def wait_idle(self) -> None:
        await self.reactions.wait_idle()
