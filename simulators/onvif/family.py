"""The ``onvif`` family: one simulated camera per ``driver: onvif`` section of the site file."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from simulators.onvif.camera import SimulatedCamera
from simulators.onvif.config import OnvifCameraConfig


class OnvifCameraSimulators:
    def __init__(self, configs: Sequence[Any], **options: Any) -> None:
        """``configs``: the sections as mappings or as the driver's config models;
        ``options`` go to every camera (``rtsp=False`` to stream MJPEG only)."""
        self._devices = [SimulatedCamera(OnvifCameraConfig.read(c), **options) for c in configs]

    @property
    def devices(self) -> Sequence[SimulatedCamera]:
        return self._devices

    async def start(self) -> None:
        started: list[SimulatedCamera] = []
        try:
            for camera in self._devices:
                await camera.start()
                started.append(camera)
        except BaseException:
            for camera in reversed(started):
                await camera.stop()
            raise

    async def stop(self) -> None:
        for camera in reversed(self._devices):
            await camera.stop()
