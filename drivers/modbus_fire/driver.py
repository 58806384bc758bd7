"""Polls one fire panel over Modbus and turns changes of its register map into fire events.

The link, its polling and its availability are ``drivers.modbus.poller``'s. Each poll
reads the few blocks ``RegisterMap.reads`` planned, decodes them (pure, in ``register_map``) and
compares the active conditions with the last poll's. The first successful poll after start is
compared with what the gateway believes active (``sink.active_conditions``), so an alarm that
began or ended while the gateway was down is still raised or restored. Panel reset and silence
are edges of the panel's flags; a flag already set at the first poll is not reported as new.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, cast

from pymodbus.exceptions import ModbusException

from drivers.modbus.poller import Client, Poller
from drivers.modbus.replies import Unreachable, bits_of, registers_of
from drivers.modbus_fire.models import ModbusFireConfig
from drivers.modbus_fire.register_map import ActiveCondition, Block, PanelReading, Read
from gateway.kernel.events import (
    FIRE_PANEL_RESET,
    FIRE_RAISING,
    FIRE_SILENCED,
    Event,
    FireCondition,
    FireFact,
    OutputChange,
    PanelAction,
    fire_event,
)
from gateway.kernel.ports import ActionError, DeviceSink

log = logging.getLogger(__name__)

# Order of events when one poll shows several changes: fire first, then what needs people.
CONDITION_ORDER = ("fire", "pre_alarm", "supervisory", "fault", "power_fault", "shielded")



class ModbusFireDriver:
    def __init__(self, config: ModbusFireConfig, sink: DeviceSink) -> None:
        self.config = config
        self.device_id = config.id
        self._sink = sink
        self._map = config.register_map
        self._facts = config.point_facts()
        self._order = {point: index for index, point in enumerate(self._map.points)}
        self._known: frozenset[ActiveCondition] | None = None
        self._flags: tuple[bool, bool] | None = None
        self._link = Poller(config, sink)

    async def run(self) -> None:
        await self._link.run(self._poll, lambda blocks: self._apply(self._map.decode(blocks)))

    # --- the wire -----------------------------------------------------------------------------

    async def _poll(self, client: Client) -> list[Block]:
        return [await self._read(client, read) for read in self._map.reads]

    async def _read(self, client: Client, read: Read) -> Block:
        unit = self.config.unit
        if read.table == "coils":
            reply = await client.read_coils(read.address, count=read.count, device_id=unit)
            values = [int(v) for v in bits_of(reply, 1, read.address, read.count)]
        elif read.table == "discrete_inputs":
            reply = await client.read_discrete_inputs(read.address, count=read.count,
                                                      device_id=unit)
            values = [int(v) for v in bits_of(reply, 2, read.address, read.count)]
        elif read.table == "holding_registers":
            reply = await client.read_holding_registers(read.address, count=read.count,
                                                        device_id=unit)
            values = registers_of(reply, 3, read.address, read.count)
        else:
            reply = await client.read_input_registers(read.address, count=read.count,
                                                      device_id=unit)
            values = registers_of(reply, 4, read.address, read.count)
        return Block(read.table, read.address, values)

    # --- what changed ---------------------------------------------------------------------------

    def _apply(self, reading: PanelReading) -> None:
        previous = self._known if self._known is not None else self._believed()
        raised = sorted(reading.active - previous, key=self._priority)
        cleared = sorted(previous - reading.active, key=self._priority)
        events = [fire_event(self.device_id, self._fact(point, condition, reading), True)
                  for point, condition in raised]
        events += [fire_event(self.device_id, self._fact(point, condition, reading), False)
                   for point, condition in cleared]
        if self._flags is not None:
            was_reset, was_silenced = self._flags
            if reading.reset and not was_reset:
                events.append(Event(FIRE_PANEL_RESET, self.device_id, PanelAction(
                    action="reset", description="the panel reports a reset")))
            if reading.silenced and not was_silenced:
                events.append(Event(FIRE_SILENCED, self.device_id, PanelAction(
                    action="silenced", description="the panel reports its sounders silenced")))
        if not self._sink.report(events):
            return  # the panel is flooding: the next poll finds the same changes
        self._known = reading.active
        self._flags = (reading.reset, reading.silenced)

    def _believed(self) -> frozenset[ActiveCondition]:
        """Open fire conditions the gateway knows of for this panel, as (point, condition)."""
        believed: set[ActiveCondition] = set()
        for key in self._sink.active_conditions(self.device_id):
            point, _, condition = key.rpartition("/")
            if point in self._map.points and condition in FIRE_RAISING:
                believed.add((point, cast(FireCondition, condition)))
        return frozenset(believed)

    def _priority(self, item: ActiveCondition) -> tuple[int, int]:
        point, condition = item
        return CONDITION_ORDER.index(condition), self._order.get(point, len(self._order))

    def _fact(self, point_id: str, condition: FireCondition, reading: PanelReading) -> FireFact:
        point = self._map.points[point_id]
        facts = self._facts[point_id]
        return FireFact(
            condition=condition,
            point=point_id,
            zone=facts.zone,
            location=facts.location,
            description=facts.description,
            loop=point.loop,
            point_number=point.number,
            component_type=facts.component_type,
            status=reading.status_of(point_id),
        )

    # --- actions --------------------------------------------------------------------------------

    async def execute(self, action: str, args: Mapping[str, Any]) -> dict[str, Any]:
        """``reset``: write the profile's reset coil ON and read it back.

        A reset from the gateway is optional and vendor-specific: many panels accept a reset
        only at their own keypad. Without a ``panel.reset_coil`` in the profile it is refused.
        The panel's own reset flag (``fire.panel_reset``) is what confirms the reset happened.
        """
        if action != "reset":
            raise ActionError(f"{self.device_id}: unknown action {action!r} (known: reset)")
        coil = self._map.reset_coil
        if coil is None:
            raise ActionError(
                f"{self.device_id}: profile {self.config.profile} declares no reset coil; reset"
                " the panel at its keypad (a gateway-side reset is optional and vendor-specific)"
            )
        client = self._link.client
        if client is None or not client.connected:
            raise ActionError(f"{self.device_id}: panel not connected")
        unit = self.config.unit
        try:
            written = await client.write_coil(coil.address, True, device_id=unit)
            if written.isError():
                raise ActionError(f"{self.device_id}: reset coil write refused: {written}")
            readback = await client.read_coils(coil.address, count=1, device_id=unit)
            (confirmed,) = bits_of(readback, 1, coil.address, 1)
            if coil.release_after is not None:
                await asyncio.sleep(coil.release_after)
                released = await client.write_coil(coil.address, False, device_id=unit)
                if released.isError():
                    raise ActionError(f"{self.device_id}: reset coil release refused: {released}")
        except (ModbusException, OSError, TimeoutError, Unreachable) as exc:
            raise ActionError(f"{self.device_id}: reset failed: {exc}") from exc
        return OutputChange(
            output="reset",
            address=coil.address,
            requested=True,
            confirmed=confirmed,
            reason=str(args.get("reason", "")),
            error="" if confirmed else "read-back shows the reset coil off (already cleared by"
            " the panel?); fire.panel_reset confirms the reset",
        ).model_dump()
