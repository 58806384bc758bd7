"""Frames of the camera's picture, drawn at most once per frame period whoever asks.

MJPEG clients, the snapshot URL and the RTSP feeder all ask ``FrameSource``; the first caller
of a period draws (in a worker thread, so the SOAP side never waits on OpenCV), the others get
the same frame. A sub-stream frame is the main frame resized.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import cv2
import numpy as np

from simulators.onvif.scene import Frame, FrameSpec, SceneRenderer

JPEG_QUALITY = 80


class FrameSource:
    def __init__(self, renderer: SceneRenderer, fps: float,
                 spec: Callable[[float], FrameSpec]) -> None:
        self.renderer = renderer
        self.fps = fps
        self._spec = spec
        self._lock = asyncio.Lock()
        self._tick = -1
        self._frame: Frame | None = None
        self._jpegs: dict[tuple[int, int], bytes] = {}
        self.frames_drawn = 0

    def invalidate(self) -> None:
        """The scene changed: the next caller draws afresh even within this frame period."""
        self._tick = -1

    @property
    def period(self) -> float:
        return 1.0 / self.fps

    def tick_of(self, now: float) -> int:
        return int(now * self.fps)

    async def frame(self) -> Frame:
        return (await self._current())[1]

    async def _current(self) -> tuple[int, Frame]:
        now = time.monotonic()
        tick = self.tick_of(now)
        async with self._lock:
            if tick != self._tick or self._frame is None:
                spec = self._spec(now)
                self._frame = await asyncio.to_thread(self.renderer.render, spec)
                self._tick = tick
                self._jpegs = {}
                self.frames_drawn += 1
            return self._tick, self._frame

    async def jpeg(self, size: tuple[int, int] | None = None) -> bytes:
        tick, frame = await self._current()
        key = size or (frame.shape[1], frame.shape[0])
        cached = self._jpegs.get(key) if tick == self._tick else None
        if cached is None:
            cached = await asyncio.to_thread(_encode, frame, key)
            if tick == self._tick:
                self._jpegs[key] = cached
        return cached


def _encode(frame: Frame, size: tuple[int, int]) -> bytes:
    if (frame.shape[1], frame.shape[0]) != size:
        frame = np.asarray(cv2.resize(frame, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return bytes(data.tobytes())
