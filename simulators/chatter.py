"""A contact that chatters: a device whose inputs flip on their own, faster than any person.

What floods a polled device's driver in the field: a loose wire on a button, a panel whose loop
card has gone mad. ``Chatter`` calls ``flip(True)``, ``flip(False)``... every ``period`` seconds
until stopped, then ``flip(False)`` once, so the device is left at rest.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from pydantic import BaseModel, ConfigDict, Field

Flip = Callable[[bool], Awaitable[None]]


class ChatterArgs(BaseModel):
    """``chatter``: flip the device's inputs every ``period`` seconds (``on: false`` to stop)."""

    model_config = ConfigDict(extra="forbid")
    on: bool = True
    period: float = Field(default=0.1, ge=0.01, le=60)


class Chatter:
    def __init__(self, name: str) -> None:
        self._name = name
        self._task: asyncio.Task[None] | None = None
        self.flips = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def set(self, args: ChatterArgs, flip: Flip) -> None:
        await self.stop(flip if not args.on else None)
        if args.on:
            self._task = asyncio.create_task(self._run(args.period, flip),
                                             name=f"{self._name} chatter")

    async def stop(self, flip: Flip | None = None) -> None:
        """End the chatter; with ``flip``, leave the inputs at rest."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if flip is not None:
            await flip(False)

    async def _run(self, period: float, flip: Flip) -> None:
        on = True
        while True:
            await flip(on)
            self.flips += 1
            on = not on
            await asyncio.sleep(period)
