"""A simulated Modbus I/O module carrying panic buttons, their supervision inputs and outputs.

The module keeps the physical state of each point (is the button latched down, is the line cut,
is the housing open) and writes the resulting input levels into the Modbus data store, so the
gateway reads exactly what a real module would put on the wire: an ``active_low`` button idles
at 1 and reads 0 when pressed. Panic buttons latch mechanically; only the key reset (``release``)
brings them back. Coils are written by the gateway and only read here, to show output states.

Misbehaviour on demand, for the abuse tests: ``chatter`` flips every button as fast as asked (a
loose contact: a flood of presses), ``reply-delay`` makes the module answer late and
``reply-fault`` answer with malformed replies (``simulators.modbus.endpoint``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict
from pymodbus.simulator import DataType, SimData, SimDevice

from drivers.modbus.models import ModbusIoConfig, Output, PanicPoint
from simulators.chatter import Chatter, ChatterArgs
from simulators.modbus.endpoint import (
    COILS,
    DISCRETE_INPUTS,
    ModbusEndpoint,
    ReplyDelayArgs,
    ReplyFaultArgs,
    UnitMode,
)
from simulators.simulator import (
    NoArgs,
    OfflineArgs,
    OfflineMode,
    UnknownAction,
    UnknownPoint,
    parse_arguments,
)

ACTIONS = ("press", "release", "key-reset", "line-fault", "tamper", "offline", "online",
           "reply-fault", "reply-delay", "chatter", "state")

_Args = TypeVar("_Args", bound=BaseModel)


class _ArgsModel(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


class PointArgs(_ArgsModel):
    point: str


class SwitchArgs(_ArgsModel):
    point: str
    on: bool = True


_ARGS: dict[str, type[BaseModel]] = {
    "press": PointArgs,
    "release": PointArgs,
    "key-reset": PointArgs,
    "line-fault": SwitchArgs,
    "tamper": SwitchArgs,
    "offline": OfflineArgs,
    "online": NoArgs,
    "reply-fault": ReplyFaultArgs,
    "reply-delay": ReplyDelayArgs,
    "chatter": ChatterArgs,
    "state": NoArgs,
}


@dataclass
class PointState:
    """What is physically true at one button; ``levels`` turns it into input bits."""

    config: PanicPoint
    pressed: bool = False
    line_fault: bool = False
    tamper: bool = False

    def levels(self) -> dict[int, bool]:
        bits = {self.config.input: self.pressed != self.config.active_low}
        if self.config.line_fault_input is not None:
            bits[self.config.line_fault_input] = self.line_fault
        if self.config.tamper_input is not None:
            bits[self.config.tamper_input] = self.tamper
        return bits


class ModbusIoSimulator:
    """One module at one unit id; the group attaches its endpoint, which other units may share."""

    driver = "modbus"
    actions: Sequence[str] = ACTIONS

    def __init__(self, config: ModbusIoConfig) -> None:
        self.config = config
        self.device_id = config.id
        self.points = {p.id: PointState(p) for p in config.points}
        self.offline_mode: OfflineMode | None = None
        self._endpoint: ModbusEndpoint[Any] | None = None
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

    def attach(self, endpoint: ModbusEndpoint[Any]) -> None:
        self._endpoint = endpoint

    def sim_device(self) -> SimDevice:
        """The pymodbus data store for this unit, sized to cover every configured address."""
        levels: dict[int, bool] = {}
        for point in self.points.values():
            levels.update(point.levels())
        input_count = max(16, max(levels) + 1)
        coil_count = max([4, *(o.coil + 1 for o in self.config.outputs)])
        inputs = [levels.get(address, False) for address in range(input_count)]
        return SimDevice(
            self.unit,
            simdata=(
                [SimData(0, values=False, count=coil_count, datatype=DataType.BITS)],
                [SimData(0, values=inputs, datatype=DataType.BITS)],
                [SimData(0, values=0, count=1, datatype=DataType.REGISTERS)],
                [SimData(0, values=0, count=1, datatype=DataType.REGISTERS)],
            ),
        )

    def summary(self) -> str:
        text = "points: " + ", ".join(self.points)
        if self.config.outputs:
            text += "  outputs: " + ", ".join(o.name for o in self.config.outputs)
        return text

    # --- the physical world -----------------------------------------------------------------

    async def press(self, point: str) -> None:
        """Press a panic button; it latches until ``release`` (the key reset)."""
        state = self._point(point)
        state.pressed = True
        await self._write(state)

    async def release(self, point: str) -> None:
        """Turn the reset key: the only way a latched button comes back up."""
        state = self._point(point)
        state.pressed = False
        await self._write(state)

    key_reset = release

    async def set_line_fault(self, point: str, on: bool) -> None:
        state = self._point(point)
        if state.config.line_fault_input is None:
            raise UnknownPoint(
                f"{self.device_id}: point {point!r} has no line_fault_input in the site file"
            )
        state.line_fault = on
        await self._write(state)

    async def set_tamper(self, point: str, on: bool) -> None:
        state = self._point(point)
        if state.config.tamper_input is None:
            raise UnknownPoint(
                f"{self.device_id}: point {point!r} has no tamper_input in the site file"
            )
        state.tamper = on
        await self._write(state)

    async def go_offline(self, mode: OfflineMode = "refuse") -> None:
        """Stop answering: ``refuse`` closes the link, ``silent`` keeps it but never replies."""
        self.offline_mode = mode
        await self._set_mode(mode)

    async def go_online(self) -> None:
        self.offline_mode = None
        await self._set_mode("online")

    async def chatter(self, on: bool) -> None:
        """Every button pressed (``on``) or back up at once: one flip of a chattering module."""
        for state in self.points.values():
            state.pressed = on
            await self._write(state)

    async def stop(self) -> None:
        """Stop what the module runs of its own; its endpoint is stopped by its group."""
        await self._chatter.stop()

    async def coil(self, name: str) -> bool:
        """Whether the output (coil) called ``name`` is on, as last written by the gateway."""
        output = self._output(name)
        (value,) = await self._wire().read(self.unit, COILS, output.coil, 1)
        return value

    async def inputs(self) -> dict[int, bool]:
        """The input levels on the wire, by discrete input address."""
        addresses = sorted(a for p in self.points.values() for a in p.levels())
        first = addresses[0]
        bits = await self._wire().read(self.unit, DISCRETE_INPUTS, first, addresses[-1] - first + 1)
        return {a: bits[a - first] for a in addresses}

    # --- control ------------------------------------------------------------------------------

    async def act(self, action: str, args: Mapping[str, Any]) -> None:
        model = _ARGS.get(action)
        if model is None:
            raise UnknownAction(
                f"{self.device_id}: unknown action {action!r} (known: {', '.join(ACTIONS)})"
            )
        parsed = parse_arguments(model, f"{self.device_id} {action}", args)
        if isinstance(parsed, PointArgs):
            await (self.press if action == "press" else self.release)(parsed.point)
        elif isinstance(parsed, SwitchArgs):
            setter = self.set_line_fault if action == "line-fault" else self.set_tamper
            await setter(parsed.point, parsed.on)
        elif isinstance(parsed, OfflineArgs):
            await self.go_offline(parsed.mode)
        elif isinstance(parsed, ReplyFaultArgs):
            self._wire().set_fault(self.unit, parsed.kind)
        elif isinstance(parsed, ReplyDelayArgs):
            self._wire().set_delay(self.unit, parsed.seconds)
        elif isinstance(parsed, ChatterArgs):
            await self._chatter.set(parsed, self.chatter)
        elif action == "online":
            await self.go_online()

    async def state(self) -> dict[str, Any]:
        wire = await self.inputs()
        coils = {o.name: await self.coil(o.name) for o in self.config.outputs}
        endpoint = self._wire()
        return {
            "id": self.device_id,
            "driver": self.driver,
            "address": self.address,
            "online": self.online,
            "offline_mode": self.offline_mode,
            "link_up": endpoint.link_up,
            "reply_fault": endpoint.fault(self.unit),
            "reply_delay": endpoint.delay(self.unit),
            "chatter": {"running": self._chatter.running, "flips": self._chatter.flips},
            "actions": list(self.actions),
            "points": [self._point_view(p, wire) for p in self.points.values()],
            "outputs": [
                {"name": o.name, "kind": o.kind, "coil": o.coil, "on": coils[o.name]}
                for o in self.config.outputs
            ],
        }

    # --- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _point_view(point: PointState, wire: dict[int, bool]) -> dict[str, Any]:
        c = point.config
        inputs = [
            ("input", c.input),
            ("line_fault_input", c.line_fault_input),
            ("tamper_input", c.tamper_input),
        ]
        return {
            "id": c.id,
            "zone": c.zone,
            "location": c.location,
            "active_low": c.active_low,
            "pressed": point.pressed,
            "line_fault": point.line_fault,
            "tamper": point.tamper,
            "inputs": [
                {"role": role, "address": address, "level": int(wire[address])}
                for role, address in inputs
                if address is not None
            ],
        }

    def _point(self, point: str) -> PointState:
        try:
            return self.points[point]
        except KeyError:
            raise UnknownPoint(
                f"{self.device_id}: no point {point!r} (points: {', '.join(self.points)})"
            ) from None

    def _output(self, name: str) -> Output:
        for output in self.config.outputs:
            if output.name == name:
                return output
        names = ", ".join(o.name for o in self.config.outputs) or "none"
        raise UnknownPoint(f"{self.device_id}: no output {name!r} (outputs: {names})")

    def _wire(self) -> ModbusEndpoint[Any]:
        if self._endpoint is None:
            raise RuntimeError(f"{self.device_id}: simulator is not started")
        return self._endpoint

    async def _write(self, state: PointState) -> None:
        wire = self._wire()
        for address, level in state.levels().items():
            await wire.write(self.unit, DISCRETE_INPUTS, address, [level])

    async def _set_mode(self, mode: UnitMode) -> None:
        await self._wire().set_mode(self.unit, mode)
