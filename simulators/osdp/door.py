"""A simulated door: its contact and request-to-exit button are wired to a reader's inputs.

``open`` is a normal passage (open, then closed again after ``seconds``); ``force`` is the same
movement with nobody let through (the name says what the tester means; the contact cannot
tell); ``hold`` opens and stays open until ``close``; ``exit`` presses the exit button, then
opens briefly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from drivers.osdp.models import DoorWiring
from simulators.osdp.reader import SimulatedReader
from simulators.simulator import NoArgs, UnknownAction, parse_arguments

ACTIONS = ("open", "close", "force", "hold", "exit")
REX_PRESS = 0.3  # how long the exit button is held down


class PassArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(default=3.0, gt=0, le=600, description="how long it stays open")


class SimulatedDoor:
    driver = "osdp"
    actions: Sequence[str] = ACTIONS

    def __init__(self, wiring: DoorWiring, reader: SimulatedReader) -> None:
        self.wiring = wiring
        self.reader = reader
        self.device_id = wiring.id
        self.is_open = False
        self.rex = False
        self._closing: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        rex_input = self.wiring.rex_input
        rex = f", exit button on input {rex_input}" if rex_input is not None else ""
        return f"reader {self.reader.device_id} input {self.wiring.contact_input}{rex}"

    @property
    def online(self) -> bool:
        return self.reader.online

    def summary(self) -> str:
        return f"door on {self.address}"

    async def act(self, action: str, args: Mapping[str, Any]) -> None:
        if action not in ACTIONS:
            raise UnknownAction(f"{self.device_id}: unknown action {action!r} "
                                f"(known: {', '.join(ACTIONS)})")
        model: type[BaseModel] = PassArgs if action in ("open", "force", "exit") else NoArgs
        parsed = parse_arguments(model, f"{self.device_id} {action}", args)
        self._cancel_close()
        if action == "close":
            await self._set(is_open=False)
        elif action == "hold":
            await self._set(is_open=True)
        elif isinstance(parsed, PassArgs):
            if action == "exit" and self.wiring.rex_input is not None:
                await self._set(rex=True)
                await asyncio.sleep(REX_PRESS)
                await self._set(rex=False, is_open=True)
            else:
                await self._set(is_open=True)
            loop = asyncio.get_running_loop()
            self._closing = loop.call_later(parsed.seconds, self._close_later)

    def _close_later(self) -> None:
        self._closing = None
        task = asyncio.ensure_future(self._set(is_open=False))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _cancel_close(self) -> None:
        if self._closing is not None:
            self._closing.cancel()
            self._closing = None

    async def _set(self, is_open: bool | None = None, rex: bool | None = None) -> None:
        if is_open is not None:
            self.is_open = is_open
        if rex is not None:
            self.rex = rex
        levels = {self.wiring.contact_input: self.is_open == self.wiring.contact_active_open}
        if self.wiring.rex_input is not None:
            levels[self.wiring.rex_input] = self.rex
        await self.reader.set_inputs(levels)

    async def stop(self) -> None:
        self._cancel_close()
        for task in list(self._tasks):
            task.cancel()

    async def state(self) -> dict[str, Any]:
        return {"id": self.device_id, "driver": self.driver, "address": self.address,
                "online": self.online, "open": self.is_open, "exit_button": self.rex,
                "reader": self.reader.device_id, "actions": list(self.actions)}
