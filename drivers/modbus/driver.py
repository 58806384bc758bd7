"""Polls one Modbus I/O module and turns input edges into panic, line-fault and tamper events.

The link, its polling and its availability are ``drivers.modbus.poller``'s; this module knows
what the inputs mean. The first successful read after start (or after a reconnect) is compared
with what the gateway last knew, so a button still pressed when the gateway starts raises its
alarm.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pymodbus.exceptions import ModbusException

from drivers.modbus.models import ModbusIoConfig, PanicPoint
from drivers.modbus.poller import Client, Poller
from drivers.modbus.replies import Unreachable, bits_of
from gateway.kernel.events import (
    LINE_FAULT,
    LINE_RESTORED,
    PANIC_PRESSED,
    PANIC_RELEASED,
    TAMPER,
    TAMPER_RESTORED,
    Event,
    EventType,
    OutputChange,
    PointFact,
    Severity,
)
from gateway.kernel.ports import ActionError, DeviceSink

log = logging.getLogger(__name__)

_NONE: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Supervised:
    """One input the driver watches: which point, which condition, and the events it raises."""

    point: PanicPoint
    condition: str
    address: int
    active_low: bool
    raised: EventType
    cleared: EventType
    severity: Severity

    @property
    def key(self) -> str:
        return f"{self.point.id}/{self.condition}"


def supervised_inputs(config: ModbusIoConfig) -> list[Supervised]:
    inputs: list[Supervised] = []
    for p in config.points:
        inputs.append(
            Supervised(p, "panic", p.input, p.active_low, PANIC_PRESSED, PANIC_RELEASED,
                       Severity.CRITICAL)
        )
        if p.line_fault_input is not None:
            inputs.append(
                Supervised(p, "line_fault", p.line_fault_input, False, LINE_FAULT, LINE_RESTORED,
                           Severity.MAJOR)
            )
        if p.tamper_input is not None:
            inputs.append(
                Supervised(p, "tamper", p.tamper_input, False, TAMPER, TAMPER_RESTORED,
                           Severity.MAJOR)
            )
    return inputs


class ModbusIoDriver:
    def __init__(self, config: ModbusIoConfig, sink: DeviceSink) -> None:
        self.config = config
        self.device_id = config.id
        self._sink = sink
        self._inputs = supervised_inputs(config)
        self._first, self._count = config.input_span()
        self._known: dict[int, bool] = {}
        self._held_until: dict[int, float] = {}
        self._link = Poller(config, sink)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        await self._link.run(self._read, lambda bits: self._apply(bits, loop.time()))

    async def _read(self, client: Client) -> list[bool]:
        reply = await client.read_discrete_inputs(
            self._first, count=self._count, device_id=self.config.unit
        )
        return bits_of(reply, 2, self._first, self._count)

    def _apply(self, bits: list[bool], now: float) -> None:
        believed = self._sink.active_conditions(self.device_id) if not self._known else _NONE
        learned: dict[int, bool] = {}
        changes: list[tuple[Supervised, bool]] = []
        for item in self._inputs:
            active = bits[item.address - self._first] != item.active_low
            previous = self._known.get(item.address)
            if previous is None:
                previous = item.key in believed
                learned[item.address] = active
            elif active == previous or now < self._held_until.get(item.address, 0.0):
                continue
            if active != previous:
                changes.append((item, active))
        if not self._sink.report([self._event(item, active) for item, active in changes]):
            return  # the module is flooding: the next poll finds the same changes
        self._known.update(learned)
        for item, active in changes:
            self._known[item.address] = active
            self._held_until[item.address] = now + self.config.debounce

    def _event(self, item: Supervised, active: bool) -> Event:
        return Event(
            type=item.raised if active else item.cleared,
            device_id=self.device_id,
            subject=item.point.id,
            severity=item.severity if active else Severity.INFO,
            payload=PointFact(
                point=item.point.id,
                zone=item.point.zone,
                location=item.point.location,
                name=item.point.name,
                input=item.address,
            ),
        )

    async def execute(self, action: str, args: Mapping[str, Any]) -> dict[str, Any]:
        if action != "output":
            raise ActionError(f"{self.device_id}: unknown action {action!r} (known: output)")
        output = next((o for o in self.config.outputs if o.name == args.get("name")), None)
        if output is None:
            names = [o.name for o in self.config.outputs]
            raise ActionError(f"{self.device_id}: no output {args.get('name')!r} (has {names})")
        on = bool(args.get("on"))
        client = self._link.client
        result = OutputChange(output=output.name, address=output.coil, requested=on,
                              confirmed=None, reason=str(args.get("reason", "")))
        if client is None or not client.connected:
            return result.model_copy(update={"error": "module not connected"}).model_dump()
        try:
            written = await client.write_coil(output.coil, on, device_id=self.config.unit)
            if written.isError():
                raise ActionError(f"write refused: {written}")
            readback = await client.read_coils(output.coil, count=1, device_id=self.config.unit)
            (confirmed,) = bits_of(readback, 1, output.coil, 1)
        except (ModbusException, OSError, TimeoutError, ActionError, Unreachable) as exc:
            return result.model_copy(update={"error": str(exc)}).model_dump()
        error = "" if confirmed == on else "read-back differs from the requested state"
        return result.model_copy(update={"confirmed": confirmed, "error": error}).model_dump()
