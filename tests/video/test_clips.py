"""The ring keeps the last seconds at its own rate, bounded; clips read back with OpenCV."""

from __future__ import annotations

import asyncio
from pathlib import Path

import cv2
import numpy as np
import pytest

from drivers.video import (
    ClipConfig,
    ClipError,
    Frame,
    FrameRing,
    RingConfig,
    record_clip,
    write_clip,
)
from tests.video.mjpeg_server import numbered_frame, read_number

T0 = 1_800_000_000.0  # wall clock of the first synthetic frame


def frame(n: int, fps: float = 25.0, size: tuple[int, int] = (320, 240)) -> Frame:
    t = n / fps
    image = numbered_frame(n, *size)
    image.flags.writeable = False
    return Frame(image, T0 + t, 1000.0 + t, n)


def fill(ring: FrameRing, seconds: float, fps: float = 25.0, start: int = 1) -> int:
    last = start
    for n in range(start, start + round(seconds * fps)):
        ring.offer(frame(n, fps))
        last = n
    return last


def read_back(path: Path) -> tuple[list[np.ndarray], float]:
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    assert capture.isOpened()
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    return frames, fps


def test_ring_keeps_its_rate_and_its_seconds() -> None:
    ring = FrameRing(RingConfig(seconds=4, fps=5))
    fill(ring, 20)  # 20 s of a 25 fps stream
    kept = ring.frames()
    assert len(kept) in (20, 21)  # 4 s at 5 fps, both ends included
    gaps = np.diff([f.captured_at for f in kept])
    assert np.allclose(gaps, 0.2, atol=1e-6)
    assert kept[-1].captured_at - kept[0].captured_at <= 4.0 + 1e-6
    assert read_number(kept[-1].decode()) == kept[-1].sequence


def test_ring_memory_is_bounded_by_bytes() -> None:
    noisy = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    ring = FrameRing(RingConfig(seconds=60, fps=10, max_bytes=1024 * 1024))
    for n in range(200):
        ring.offer(Frame(noisy, T0 + n / 10, n / 10, n + 1))
    assert ring.bytes <= 1024 * 1024
    assert 0 < len(ring) < 200
    assert ring.bytes == sum(len(f.jpeg) for f in ring.frames())


@pytest.mark.parametrize("fmt", ["webm", "avi", "mp4"])
def test_clip_reads_back_with_opencv(tmp_path: Path, fmt: str) -> None:
    ring = FrameRing(RingConfig(seconds=10, fps=5))
    fill(ring, 8)
    frames = ring.frames()
    info = write_clip(frames, tmp_path / "alarm-1", fps=5, format=fmt)  # type: ignore[arg-type]
    assert info.path == tmp_path / f"alarm-1.{fmt}"
    assert info.path.exists() and info.bytes == info.path.stat().st_size
    assert not list(tmp_path.glob(".*partial*"))
    images, fps = read_back(info.path)
    assert len(images) == info.frames == len(frames)
    assert fps == pytest.approx(5.0)
    assert images[0].shape == (240, 320, 3)
    # the frames are the stream's own, in order
    assert [read_number(i) for i in images] == [f.sequence for f in frames]


def test_clip_fills_a_stalled_stream_with_the_last_frame(tmp_path: Path) -> None:
    ring = FrameRing(RingConfig(seconds=30, fps=5))
    fill(ring, 2)  # 2 s, then the stream stalls for 3 s
    fill(ring, 2, start=5 * 25)
    info = write_clip(ring.frames(), tmp_path / "gap.avi", fps=5)
    images, _ = read_back(info.path)
    assert len(images) == info.frames
    span = ring.frames()[-1].captured_at - ring.frames()[0].captured_at
    assert info.frames == int(span * 5 + 1e-6) + 1  # real time, not frame count
    numbers = [read_number(i) for i in images]
    assert numbers == sorted(numbers) and len(set(numbers)) < len(numbers)


def test_an_empty_clip_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ClipError):
        write_clip([], tmp_path / "none.avi", fps=5)


def test_record_clip_takes_pre_and_post_alarm_seconds(tmp_path: Path) -> None:
    ring = FrameRing(RingConfig(seconds=20, fps=5))
    alarm_at = T0 + 10.0
    fill(ring, 15)  # frames to T0 + 15 s: the post-alarm part is already there

    info = asyncio.run(record_clip(ring, alarm_at, tmp_path / "clip", ClipConfig(pre=3, post=4),
                                   clock=lambda: alarm_at + 4))
    # the kept frames nearest inside [alarm - pre, alarm + post] (they are 0.2 s apart)
    assert alarm_at - 3 <= info.start < alarm_at - 3 + 0.2
    assert alarm_at + 4 - 0.2 < info.end <= alarm_at + 4
    images, _ = read_back(info.path)
    assert len(images) == info.frames == round((info.end - info.start) * 5) + 1


def test_record_clip_writes_what_it_has_if_the_stream_stops(tmp_path: Path) -> None:
    ring = FrameRing(RingConfig(seconds=20, fps=5))
    fill(ring, 11)  # the stream stops 1 s after the alarm
    alarm_at = T0 + 10.0
    now = [alarm_at]

    def clock() -> float:
        now[0] += 1.0  # each poll: a second later
        return now[0]

    info = asyncio.run(record_clip(ring, alarm_at, tmp_path / "clip", ClipConfig(pre=2, post=5),
                                   grace=1, clock=clock, poll=0))
    assert alarm_at - 2 <= info.start < alarm_at - 2 + 0.2
    assert alarm_at < info.end <= T0 + 11  # the last frame the ring got
