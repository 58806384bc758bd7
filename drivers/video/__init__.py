"""The video library a camera driver builds on: grab a stream, keep its last seconds for clips,
and analyse it for tamper, crowding, intrusion and line crossing, all off the asyncio loop.

``capture`` holds the newest frame of a stream on a grabber thread (``FrameGrabber``);
``ring`` keeps the last seconds as JPEG (``FrameRing``) and ``clips`` writes them as a file;
``tamper``, ``zones`` and ``foreground`` are the analytics (pure: numpy frames in, state
changes out); ``analyser`` runs a camera's enabled analytics on a worker thread
(``VideoAnalyser``); ``models`` are the config models. See docs/video-analytics.md.
"""

from drivers.video.analyser import (
    AnalyserStats,
    ChangeCallback,
    SceneAnalytics,
    ScheduleCheck,
    VideoAnalyser,
)
from drivers.video.capture import (
    CAPTURE_OPTIONS_ENV,
    LOW_LATENCY_OPTIONS,
    FrameGrabber,
    StreamHealth,
    StreamState,
    configure_capture_options,
    redact,
)
from drivers.video.clips import ClipError, ClipInfo, record_clip, write_clip
from drivers.video.frames import AnalyticChange, Frame
from drivers.video.models import (
    ClipConfig,
    CrowdingZone,
    GrabberConfig,
    IntrusionZone,
    LineCrossing,
    RingConfig,
    TamperConfig,
    VideoAnalyticsConfig,
)
from drivers.video.ring import FrameRing, StoredFrame
from drivers.video.tamper import TamperDetector
from drivers.video.zones import CrowdingDetector, IntrusionDetector, LineCrossingDetector

__all__ = [
    "CAPTURE_OPTIONS_ENV",
    "LOW_LATENCY_OPTIONS",
    "AnalyserStats",
    "AnalyticChange",
    "ChangeCallback",
    "ClipConfig",
    "ClipError",
    "ClipInfo",
    "CrowdingDetector",
    "CrowdingZone",
    "Frame",
    "FrameGrabber",
    "FrameRing",
    "GrabberConfig",
    "IntrusionDetector",
    "IntrusionZone",
    "LineCrossing",
    "LineCrossingDetector",
    "RingConfig",
    "SceneAnalytics",
    "ScheduleCheck",
    "StoredFrame",
    "StreamHealth",
    "StreamState",
    "TamperConfig",
    "TamperDetector",
    "VideoAnalyser",
    "VideoAnalyticsConfig",
    "configure_capture_options",
    "record_clip",
    "redact",
    "write_clip",
]
