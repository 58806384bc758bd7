"""ONVIF cameras: health, PullPoint events, snapshots, PTZ presets, clips, and the gateway's own
video analytics on their streams (``drivers.video``); WS-Discovery for finding them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drivers.onvif.models import OnvifCameraConfig
from drivers.registry import exported

if TYPE_CHECKING:
    from drivers.onvif.driver import OnvifCameraDriver

# the driver loads on first use (zeep, OpenCV, numpy), not with the site file's model
_EXPORTS = {"OnvifCameraDriver": "drivers.onvif.driver:OnvifCameraDriver"}


def __getattr__(name: str) -> Any:
    return exported(__name__, name, _EXPORTS)


__all__ = ["OnvifCameraConfig", "OnvifCameraDriver"]
