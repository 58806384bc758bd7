"""Clips around an alarm, written from a ``FrameRing`` as files OpenCV writes in this build.

Formats (checked on opencv-python-headless 5.1, FFmpeg backend): ``webm`` (the default) is VP8
in WebM (fourcc ``VP80``, FFmpeg's libvpx): it plays in a browser's ``<video>``, so the console
shows a clip beside its alarm; encoding costs about 0.9 s of one core for 20 s of 640x480 at
5 fps (VP9, ``VP90``, also writes but takes about 7 times as long for a third less size).
``avi`` is Motion JPEG in AVI (fourcc ``MJPG``): every frame a keyframe, frame-exact seeking,
plays in VLC, ffplay and every NLE, not in browsers. ``mp4`` is MPEG-4 Part 2 in MP4 (fourcc
``mp4v``): smaller, plays in VLC and ffplay, not in browsers. H.264 (``avc1``) cannot be written
by this build (its only H.264 encoder is the hardware ``h264_v4l2m2m``, absent here).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2

from drivers.video.models import ClipConfig, ClipFormat
from drivers.video.ring import FrameRing, StoredFrame

FOURCC: dict[ClipFormat, str] = {"webm": "VP80", "avi": "MJPG", "mp4": "mp4v"}
SUFFIX: dict[ClipFormat, str] = {"webm": ".webm", "avi": ".avi", "mp4": ".mp4"}


class ClipError(Exception):
    """No clip could be written; the message says why."""


@dataclass(frozen=True, slots=True)
class ClipInfo:
    path: Path
    frames: int  # frames in the file (gaps in the stream are filled by repeating a frame)
    fps: float
    start: float  # wall clock of the first and last frame
    end: float
    width: int
    height: int
    bytes: int


def write_clip(frames: Sequence[StoredFrame], path: Path, *, fps: float,
               format: ClipFormat = "webm") -> ClipInfo:
    """Write ``frames`` (oldest first) as a constant-rate file at ``fps``.

    Each output slot ``start + k / fps`` shows the newest frame captured by then, so the clip
    runs in real time even where the stream stalled. Frames of another size than the first are
    resized. Written to a temporary name beside ``path`` and renamed, so a reader never sees
    half a file. ``path`` gets the format's suffix if it has another.
    """
    if not frames:
        raise ClipError("no frames to write")
    path = path if path.suffix == SUFFIX[format] else path.with_suffix(SUFFIX[format])
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    first = frames[0]
    size = (first.width, first.height)
    writer = cv2.VideoWriter(str(partial), cv2.CAP_FFMPEG,
                             cv2.VideoWriter.fourcc(*FOURCC[format]), fps, size)
    if not writer.isOpened():
        raise ClipError(f"OpenCV cannot write {format} ({FOURCC[format]}) to {partial}")
    written = 0
    try:
        start, end = first.captured_at, frames[-1].captured_at
        slots = max(1, int((end - start) * fps + 1e-6) + 1)
        index = 0
        shown = frames[0].decode()
        shown_index = 0
        if (shown.shape[1], shown.shape[0]) != size:  # a JPEG that lies about its size
            shown = cv2.resize(shown, size, interpolation=cv2.INTER_AREA)
        for k in range(slots):
            slot = start + k / fps
            while index + 1 < len(frames) and frames[index + 1].captured_at <= slot + 1e-6:
                index += 1
            if index != shown_index:
                image = frames[index].decode()
                if (image.shape[1], image.shape[0]) != size:
                    image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
                shown, shown_index = image, index
            writer.write(shown)
            written += 1
    except Exception:
        writer.release()
        partial.unlink(missing_ok=True)
        raise
    writer.release()
    os.replace(partial, path)
    return ClipInfo(path, written, fps, start, end, size[0], size[1], path.stat().st_size)


async def record_clip(ring: FrameRing, alarm_at: float, path: Path, config: ClipConfig, *,
                      grace: float = 5.0, clock: Callable[[], float] = time.time,
                      poll: float = 0.2) -> ClipInfo:
    """The clip of an alarm at wall time ``alarm_at``: ``config.pre`` seconds before it and
    ``config.post`` after, from ``ring``.

    Call it when the alarm happens: the pre-alarm frames are taken at once (before they age out
    of the ring); then it waits on the loop until the ring holds frames past the post-alarm
    time, or ``post + grace`` seconds if the stream stopped (the clip is then shorter), and
    encodes on a worker thread. The ring must hold at least ``max(pre, post)`` seconds.
    """
    before = ring.frames(alarm_at - config.pre, alarm_at)
    until = alarm_at + config.post
    deadline = clock() + config.post + grace
    while (ring.newest_time or 0.0) < until and clock() < deadline:
        await asyncio.sleep(poll)
    after = [f for f in ring.frames(alarm_at, until) if f.captured_at > alarm_at]
    return await asyncio.to_thread(write_clip, before + after, path, fps=ring.config.fps,
                                   format=config.format)
