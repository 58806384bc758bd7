"""ONVIF cameras: health, PullPoint events, snapshots, PTZ presets, clips, and the gateway's own
video analytics on their streams (``drivers.video``); WS-Discovery for finding them."""

from drivers.onvif.driver import OnvifCameraDriver
from drivers.onvif.models import OnvifCameraConfig

__all__ = ["OnvifCameraConfig", "OnvifCameraDriver"]
