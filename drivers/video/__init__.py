"""The video library a camera driver builds on: grab a stream, keep its last seconds for clips,
and analyse it for tamper, crowding, intrusion and line crossing, all off the asyncio loop.

``capture`` holds the newest frame of a stream on a grabber thread (``FrameGrabber``);
``ring`` keeps the last seconds as JPEG (``FrameRing``) and ``clips`` writes them as a file;
``tamper``, ``zones`` and ``foreground`` are the analytics (pure: numpy frames in, state
changes out); ``analyser`` runs a camera's enabled analytics on a worker thread
(``VideoAnalyser``); ``models`` are the config models. See docs/video-analytics.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drivers.registry import exported
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

# For type checkers; at run time each name loads from its module when first used, and OpenCV
# and numpy with it: the models above are read with every site file, cameras or not.
if TYPE_CHECKING:
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
    from drivers.video.ring import FrameRing, StoredFrame
    from drivers.video.tamper import TamperDetector
    from drivers.video.zones import CrowdingDetector, IntrusionDetector, LineCrossingDetector

_EXPORTS = {
    "AnalyserStats": "drivers.video.analyser:AnalyserStats",
    "ChangeCallback": "drivers.video.analyser:ChangeCallback",
    "SceneAnalytics": "drivers.video.analyser:SceneAnalytics",
    "ScheduleCheck": "drivers.video.analyser:ScheduleCheck",
    "VideoAnalyser": "drivers.video.analyser:VideoAnalyser",
    "CAPTURE_OPTIONS_ENV": "drivers.video.capture:CAPTURE_OPTIONS_ENV",
    "LOW_LATENCY_OPTIONS": "drivers.video.capture:LOW_LATENCY_OPTIONS",
    "FrameGrabber": "drivers.video.capture:FrameGrabber",
    "StreamHealth": "drivers.video.capture:StreamHealth",
    "StreamState": "drivers.video.capture:StreamState",
    "configure_capture_options": "drivers.video.capture:configure_capture_options",
    "redact": "drivers.video.capture:redact",
    "ClipError": "drivers.video.clips:ClipError",
    "ClipInfo": "drivers.video.clips:ClipInfo",
    "record_clip": "drivers.video.clips:record_clip",
    "write_clip": "drivers.video.clips:write_clip",
    "AnalyticChange": "drivers.video.frames:AnalyticChange",
    "Frame": "drivers.video.frames:Frame",
    "FrameRing": "drivers.video.ring:FrameRing",
    "StoredFrame": "drivers.video.ring:StoredFrame",
    "TamperDetector": "drivers.video.tamper:TamperDetector",
    "CrowdingDetector": "drivers.video.zones:CrowdingDetector",
    "IntrusionDetector": "drivers.video.zones:IntrusionDetector",
    "LineCrossingDetector": "drivers.video.zones:LineCrossingDetector",
}


def __getattr__(name: str) -> Any:
    return exported(__name__, name, _EXPORTS)


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
