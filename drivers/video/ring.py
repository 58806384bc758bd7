"""The last seconds of a stream, for clips around an alarm.

Frames are kept JPEG-encoded at the stream's own resolution, not downscaled: a clip is evidence,
and a face or a number plate that was readable in the stream must stay readable in it. JPEG
bounds the memory instead: a 640x480 frame is 0.9 MB raw and some 30-60 kB as a quality-80 JPEG
(1080p: 6 MB raw, 150-300 kB JPEG), so 20 s at 5 fps is a few MB per camera rather than
hundreds. The cost is one encode per kept frame (2-4 ms at 640x480) on the caller's thread.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from drivers.video.frames import Frame
from drivers.video.models import RingConfig


@dataclass(frozen=True, slots=True)
class StoredFrame:
    jpeg: bytes
    captured_at: float  # wall clock, as the grabber stamped it
    monotonic: float
    sequence: int
    width: int
    height: int

    def decode(self) -> np.ndarray:
        image = cv2.imdecode(np.frombuffer(self.jpeg, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"frame {self.sequence} does not decode")
        return image


class FrameRing:
    """Keeps frames at ``fps`` for ``seconds``, at most ``max_bytes`` of JPEG (oldest go first).

    ``offer`` is called with every grabbed frame (``FrameGrabber(on_frame=ring.offer)``) and keeps
    one every ``1 / fps`` seconds, paced on the frames' monotonic times so the kept rate is
    exact whatever the stream's own rate. Thread-safe.
    """

    def __init__(self, config: RingConfig | None = None) -> None:
        self.config = config = config or RingConfig()
        self._period = 1.0 / config.fps
        self._capacity = math.ceil(config.seconds * config.fps) + 1
        self._frames: deque[StoredFrame] = deque()
        self._bytes = 0
        self._due: float | None = None
        self._lock = threading.Lock()
        self._params = [cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality]

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def bytes(self) -> int:
        return self._bytes

    @property
    def newest_time(self) -> float | None:
        """``captured_at`` of the newest frame kept, or None."""
        frames = self._frames
        return frames[-1].captured_at if frames else None

    def offer(self, frame: Frame) -> bool:
        """Keep ``frame`` if one is due; True if it was kept."""
        t = frame.monotonic
        with self._lock:
            if self._due is not None and t < self._due - 1e-3:  # 1 ms: float rounding of t
                return False
            # advance from the due time, not from t, so jitter does not slow the kept rate
            self._due = t + self._period if self._due is None or t - self._due > self._period \
                else self._due + self._period
        ok, encoded = cv2.imencode(".jpg", frame.image, self._params)
        if not ok:
            return False
        stored = StoredFrame(encoded.tobytes(), frame.captured_at, frame.monotonic,
                             frame.sequence, frame.width, frame.height)
        with self._lock:
            self._frames.append(stored)
            self._bytes += len(stored.jpeg)
            oldest = t - self.config.seconds
            while self._frames and (len(self._frames) > self._capacity
                                    or self._bytes > self.config.max_bytes
                                    or self._frames[0].monotonic < oldest):
                self._bytes -= len(self._frames.popleft().jpeg)
        return True

    def frames(self, start: float | None = None, end: float | None = None) -> list[StoredFrame]:
        """The frames kept with ``start <= captured_at <= end`` (wall clock), oldest first."""
        with self._lock:
            return [f for f in self._frames
                    if (start is None or f.captured_at >= start)
                    and (end is None or f.captured_at <= end)]

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()
            self._bytes = 0
            self._due = None
