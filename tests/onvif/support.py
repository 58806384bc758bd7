"""The ONVIF driver against simulated cameras on real sockets, with ``ReportingSink`` as the only
boundary: simulators from the same stanza the driver reads, the driver running as a task."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.onvif import OnvifCameraConfig, OnvifCameraDriver
from gateway.kernel.events import CAMERA_EVENT, CAMERA_STATUS, CameraFact, CameraStatus, Event
from simulators.onvif import OnvifCameraSimulators, SimulatedCamera
from tests.sink import ReportingSink

USER = "admin"
PASSWORD = "gate-cam-secret"
PASSWORD_ENV = "ONVIF_DRIVER_TEST_PASSWORD"
QUICK = {"subscription": {"pull_timeout": 1, "backoff_initial": 0.2, "backoff_max": 1},
         "request_timeout": 2}


def stanza(camera_id: str = "gate-cam", **overrides: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "id": camera_id, "driver": "onvif", "name": f"{camera_id} camera",
        "host": "127.0.0.1", "port": 0, "username": USER,
        "password": {"env": PASSWORD_ENV}, "zone": "gate-house", "scene": "gate",
        "presets": ["gate", "street"], **QUICK,
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(section.get(key), dict):
            section[key] = {**section[key], **value}
        else:
            section[key] = value
    return section


def driver_config(section: dict[str, Any], port: int) -> OnvifCameraConfig:
    return OnvifCameraConfig.model_validate({**section, "port": port})


@dataclass
class Rig:
    cameras: Sequence[SimulatedCamera]
    drivers: list[OnvifCameraDriver]
    sinks: list[ReportingSink]

    @property
    def camera(self) -> SimulatedCamera:
        return self.cameras[0]

    @property
    def driver(self) -> OnvifCameraDriver:
        return self.drivers[0]

    @property
    def sink(self) -> ReportingSink:
        return self.sinks[0]


@contextlib.asynccontextmanager
async def rig(*sections: dict[str, Any], media_dir: Path | None = None,
              sim_sections: Sequence[dict[str, Any]] | None = None,
              sink: Callable[[], ReportingSink] | None = None,
              ) -> AsyncIterator[Rig]:
    """Simulated cameras for ``sections`` (or ``sim_sections``), a driver and sink for each."""
    os.environ.setdefault(PASSWORD_ENV, PASSWORD)
    sims = OnvifCameraSimulators(list(sim_sections or sections), rtsp=False)
    await sims.start()
    sinks = [sink() if sink is not None
             else ReportingSink(media_dir=media_dir / s["id"] if media_dir else None)
             for s in sections]
    drivers = [OnvifCameraDriver(driver_config(s, c.port), sink)
               for s, c, sink in zip(sections, sims.devices, sinks, strict=True)]
    tasks = [asyncio.create_task(d.run(), name=d.device_id) for d in drivers]
    try:
        yield Rig(sims.devices, drivers, sinks)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await sims.stop()


def run(coroutine: Coroutine[Any, Any, None], timeout: float = 60.0) -> None:
    asyncio.run(asyncio.wait_for(coroutine, timeout))


async def wait_for(predicate: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Until ``predicate()`` is truthy (a behaviour, polled; the timeout only stops a hang)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (result := predicate()):
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)
    return result


def camera_events(sink: ReportingSink, kind: str | None = None) -> list[Event]:
    return [e for e in sink.events if e.type is CAMERA_EVENT and isinstance(e.payload, CameraFact)
            and (kind is None or e.payload.kind == kind)]


def facts(sink: ReportingSink, kind: str | None = None) -> list[CameraFact]:
    return [e.payload for e in camera_events(sink, kind) if isinstance(e.payload, CameraFact)]


def statuses(sink: ReportingSink) -> list[CameraStatus]:
    return [e.payload for e in sink.events
            if e.type is CAMERA_STATUS and isinstance(e.payload, CameraStatus)]


def state(sink: ReportingSink) -> str | None:
    found = statuses(sink)
    return found[-1].state if found else None


async def subscribed(driver: OnvifCameraDriver, count: int = 1) -> None:
    """Until the driver has pulled on its ``count``-th subscription (it follows events)."""
    await wait_for(lambda: driver.subscriptions >= count and driver.pulls > 0)
