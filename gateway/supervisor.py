"""Runs every driver as its own task and restarts one that fails, with jittered backoff.

A driver that raises is logged with its device id and started again (1 s, doubling to 60 s); the
others never notice. Device actions (sirens, later gates and cameras) are routed here by device id.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from typing import Any

from drivers import ActionError, DeviceUnavailable, Driver

log = logging.getLogger(__name__)

FIRST_BACKOFF = 1.0
MAX_BACKOFF = 60.0


class Supervisor:
    def __init__(self) -> None:
        self._drivers: dict[str, Driver] = {}

    def add(self, driver: Driver) -> None:
        self._drivers[driver.device_id] = driver

    def __len__(self) -> int:
        return len(self._drivers)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for driver in self._drivers.values():
                group.create_task(self._keep_running(driver), name=f"driver {driver.device_id}")

    async def _keep_running(self, driver: Driver) -> None:
        backoff = FIRST_BACKOFF
        while True:
            try:
                await driver.run()
                log.warning("%s: driver stopped by itself; starting it again", driver.device_id)
            except asyncio.CancelledError:
                raise
            except DeviceUnavailable as exc:
                log.error("%s: %s; trying again in about %.0f s", driver.device_id, exc, backoff,
                          extra={"device": driver.device_id})
            except Exception:
                log.exception("%s: driver failed; restarting in about %.0f s",
                              driver.device_id, backoff, extra={"device": driver.device_id})
            await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def execute(self, device_id: str, action: str, args: Mapping[str, Any]) -> dict[str, Any]:
        driver = self._drivers.get(device_id)
        if driver is None:
            raise ActionError(f"no device {device_id!r}")
        return await driver.execute(action, args)
