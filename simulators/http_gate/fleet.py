"""The controllers of one receiver section, as one simulated device of the campus.

The campus and its control API address devices by the site file's device ids, and a
``driver: http_gate`` section is one device there (the receiver) with its controllers inside.
So the section's id names a ``ControllerFleet``, and each action picks its controller with a
``controller`` argument (optional when the section lists only one):

    campus-sim act gate-controllers present-card controller=north-vehicle-gate card=1234567
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from drivers.http_gate.models import HttpGateReceiverConfig
from simulators.http_gate.controller import SimulatedController
from simulators.http_gate.dialects import ControllerOptions
from simulators.simulator import UnknownAction, UnknownPoint, parse_arguments

ACTIONS = ("present-card", "open-door", "close-door", "force-door", "hold-door",
           "exit-request", "tamper", "tamper-restore", "heartbeat", "offline", "online",
           "bad-signature", "enrol", "revoke", "push-format", "misbehave")
DOOR_STATES = {"open-door": "opened", "close-door": "closed", "force-door": "forced",
               "hold-door": "held_open", "exit-request": "exit_request"}


class _Args(BaseModel):
    # campus-sim act reads card=1042 as a number; a card number is text all the same
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    controller: str | None = None


class NoArgs(_Args):
    pass


class CardArgs(_Args):
    card: str = Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z]+$")
    door: int | None = Field(default=None, ge=1, le=65535)
    reader: int | None = Field(default=None, ge=1, le=65535)
    verify: Literal["card", "fingerprint"] = Field(
        default="card", description="fingerprint: a fingerprint pass or fail (HCNetSDK minor "
                                    "0x26/0x27) naming the person's card")


class DoorArgs(_Args):
    door: int | None = Field(default=None, ge=1, le=65535)


class TamperArgs(_Args):
    reader: int | None = Field(default=None, ge=1, le=65535,
                               description="a reader's tamper; omitted: the controller's")


class EnrolArgs(_Args):
    card: str = Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z]+$")


class MisbehaveArgs(_Args):
    repeats: int = Field(default=0, ge=0, le=100, description="each accepted push sent this "
                         "many times more (as if the gateway's answers were lost)")
    device_time: str | None = Field(default=None, max_length=40, description="the dateTime "
                                    "of every event (e.g. 9999-12-31T23:59:59+08:00); none: "
                                    "its real clock")


class FormatArgs(ControllerOptions, _Args):
    """``push-format``: the controller's simulator options, changed while it runs."""


_ARGS: dict[str, type[_Args]] = {
    "present-card": CardArgs,
    **dict.fromkeys(DOOR_STATES, DoorArgs),
    "tamper": TamperArgs,
    "tamper-restore": TamperArgs,
    "heartbeat": NoArgs,
    "offline": NoArgs,
    "online": NoArgs,
    "bad-signature": NoArgs,
    "enrol": EnrolArgs,
    "revoke": EnrolArgs,
    "push-format": FormatArgs,
    "misbehave": MisbehaveArgs,
}


class ControllerFleet:
    driver = "http_gate"
    actions: Sequence[str] = ACTIONS

    def __init__(self, config: HttpGateReceiverConfig, **options: Any) -> None:
        """``options`` go to every controller (heartbeat_interval, remote_check_timeout)."""
        self.config = config
        self.device_id = config.id
        self.controllers = {c.id: SimulatedController(config, c, **options)
                            for c in config.controllers}

    @property
    def address(self) -> str:
        return self.config.endpoints()[0]

    @property
    def online(self) -> bool:
        return any(c.online for c in self.controllers.values())

    def summary(self) -> str:
        return "controllers: " + ", ".join(
            f"{c.device_id} ({c.config.dialect}, {c.config.mode})"
            for c in self.controllers.values())

    def controller(self, controller_id: str | None) -> SimulatedController:
        if controller_id is None and len(self.controllers) == 1:
            return next(iter(self.controllers.values()))
        try:
            return self.controllers[str(controller_id)]
        except KeyError:
            known = ", ".join(self.controllers)
            raise UnknownPoint(f"{self.device_id}: give controller, one of: {known} "
                               f"(got {controller_id!r})") from None

    async def start(self) -> None:
        started: list[SimulatedController] = []
        try:
            for controller in self.controllers.values():
                await controller.start()
                started.append(controller)
        except BaseException:
            for controller in started:
                await controller.stop()
            raise

    async def stop(self) -> None:
        for controller in self.controllers.values():
            await controller.stop()

    async def act(self, action: str, args: Mapping[str, Any]) -> None:
        model = _ARGS.get(action)
        if model is None:
            raise UnknownAction(f"{self.device_id}: unknown action {action!r} (known: "
                                f"{', '.join(ACTIONS)})")
        parsed = parse_arguments(model, f"{self.device_id} {action}", args)
        device = self.controller(parsed.controller)
        if isinstance(parsed, CardArgs):
            device.present_card(parsed.card, parsed.door, parsed.reader, parsed.verify)
        elif isinstance(parsed, DoorArgs):
            device.door_event(DOOR_STATES[action], parsed.door)
        elif isinstance(parsed, TamperArgs):
            device.tamper(action == "tamper", parsed.reader)
        elif isinstance(parsed, EnrolArgs):
            if action == "enrol":
                device.cards.add(parsed.card)
            else:
                device.cards.discard(parsed.card)
        elif isinstance(parsed, FormatArgs):
            device.push_format = parsed.format
            device.picture = parsed.pictures
            device.single_door = parsed.single_door
            device.firmware = parsed.firmware
        elif isinstance(parsed, MisbehaveArgs):
            device.repeats = parsed.repeats
            device.device_time = parsed.device_time
        elif action == "heartbeat":
            device.heartbeat()
        elif action == "offline":
            await device.go_offline()
        elif action == "online":
            await device.go_online()
        elif action == "bad-signature":
            device.sign_wrong_next = True

    async def state(self) -> dict[str, Any]:
        return {
            "id": self.device_id,
            "driver": self.driver,
            "address": self.address,
            "online": self.online,
            "actions": list(self.actions),
            "controllers": [c.state() for c in self.controllers.values()],
        }


class HttpGateSimulators:
    """The ``http_gate`` family: one fleet per receiver section of the site file."""

    def __init__(self, configs: Sequence[HttpGateReceiverConfig], **options: Any) -> None:
        self._devices = [ControllerFleet(config, **options) for config in configs]

    @property
    def devices(self) -> Sequence[ControllerFleet]:
        return self._devices

    async def start(self) -> None:
        started: list[ControllerFleet] = []
        try:
            for device in self._devices:
                await device.start()
                started.append(device)
        except BaseException:
            for device in reversed(started):
                await device.stop()
            raise

    async def stop(self) -> None:
        for device in reversed(self._devices):
            await device.stop()
