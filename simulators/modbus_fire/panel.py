"""A simulated fire alarm panel that serves its profile's register map over Modbus TCP or RTU.

The panel keeps what is true at each point (in fire, faulty, disabled...) and at the panel
(power, silenced), and writes it into the Modbus data store with the same ``RegisterMap`` the
driver decodes with, so any profile, shipped or an integrator's own, gets a simulator for free.
A reset clears every point condition and raises the panel's reset flag for at least
``reset_hold`` seconds and until a client has read it (at most ``RESET_HOLD_MAX``), so a poller
sees the pulse however slowly it polls. A client writing the profile's reset coil ON resets the
panel the same way; the coil reads ON until the reset pulse ends.

For the abuse tests, ``chatter`` flips a fault on every loop point that has one (a loop card gone
mad: a flood of conditions) and ``reply-delay`` makes the panel answer late.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel
from pymodbus.constants import ExcCodes
from pymodbus.simulator import DataType, SimData, SimDevice

from drivers.modbus_fire.models import ModbusFireConfig
from drivers.modbus_fire.profile import BIT_TABLES, STANDARD_PANEL_POINTS
from drivers.modbus_fire.register_map import ActiveCondition, Block, EncodeError, Probe
from gateway.kernel.events import FireCondition
from simulators.chatter import Chatter, ChatterArgs
from simulators.modbus.endpoint import ReplyDelayArgs, ReplyFaultArgs, UnitMode
from simulators.modbus_fire.actions import (
    ACTIONS,
    ARGUMENTS,
    RAISING_ACTIONS,
    PanelConditionArgs,
    PointArgs,
    PowerFaultArgs,
    RestoreArgs,
)
from simulators.modbus_fire.endpoint import READ_CODES, WRITE_COIL_CODES, WordEndpoint
from simulators.simulator import (
    InvalidArguments,
    OfflineArgs,
    OfflineMode,
    SimulatorError,
    UnknownAction,
    UnknownPoint,
    parse_arguments,
)

log = logging.getLogger(__name__)

RESET_HOLD = 1.0
RESET_HOLD_MAX = 5.0
TABLES = ("coils", "discrete_inputs", "holding_registers", "input_registers")

_Args = TypeVar("_Args", bound=BaseModel)


class FirePanelSimulator:
    """One panel at one unit id; the group attaches its endpoint, which other units may share."""

    driver = "modbus_fire"
    actions: Sequence[str] = ACTIONS

    def __init__(self, config: ModbusFireConfig, reset_hold: float = RESET_HOLD) -> None:
        self.config = config
        self.device_id = config.id
        self.map = config.register_map
        self.reset_hold = reset_hold
        self.active: set[ActiveCondition] = set()
        self.silenced = False
        self.reset_flag = False
        self.offline_mode: OfflineMode | None = None
        self._endpoint: WordEndpoint | None = None
        self._pulse: asyncio.Task[None] | None = None
        self._flag_read = False
        self._own_access = False
        self._chatter = Chatter(config.id)

    # --- wiring -------------------------------------------------------------------------------

    @property
    def unit(self) -> int:
        return self.config.unit

    @property
    def address(self) -> str:
        return self.config.endpoints()[0]

    @property
    def online(self) -> bool:
        return self.offline_mode is None

    def attach(self, endpoint: WordEndpoint) -> None:
        self._endpoint = endpoint

    def sim_device(self) -> SimDevice:
        """The pymodbus data store for this unit: each table from 0 past its last used address."""
        values = self.map.encode(set(), self._flags())
        top = dict.fromkeys(TABLES, 0)
        for table, address in values:
            top[table] = max(top[table], address + 1)
        coil = self.map.reset_coil
        if coil is not None:
            top["coils"] = max(top["coils"], coil.address + 1)
        blocks: list[list[SimData]] = []
        for table in TABLES:
            size = max(top[table], 16 if table in BIT_TABLES else 1)
            initial = [values.get((table, a), 0) for a in range(size)]
            if table in BIT_TABLES:
                blocks.append([SimData(0, values=[bool(v) for v in initial],
                                       datatype=DataType.BITS)])
            else:
                blocks.append([SimData(0, values=initial, datatype=DataType.REGISTERS)])
        return SimDevice(
            self.unit, simdata=(blocks[0], blocks[1], blocks[2], blocks[3]), action=self._accessed
        )

    def summary(self) -> str:
        loops = sorted({p.loop for p in self.map.loop_points if p.loop is not None})
        return (f"profile {self.config.profile}: {len(self.map.loop_points)} points on loop(s)"
                f" {', '.join(map(str, loops))}")

    # --- the panel ----------------------------------------------------------------------------

    async def raise_condition(self, point: str, condition: FireCondition) -> None:
        """A point goes into ``condition``; a new fire makes silenced sounders sound again."""
        self._loop_point(point)
        self._offers(point, condition)
        await self._change(self.active | {(point, condition)},
                           silenced=self.silenced and condition != "fire")

    async def restore(self, point: str, condition: FireCondition | None = None) -> None:
        """One condition of a point (or all of them) back to normal."""
        if point not in self.map.points:
            raise self._unknown(point)
        gone = {(p, c) for p, c in self.active if p == point and condition in (None, c)}
        await self._change(self.active - gone)

    async def set_power_fault(self, which: str, on: bool = True) -> None:
        point = STANDARD_PANEL_POINTS[f"{which}_power_fault"]
        if point not in self.map.points:
            raise InvalidArguments(
                f"{self.device_id}: profile {self.config.profile} has no {which} power fault flag"
            )
        await self._switch(point, "power_fault", on)

    async def set_panel_condition(self, point: str, on: bool = True) -> None:
        extras = {c.point: c.condition for c in self.map.profile.panel.conditions}
        if point not in extras:
            raise UnknownPoint(
                f"{self.device_id}: no panel condition {point!r}"
                f" (profile has: {', '.join(extras) or 'none'})"
            )
        await self._switch(point, extras[point], on)

    async def reset(self) -> None:
        """Clear every loop-point condition and pulse the reset flag; power faults stay."""
        kept = {(p, c) for p, c in self.active if self.map.points[p].loop is None}
        if self._pulse is not None:
            self._pulse.cancel()
        self._flag_read = False
        await self._change(kept, silenced=False, reset_flag="reset" in self.map.flags)
        self._pulse = asyncio.create_task(self._end_reset_pulse(), name=f"{self.device_id} reset")

    async def silence(self) -> None:
        await self._change(self.active, silenced=True)

    async def go_offline(self, mode: OfflineMode = "refuse") -> None:
        """Stop answering: ``refuse`` closes the link, ``silent`` keeps it but never replies."""
        self.offline_mode = mode
        await self._set_mode(mode)

    async def go_online(self) -> None:
        self.offline_mode = None
        await self._set_mode("online")

    async def chatter(self, on: bool) -> None:
        """A fault at every loop point that can have one (``on``), or none: one flip."""
        faults = {(s.point, s.condition) for s in self.map.signals
                  if s.condition == "fault" and self.map.points[s.point].loop is not None}
        await self._change(self.active | faults if on else self.active - faults)

    async def stop(self) -> None:
        await self._chatter.stop()
        if self._pulse is not None:
            self._pulse.cancel()
            self._pulse = None

    # --- control ------------------------------------------------------------------------------

    async def act(self, action: str, args: Mapping[str, Any]) -> None:
        model = ARGUMENTS.get(action)
        if model is None:
            raise UnknownAction(
                f"{self.device_id}: unknown action {action!r} (known: {', '.join(ACTIONS)})"
            )
        parsed = parse_arguments(model, f"{self.device_id} {action}", args)
        if isinstance(parsed, RestoreArgs):
            await self.restore(parsed.point_id(), parsed.condition)
        elif isinstance(parsed, PointArgs):
            await self.raise_condition(parsed.point_id(), RAISING_ACTIONS[action])
        elif isinstance(parsed, PowerFaultArgs):
            await self.set_power_fault(parsed.which, parsed.on)
        elif isinstance(parsed, PanelConditionArgs):
            await self.set_panel_condition(parsed.point, parsed.on)
        elif isinstance(parsed, OfflineArgs):
            await self.go_offline(parsed.mode)
        elif isinstance(parsed, ReplyFaultArgs):
            self._wire().set_fault(self.unit, parsed.kind)
        elif isinstance(parsed, ReplyDelayArgs):
            self._wire().set_delay(self.unit, parsed.seconds)
        elif isinstance(parsed, ChatterArgs):
            await self._chatter.set(parsed, self.chatter)
        elif action == "reset":
            await self.reset()
        elif action == "silence":
            await self.silence()
        elif action == "online":
            await self.go_online()

    async def state(self) -> dict[str, Any]:
        """The panel as a poller would see it, decoded from the data store."""
        reading = self.map.decode(await self._wire_blocks())
        by_point: dict[str, list[str]] = {}
        for point, condition in sorted(reading.active):
            by_point.setdefault(point, []).append(condition)
        facts = self.config.point_facts()
        coil = self.map.reset_coil
        return {
            "id": self.device_id,
            "driver": self.driver,
            "address": self.address,
            "profile": self.config.profile,
            "online": self.online,
            "offline_mode": self.offline_mode,
            "link_up": self._wire().link_up,
            "reply_fault": self._wire().fault(self.unit),
            "reply_delay": self._wire().delay(self.unit),
            "chatter": {"running": self._chatter.running, "flips": self._chatter.flips},
            "actions": list(self.actions),
            "point_count": len(self.map.loop_points),
            "points": {
                point: {
                    "conditions": conditions,
                    "zone": facts[point].zone,
                    "location": facts[point].location,
                    "description": facts[point].description,
                    "status": reading.status_of(point),
                }
                for point, conditions in by_point.items()
            },
            "panel": {
                "reset": reading.reset,
                "silenced": reading.silenced,
                "reset_coil": None if coil is None else bool(
                    (await self._read("coils", coil.address, 1))[0]
                ),
            },
        }

    # --- helpers ------------------------------------------------------------------------------

    def _flags(self, reset_flag: bool | None = None, silenced: bool | None = None) -> set[str]:
        flags = set()
        if self.reset_flag if reset_flag is None else reset_flag:
            flags.add("reset")
        if self.silenced if silenced is None else silenced:
            flags.add("silenced")
        return flags

    async def _change(self, active: set[ActiveCondition], silenced: bool | None = None,
                      reset_flag: bool | None = None) -> None:
        """Put a new panel state on the wire, or refuse it whole if the profile cannot show it."""
        try:
            values = self.map.encode(active, self._flags(reset_flag, silenced))
        except EncodeError as exc:
            raise SimulatorError(f"{self.device_id}: {exc}") from None
        self.active = set(active)
        if silenced is not None:
            self.silenced = silenced
        if reset_flag is not None:
            self.reset_flag = reset_flag
        for read in self.map.reads:
            run = [values[read.table, read.address + i] for i in range(read.count)]
            await self._write(read.table, read.address, run)

    async def _switch(self, point: str, condition: FireCondition, on: bool) -> None:
        item = (point, condition)
        await self._change(self.active | {item} if on else self.active - {item})

    async def _end_reset_pulse(self) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(self.reset_hold)
        deadline = loop.time() + RESET_HOLD_MAX - self.reset_hold
        while self.reset_flag and not self._flag_read and loop.time() < deadline:
            await asyncio.sleep(0.02)
        await self._change(self.active, reset_flag=False)
        coil = self.map.reset_coil
        if coil is not None:
            await self._write("coils", coil.address, [0])
        self._pulse = None

    async def _accessed(self, function_code: int, start_address: int, address: int, count: int,
                        registers: list[int], values: list[int] | list[bool] | None,
                        ) -> ExcCodes | None:
        """pymodbus calls this on every access to the unit's data: notice reads and coil writes."""
        if self._own_access:
            return None
        if values is None:
            flag = self.map.flags.get("reset")
            if self.reset_flag and flag is not None and _covers(function_code, address, count,
                                                                 flag):
                self._flag_read = True
        elif function_code in WRITE_COIL_CODES and (coil := self.map.reset_coil) is not None:
            written = dict(enumerate(values, start=address))
            if written.get(coil.address):
                task = asyncio.create_task(self.reset(), name=f"{self.device_id} coil reset")
                task.add_done_callback(_log_failure)
        return None

    def _loop_point(self, point: str) -> None:
        found = self.map.points.get(point)
        if found is None or found.loop is None:
            raise self._unknown(point)

    def _offers(self, point: str, condition: FireCondition) -> None:
        if (point, condition) not in {(s.point, s.condition) for s in self.map.signals}:
            raise InvalidArguments(
                f"{self.device_id}: profile {self.config.profile} has no {condition!r} for"
                f" {point}"
            )

    def _unknown(self, point: str) -> UnknownPoint:
        loop_points = self.map.loop_points
        panel_points = [p.id for p in self.map.points.values() if p.loop is None]
        return UnknownPoint(
            f"{self.device_id}: no point {point} (points {loop_points[0].id} .."
            f" {loop_points[-1].id}, panel points: {', '.join(panel_points) or 'none'})"
        )

    def _wire(self) -> WordEndpoint:
        if self._endpoint is None:
            raise RuntimeError(f"{self.device_id}: simulator is not started")
        return self._endpoint

    async def _wire_blocks(self) -> list[Block]:
        return [Block(r.table, r.address, await self._read(r.table, r.address, r.count))
                for r in self.map.reads]

    async def _read(self, table: str, address: int, count: int) -> list[int]:
        self._own_access = True
        try:
            return await self._wire().read_table(self.unit, table, address, count)
        finally:
            self._own_access = False

    async def _write(self, table: str, address: int, values: list[int]) -> None:
        self._own_access = True
        try:
            await self._wire().write_table(self.unit, table, address, values)
        finally:
            self._own_access = False

    async def _set_mode(self, mode: UnitMode) -> None:
        await self._wire().set_mode(self.unit, mode)


def _covers(function_code: int, address: int, count: int, probe: Probe) -> bool:
    """Whether a read touched the probe's address (bit reads report 16-bit words in ``count``)."""
    if READ_CODES[probe.table] != function_code:
        return False
    if probe.table in BIT_TABLES:
        return address <= probe.address < (address // 16 + count) * 16
    return address <= probe.address < address + count


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("reset through the coil failed", exc_info=task.exception())
