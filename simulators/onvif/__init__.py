"""Simulated ONVIF cameras: device, media, events and PTZ services over SOAP 1.2, a synthetic
picture (snapshot, MJPEG, RTSP where GStreamer is installed) and WS-Discovery."""

from simulators.onvif.camera import SimulatedCamera
from simulators.onvif.config import OnvifCameraConfig
from simulators.onvif.family import OnvifCameraSimulators

__all__ = ["OnvifCameraConfig", "OnvifCameraSimulators", "SimulatedCamera"]
