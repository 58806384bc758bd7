"""The analytics of one camera: ``SceneAnalytics`` runs the enabled ones on a frame (pure,
synchronous); ``VideoAnalyser`` runs that on a worker thread at the configured rate on the
newest frame of a grabber, off the asyncio loop, and reports changes through a callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import cv2
import numpy as np

from drivers.video.foreground import ForegroundModel
from drivers.video.frames import AnalyticChange, Frame
from drivers.video.models import VideoAnalyticsConfig
from drivers.video.tamper import TamperDetector
from drivers.video.zones import Armed, CrowdingDetector, IntrusionDetector, LineCrossingDetector

log = logging.getLogger(__name__)

# ``gateway.access.schedules.Schedules.allows`` has this shape.
ScheduleCheck = Callable[[str, datetime], bool]
ChangeCallback = Callable[[AnalyticChange], None]


def analysis_size(width: int, height: int, analysis_width: int) -> tuple[int, int]:
    """(width, height) of the analysis frame: ``analysis_width`` wide (never wider than the
    stream), the height keeping the aspect ratio, both even."""
    target = min(analysis_width, width)
    return target - target % 2, max(2, round(height * target / width / 2) * 2)


OCCLUDED_FRACTION = 0.1  # this share of the picture moving: too much of the view is hidden


class SceneAnalytics:
    """Every analytic enabled for one camera, fed one frame at a time.

    Foreground analytics (crowding, intrusion, lines) skip frames that cannot be trusted: before
    the background model has settled (2 s), while tamper has a condition raised, and when more
    than ``max_scene_change`` of the whole picture is foreground at once (lights switched on,
    the camera knocked: the background restarts from that frame and settles again). Their state
    stays as it was over such frames.
    """

    def __init__(self, config: VideoAnalyticsConfig, schedule: ScheduleCheck | None = None) -> None:
        missing = config.schedules()
        if missing and schedule is None:
            raise ValueError(f"zones name schedules {sorted(missing)} but no schedule check "
                             "was given")
        self.config = config
        self.tamper = TamperDetector(config.tamper) if config.tamper is not None else None
        self.foreground = (ForegroundModel(still_frames=round(config.background * config.rate),
                                           max_scene_change=config.max_scene_change,
                                           warmup=max(5, round(2 * config.rate)))
                           if config.uses_foreground else None)
        self.crowding = [CrowdingDetector(z) for z in config.crowding]
        self.intrusion = [IntrusionDetector(z, self._armed(z.schedule, schedule))
                          for z in config.intrusion]
        self.lines = [LineCrossingDetector(z, self._armed(z.schedule, schedule),
                                           max_age=max(1.0, 3 / config.rate))
                      for z in config.lines]
        self.trusted = False  # whether the last frame was used by the foreground analytics

    @staticmethod
    def _armed(name: str | None, schedule: ScheduleCheck | None) -> Armed | None:
        if name is None or schedule is None:
            return None
        return lambda wall: schedule(name, datetime.fromtimestamp(wall, UTC))

    def analyse(self, image: np.ndarray, at: float, wall: float) -> list[AnalyticChange]:
        """``image``: BGR (or grey) uint8 at any resolution; ``at``: monotonic seconds;
        ``wall``: POSIX seconds of its capture."""
        size = analysis_size(image.shape[1], image.shape[0], self.config.width)
        small = (image if (image.shape[1], image.shape[0]) == size
                 else cv2.resize(image, size, interpolation=cv2.INTER_AREA))
        changes: list[AnalyticChange] = []
        foreground = self.foreground.apply(small) if self.foreground is not None else None
        if self.tamper is not None:
            gray = small if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
            # people filling the view (a crowd) hide the reference's texture: not a moved camera
            occluded = (any(c.active for c in self.crowding) or (
                foreground is not None and self.foreground is not None
                and self.foreground.ready and foreground.fraction >= OCCLUDED_FRACTION))
            changes += self.tamper.update(gray, at, wall, occluded=occluded)
        if foreground is None or self.foreground is None:
            return changes
        self.trusted = (self.foreground.ready and not foreground.relearnt
                        and not (self.tamper is not None and self.tamper.active))
        if not self.trusted:
            for line in self.lines:
                line.reset_tracks()
            return changes
        for crowding in self.crowding:
            changes += crowding.update(foreground, at, wall)
        for intrusion in self.intrusion:
            changes += intrusion.update(foreground, at, wall)
        for line in self.lines:
            changes += line.update(foreground, at, wall)
        return changes


@dataclass(frozen=True, slots=True)
class AnalyserStats:
    analysed: int
    skipped: int  # ticks without a new frame (stream down or slower than the rate)
    errors: int
    cpu_seconds: float  # CPU time of the worker thread
    last_seconds: float  # wall time the last frame took


class VideoAnalyser:
    """Runs ``SceneAnalytics`` for one camera on its own thread.

    ``frames`` returns the newest frame or None (``FrameGrabber.latest``); it is called every
    ``1 / rate`` seconds and a frame already analysed is not analysed again, so a slow or
    stalled stream is never double-counted and a slow analysis drops ticks instead of queueing.
    ``on_change`` gets every change; with ``loop`` it is called on that asyncio loop through
    ``call_soon_threadsafe``, otherwise on the worker thread.
    """

    def __init__(self, name: str, config: VideoAnalyticsConfig,
                 frames: Callable[[], Frame | None], on_change: ChangeCallback, *,
                 schedule: ScheduleCheck | None = None,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.name = name
        self.scene = SceneAnalytics(config, schedule)
        self._period = 1.0 / config.rate
        self._frames = frames
        self._on_change = on_change
        self._loop = loop
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._analysed = self._skipped = self._errors = 0
        self._cpu = self._last = 0.0

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(target=self._run, name=f"video-analyser-{self.name}",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def stats(self) -> AnalyserStats:
        with self._lock:
            return AnalyserStats(self._analysed, self._skipped, self._errors, self._cpu,
                                 self._last)

    def _deliver(self, change: AnalyticChange) -> None:
        if self._loop is None:
            try:
                self._on_change(change)
            except Exception:
                log.exception("video analyser %s: change callback failed", self.name)
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: we are shutting down
            self._loop.call_soon_threadsafe(self._on_change, change)

    def _run(self) -> None:
        last_sequence = 0
        due = time.monotonic()
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            due += self._period
            now = time.monotonic()
            if now - due > self._period:  # fell behind: skip ticks, never catch up in a burst
                due = now + self._period
            cpu0, wall0 = time.thread_time(), time.perf_counter()
            try:
                frame = self._frames()
                if frame is None or frame.sequence == last_sequence:
                    with self._lock:
                        self._skipped += 1
                    continue
                last_sequence = frame.sequence
                changes = self.scene.analyse(frame.image, frame.monotonic, frame.captured_at)
            except Exception:
                with self._lock:
                    self._errors += 1
                    first = self._errors == 1
                if first:
                    log.exception("video analyser %s: analysis failed (further failures "
                                  "are only counted)", self.name)
                continue
            with self._lock:
                self._analysed += 1
                self._cpu += time.thread_time() - cpu0
                self._last = time.perf_counter() - wall0
            for change in changes:
                self._deliver(change)
