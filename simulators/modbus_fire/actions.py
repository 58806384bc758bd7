"""What a tester may ask of a simulated fire panel, with the arguments each action takes.

Points are named as events name them (``point: L1-P12``) or by number (``loop: 1, point: 12``;
the loop defaults to 1), so a scenario can copy a point id from an event it saw.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from drivers.modbus_fire.register_map import loop_point_id
from gateway.kernel.events import FireCondition
from simulators.chatter import ChatterArgs
from simulators.modbus.endpoint import ReplyDelayArgs, ReplyFaultArgs
from simulators.simulator import NoArgs, OfflineArgs

# action name -> the condition it raises at a loop point
RAISING_ACTIONS: dict[str, FireCondition] = {
    "fire": "fire",
    "pre-alarm": "pre_alarm",
    "fault": "fault",
    "supervisory": "supervisory",
    "shield": "shielded",
    "disable": "shielded",
    "point-power-fault": "power_fault",
}

ACTIONS = (
    *RAISING_ACTIONS,
    "restore",
    "power-fault",
    "panel-condition",
    "reset",
    "silence",
    "offline",
    "online",
    "reply-fault",
    "reply-delay",
    "chatter",
    "state",
)

_LOOP_POINT = re.compile(r"^L(\d+)-P(\d+)$")


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PointArgs(_Args):
    point: int | str
    loop: int | None = None

    @model_validator(mode="after")
    def _same_loop(self) -> PointArgs:
        match = _LOOP_POINT.match(self.point) if isinstance(self.point, str) else None
        if match and self.loop is not None and int(match.group(1)) != self.loop:
            raise ValueError(f"point {self.point} is not on loop {self.loop}")
        return self

    def point_id(self) -> str:
        """``L1-P12`` for ``point: 12`` (loop 1), ``point: "L1-P12"`` or ``point: "12"``."""
        if isinstance(self.point, int) or self.point.isdigit():
            return loop_point_id(1 if self.loop is None else self.loop, int(self.point))
        return self.point


class RestoreArgs(PointArgs):
    condition: FireCondition | None = None


class PowerFaultArgs(_Args):
    which: Literal["main", "backup"] = "main"
    on: bool = True


class PanelConditionArgs(_Args):
    point: str
    on: bool = True


ARGUMENTS: dict[str, type[BaseModel]] = {
    **dict.fromkeys(RAISING_ACTIONS, PointArgs),
    "restore": RestoreArgs,
    "power-fault": PowerFaultArgs,
    "panel-condition": PanelConditionArgs,
    "reset": NoArgs,
    "silence": NoArgs,
    "offline": OfflineArgs,
    "online": NoArgs,
    "reply-fault": ReplyFaultArgs,
    "reply-delay": ReplyDelayArgs,
    "chatter": ChatterArgs,
    "state": NoArgs,
}
