"""The transmitters of one receiver section, as one simulated device of the campus.

The campus and its control API address devices by the site file's device ids, and a
``driver: gbt26875`` section is one device there (the receiver) with several transmitters
inside. So the section's id names a ``TransmitterFleet``, and each action picks its transmitter
with a ``transmitter`` argument (optional when the section lists only one):

    campus-sim act fire-link fire transmitter=utd-building-b component_address=258
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from drivers.gbt26875.models import TransmissionReceiverConfig
from drivers.gbt26875.timelabel import Variant
from simulators.gbt26875.malformed import MalformedKind
from simulators.gbt26875.transmitter import TransmissionDeviceSimulator
from simulators.simulator import UnknownAction, UnknownPoint, parse_arguments

Condition = Literal["fire", "fault", "shielded", "supervisory", "power_fault"]

CONDITION_ACTIONS: dict[str, str] = {
    "fire": "fire",
    "fault": "fault",
    "shield": "shielded",
    "supervisory": "supervisory",
    "power-fault": "power_fault",
}
ACTIONS = (*CONDITION_ACTIONS, "restore", "system-reset", "silence", "heartbeat", "disconnect",
           "connect", "send-malformed", "send-variant", "flood", "stop-flood", "clock", "repeat",
           "hang", "dribble")

_Args = TypeVar("_Args", bound=BaseModel)


class _ArgsModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transmitter: str | None = None


class NoArgs(_ArgsModel):
    pass


class ComponentArgs(_ArgsModel):
    component_address: int = Field(ge=0, le=0xFFFFFFFF)
    system_address: int = Field(default=1, ge=0, le=255)
    system_type: int = Field(default=1, ge=0, le=255)
    component_type: int | None = Field(default=None, ge=0, le=255)
    description: str | None = None


class RestoreArgs(_ArgsModel):
    component_address: int = Field(ge=0, le=0xFFFFFFFF)
    system_address: int = Field(default=1, ge=0, le=255)
    system_type: int = Field(default=1, ge=0, le=255)
    condition: Condition | None = None


class PanelArgs(_ArgsModel):
    system_address: int = Field(default=1, ge=0, le=255)
    system_type: int = Field(default=1, ge=0, le=255)
    operator: int = Field(default=1, ge=0, le=255)


class MalformedArgs(_ArgsModel):
    kind: MalformedKind


class FloodArgs(_ArgsModel):
    frames: int = Field(default=1000, ge=0, description="0: until stop-flood")
    objects: int = Field(default=22, ge=1, le=22, description="component statuses per frame")
    rate: float = Field(default=0.0, ge=0, description="frames per second; 0: as fast as it can")
    seed: int | None = None


class ClockArgs(_ArgsModel):
    offset: float = Field(default=0.0, ge=-100 * 366 * 86400, le=100 * 366 * 86400,
                          description="seconds the transmitter's clock is ahead (negative: behind)")
    stuck: datetime | None = Field(default=None, description="a clock stopped at this local "
                                   "time (a time label holds 2000-2099)")
    unset: bool = Field(default=False, description="a clock never set: six zero bytes")


class RepeatArgs(_ArgsModel):
    component_address: int = Field(ge=0, le=0xFFFFFFFF)
    system_address: int = Field(default=1, ge=0, le=255)
    condition: Condition = "fault"
    times: int = Field(default=5, ge=1, le=1000)


class SwitchArgs(_ArgsModel):
    on: bool = True


class DribbleArgs(_ArgsModel):
    byte_delay: float = Field(default=0.02, ge=0, le=10, description="seconds between bytes; 0: "
                              "whole frames again")


class VariantArgs(_ArgsModel):
    time: Literal["binary", "bcd"] = "binary"
    checksum: Literal["sum", "xor"] = "sum"


_ARGS: dict[str, type[BaseModel]] = {
    **dict.fromkeys(CONDITION_ACTIONS, ComponentArgs),
    "restore": RestoreArgs,
    "system-reset": PanelArgs,
    "silence": PanelArgs,
    "heartbeat": NoArgs,
    "disconnect": NoArgs,
    "connect": NoArgs,
    "send-malformed": MalformedArgs,
    "send-variant": VariantArgs,
    "flood": FloodArgs,
    "stop-flood": NoArgs,
    "clock": ClockArgs,
    "repeat": RepeatArgs,
    "hang": SwitchArgs,
    "dribble": DribbleArgs,
}


class TransmitterFleet:
    driver = "gbt26875"
    actions: Sequence[str] = ACTIONS

    def __init__(self, config: TransmissionReceiverConfig, **timing: Any) -> None:
        """``timing`` goes to every transmitter (ack_timeout, heartbeat_interval, tries ...)."""
        self.config = config
        self.device_id = config.id
        self.transmitters = {
            t.id: TransmissionDeviceSimulator(config, t, **timing) for t in config.transmitters
        }

    @property
    def address(self) -> str:
        return self.config.endpoints()[0]

    @property
    def online(self) -> bool:
        return any(t.connected for t in self.transmitters.values())

    def summary(self) -> str:
        return "transmitters: " + ", ".join(
            f"{t.device_id} ({t.config.address})" for t in self.transmitters.values()
        )

    def transmitter(self, transmitter_id: str | None) -> TransmissionDeviceSimulator:
        if transmitter_id is None and len(self.transmitters) == 1:
            return next(iter(self.transmitters.values()))
        try:
            return self.transmitters[str(transmitter_id)]
        except KeyError:
            known = ", ".join(self.transmitters)
            raise UnknownPoint(
                f"{self.device_id}: give transmitter, one of: {known} (got {transmitter_id!r})"
            ) from None

    async def start(self) -> None:
        for transmitter in self.transmitters.values():
            await transmitter.start()

    async def stop(self) -> None:
        for transmitter in self.transmitters.values():
            await transmitter.stop()

    async def act(self, action: str, args: Mapping[str, Any]) -> None:
        model = _ARGS.get(action)
        if model is None:
            raise UnknownAction(
                f"{self.device_id}: unknown action {action!r} (known: {', '.join(ACTIONS)})"
            )
        parsed = parse_arguments(model, f"{self.device_id} {action}", args)
        device = self.transmitter(getattr(parsed, "transmitter", None))
        if isinstance(parsed, ComponentArgs):
            component = device.component(parsed.component_address, parsed.system_type,
                                         parsed.system_address, parsed.component_type,
                                         parsed.description)
            device.set_condition(component, CONDITION_ACTIONS[action])
        elif isinstance(parsed, RestoreArgs):
            component = device.component(parsed.component_address, parsed.system_type,
                                         parsed.system_address)
            device.restore(component, parsed.condition)
        elif isinstance(parsed, PanelArgs):
            if action == "system-reset":
                device.system_reset(parsed.system_type, parsed.system_address)
            else:
                device.silence(parsed.system_type, parsed.system_address, parsed.operator)
        elif isinstance(parsed, MalformedArgs):
            device.send_malformed(parsed.kind)
        elif isinstance(parsed, VariantArgs):
            device.send_variant(Variant(parsed.time, parsed.checksum))
        elif isinstance(parsed, FloodArgs):
            device.start_flood(parsed.frames, parsed.objects, parsed.rate, parsed.seed)
        elif isinstance(parsed, ClockArgs):
            device.set_clock(parsed.offset, parsed.stuck, parsed.unset)
        elif isinstance(parsed, RepeatArgs):
            component = device.component(parsed.component_address, 1, parsed.system_address)
            await device.repeat(component, parsed.condition, parsed.times)
        elif isinstance(parsed, SwitchArgs):
            device.hang(parsed.on)
        elif isinstance(parsed, DribbleArgs):
            device.byte_delay = parsed.byte_delay
        elif action == "stop-flood":
            await device.stop_flood()
        elif action == "heartbeat":
            device.heartbeat()
        elif action == "disconnect":
            await device.disconnect()
        elif action == "connect":
            device.connect()

    async def state(self) -> dict[str, Any]:
        return {
            "id": self.device_id,
            "driver": self.driver,
            "address": self.address,
            "online": self.online,
            "actions": list(self.actions),
            "transmitters": [t.state() for t in self.transmitters.values()],
        }


class TransmissionDeviceSimulators:
    """The ``gbt26875`` family: one fleet per receiver section of the site file."""

    def __init__(self, configs: Sequence[TransmissionReceiverConfig]) -> None:
        self._devices = [TransmitterFleet(config) for config in configs]

    @property
    def devices(self) -> Sequence[TransmitterFleet]:
        return self._devices

    async def start(self) -> None:
        for device in self._devices:
            await device.start()

    async def stop(self) -> None:
        for device in reversed(self._devices):
            await device.stop()
