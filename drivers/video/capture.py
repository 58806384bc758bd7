"""A latest-frame grabber per stream: ``cv2.VideoCapture`` with the FFmpeg backend (RTSP H.264,
HTTP MJPEG) on its own thread, reconnecting with backoff, holding only the newest frame.

Why a thread that reads all the time: FFmpeg decodes into its own buffer and
``CAP_PROP_BUFFERSIZE`` is not honoured by this backend, so a reader that only reads when it
needs a picture gets a stale one. Reading every frame as it arrives and keeping the last one
is the only way to get "now". H.264 must be decoded frame by frame anyway.

FFmpeg open options are a process-wide environment variable (``OPENCV_FFMPEG_CAPTURE_OPTIONS``):
see ``configure_capture_options``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

import cv2

from drivers.video.frames import Frame
from drivers.video.models import GrabberConfig

log = logging.getLogger(__name__)

CAPTURE_OPTIONS_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
# RTSP over TCP (no UDP loss or NAT trouble) and a short probe (open in ~0.5 s instead of ~3 s).
# Not ``fflags;nobuffer``: it throws away the packets read while probing (measured here: the
# first frame of every file is lost, and an RTSP H.264 stream's first frame came 0.84 s later:
# the probed keyframe was dropped), and it saves nothing for a grabber that drains every frame.
LOW_LATENCY_OPTIONS = "rtsp_transport;tcp|analyzeduration;200000|probesize;32768"

StreamState = Literal["never_opened", "connected", "reconnecting", "stopped"]

_options_lock = threading.Lock()
_options_set: str | None = None


def configure_capture_options(options: str = LOW_LATENCY_OPTIONS) -> str:
    """Set ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` for the whole process, once; return what is in force.

    The variable is read by OpenCV each time a capture opens, and it is process-wide: every
    stream in this process gets the same options. An operator's own value (set before the
    gateway starts) is kept. Call this before the first capture opens and before other threads
    run (``FrameGrabber.start`` calls it): changing the environment while another thread reads
    it is not safe in C.
    """
    global _options_set
    with _options_lock:
        if _options_set is None:
            existing = os.environ.get(CAPTURE_OPTIONS_ENV)
            if existing is not None:
                log.info("keeping %s=%s from the environment", CAPTURE_OPTIONS_ENV, existing)
                _options_set = existing
            else:
                os.environ[CAPTURE_OPTIONS_ENV] = options
                _options_set = options
        return _options_set


_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def redact(url: str) -> str:
    """The URL without user and password, for logs and health reasons."""
    return _CREDENTIALS.sub("***@", url)


@dataclass(frozen=True, slots=True)
class StreamHealth:
    """``never_opened``: no frame since start (``reason`` says why); ``connected``: frames are
    arriving; ``reconnecting``: it had frames and lost them (``reason``), it is retrying;
    ``stopped``: ``stop()`` was called. ``since``: wall time of entering the state."""

    state: StreamState
    reason: str
    since: float
    frames: int = 0
    reconnects: int = 0


Capture = Any  # cv2.VideoCapture (OpenCV ships no type hints for it)
CaptureFactory = Callable[[str, GrabberConfig], Capture]


def open_capture(url: str, config: GrabberConfig) -> Capture:
    """``cv2.VideoCapture(url, CAP_FFMPEG)`` with the open and read timeouts of ``config``."""
    return cv2.VideoCapture(url, cv2.CAP_FFMPEG, [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, round(config.open_timeout * 1000),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC, round(config.read_timeout * 1000),
    ])


class FrameGrabber:
    """Reads one stream on its own thread and keeps only its newest frame.

    ``latest()`` is that frame (or None before the first); it stays available while the stream
    is down, so check its ``captured_at`` or ``health`` before treating it as live.

    Callbacks: ``on_frame(frame)`` runs on the grabber thread for every frame and must be quick
    (``FrameRing.offer``); ``on_health(health)`` gets every state change, called on ``loop``
    through ``call_soon_threadsafe`` if a loop is given, else on the grabber thread.

    ``stop()`` returns once the thread has ended or after ``timeout``: a thread inside an FFmpeg
    open or read ends when that returns (at most ``open_timeout`` / ``read_timeout``); it is a
    daemon thread, so it never holds up the process's exit.
    """

    def __init__(self, name: str, url: str, config: GrabberConfig | None = None, *,
                 on_frame: Callable[[Frame], None] | None = None,
                 on_health: Callable[[StreamHealth], None] | None = None,
                 loop: asyncio.AbstractEventLoop | None = None,
                 capture: CaptureFactory = open_capture) -> None:
        self.name = name
        self.url = url
        self.config = config or GrabberConfig()
        self._on_frame = on_frame
        self._on_health = on_health
        self._loop = loop
        self._capture = capture
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._latest: Frame | None = None
        self._health = StreamHealth("never_opened", "not started", time.time())
        self._thread: threading.Thread | None = None
        self._sequence = 0

    # -- reading side (any thread) --------------------------------------------------------------

    def latest(self) -> Frame | None:
        return self._latest  # one reference read: atomic under the GIL

    @property
    def health(self) -> StreamHealth:
        return self._health

    def wait_frame(self, after: int = 0, timeout: float | None = None) -> Frame | None:
        """The newest frame once its sequence is above ``after``; None after ``timeout``."""
        with self._changed:
            self._changed.wait_for(lambda: (self._latest is not None
                                   and self._latest.sequence > after) or self._stop.is_set(),
                                   timeout)
            frame = self._latest
        return frame if frame is not None and frame.sequence > after else None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("already started")
        configure_capture_options()
        self._set_health("never_opened", "opening")
        self._thread = threading.Thread(target=self._run, name=f"video-grabber-{self.name}",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("video grabber %s: still inside FFmpeg after %.1f s; it ends when "
                            "that call returns", self.name, timeout)
        self._set_health("stopped", "stopped")

    # -- grabber thread -------------------------------------------------------------------------

    def _set_health(self, state: StreamState, reason: str) -> None:
        old = self._health
        if old.state == state and old.reason == reason:
            return
        reconnects = old.reconnects + (state == "reconnecting" and old.state == "connected")
        self._health = health = replace(old, state=state, reason=reason, since=time.time(),
                                        reconnects=reconnects)
        if state != old.state:
            log.info("video stream %s: %s (%s)", self.name, state, reason)
        if self._on_health is None:
            return
        if self._loop is None:
            try:
                self._on_health(health)
            except Exception:
                log.exception("video grabber %s: health callback failed", self.name)
        else:
            with contextlib.suppress(RuntimeError):  # loop closed: shutting down
                self._loop.call_soon_threadsafe(self._on_health, health)

    def _backoff(self, attempt: int) -> float:
        cfg = self.config
        delay = min(cfg.backoff_max, cfg.backoff_initial * 2 ** min(attempt, 30))
        return float(delay * random.uniform(0.75, 1.0))

    def _run(self) -> None:
        attempt = 0
        ever_connected = False
        where = redact(self.url)
        while not self._stop.is_set():
            delivered, reason = self._session(where)
            if self._stop.is_set():
                break
            if delivered:
                ever_connected, attempt = True, 0
            delay = self._backoff(attempt)
            attempt += 1
            self._set_health("reconnecting" if ever_connected else "never_opened",
                             f"{reason}; retrying in {delay:.1f} s")
            self._stop.wait(delay)

    def _session(self, where: str) -> tuple[int, str]:
        """Open, read until the stream fails; (frames delivered, why it ended)."""
        try:
            capture = self._capture(self.url, self.config)
        except Exception as exc:  # a bad URL can raise inside OpenCV
            return 0, f"cannot open {where}: {exc}"
        delivered = 0
        try:
            if not capture.isOpened():
                return 0, f"cannot open {where}"
            while not self._stop.is_set():
                started = time.monotonic()
                ok, image = capture.read()
                if not ok or image is None:
                    waited = time.monotonic() - started
                    if delivered == 0:
                        return 0, f"{where} opened but sent no frame"
                    if waited >= 0.9 * self.config.read_timeout:
                        return delivered, f"no frame for {waited:.1f} s"
                    return delivered, "stream ended (connection closed or undecodable data)"
                self._publish(image)
                delivered += 1
                if delivered == 1:
                    self._set_health("connected", f"{image.shape[1]}x{image.shape[0]}")
            return delivered, "stopped"
        finally:
            capture.release()

    def _publish(self, image: Any) -> None:
        image.flags.writeable = False  # shared with other threads without copies
        self._sequence += 1
        frame = Frame(image, time.time(), time.monotonic(), self._sequence)
        with self._changed:
            self._latest = frame
            self._changed.notify_all()
        self._health = replace(self._health, frames=self._health.frames + 1)
        if self._on_frame is not None:
            try:
                self._on_frame(frame)
            except Exception:
                log.exception("video grabber %s: frame callback failed", self.name)
