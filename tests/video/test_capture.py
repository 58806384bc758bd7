"""The grabber against a local HTTP MJPEG camera: newest frame only, health, reconnect."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from drivers.video import (
    CAPTURE_OPTIONS_ENV,
    Frame,
    FrameGrabber,
    GrabberConfig,
    StreamHealth,
    configure_capture_options,
    redact,
)
from tests.conftest import free_port
from tests.video.mjpeg_server import MjpegCamera, read_number

FAST = GrabberConfig(open_timeout=2, read_timeout=1, backoff_initial=0.05, backoff_max=0.2)


def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@pytest.fixture
def camera() -> Iterator[MjpegCamera]:
    cam = MjpegCamera(fps=25).start()
    yield cam
    cam.stop()


def test_capture_options_are_set_once_for_the_process() -> None:
    in_force = configure_capture_options()
    assert os.environ[CAPTURE_OPTIONS_ENV] == in_force
    assert configure_capture_options("fflags;nobuffer") == in_force


def test_redact_hides_credentials() -> None:
    assert redact("rtsp://admin:s3cret@10.0.0.5:554/Streaming/101") == \
        "rtsp://***@10.0.0.5:554/Streaming/101"
    assert redact("http://10.0.0.5/video.mjpg") == "http://10.0.0.5/video.mjpg"


def test_grabber_holds_the_newest_frame_not_a_queue(camera: MjpegCamera) -> None:
    frames: list[Frame] = []
    grabber = FrameGrabber("gate", camera.url, FAST, on_frame=frames.append)
    grabber.start()
    try:
        first = grabber.wait_frame(timeout=10)
        assert first is not None
        assert grabber.health.state == "connected"
        assert (first.width, first.height) == (320, 240)
        assert not first.image.flags.writeable
        # nobody reads for a while; the frame held must still be the camera's newest
        time.sleep(1.0)
        latest = grabber.latest()
        assert latest is not None
        assert camera.sent - read_number(latest.image) <= 3
        assert latest.sequence > first.sequence
        # each frame is its own array: the first one still shows its own picture
        assert read_number(first.image) < read_number(latest.image)
        assert latest.captured_at >= first.captured_at
        sequences = [f.sequence for f in frames]
        assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    finally:
        grabber.stop()
    assert grabber.health.state == "stopped"


def test_grabber_reconnects_when_the_camera_comes_back() -> None:
    port = free_port()
    camera = MjpegCamera(fps=25, port=port).start()
    states: list[StreamHealth] = []
    grabber = FrameGrabber("stairs", camera.url, FAST, on_health=states.append)
    grabber.start()
    try:
        assert eventually(lambda: grabber.health.state == "connected")
        camera.stop()
        assert eventually(lambda: grabber.health.state == "reconnecting")
        lost = grabber.health
        assert lost.reconnects == 1
        assert lost.reason  # why it was lost, and that it is retrying
        before = grabber.latest()
        assert before is not None
        time.sleep(0.3)  # it keeps failing to open while the camera is away
        assert grabber.health.state == "reconnecting"
        assert "cannot open" in grabber.health.reason
        camera = MjpegCamera(fps=25, port=port).start()
        assert eventually(lambda: grabber.health.state == "connected")
        after = grabber.wait_frame(before.sequence, timeout=10)
        assert after is not None and after.sequence > before.sequence
        assert read_number(after.image) <= camera.sent <= read_number(after.image) + 5
    finally:
        grabber.stop()
        camera.stop()
    kinds = [s.state for s in states]
    assert kinds[0] == "never_opened"
    assert "connected" in kinds and "reconnecting" in kinds
    assert kinds.index("reconnecting") > kinds.index("connected")
    assert kinds[-2:] == ["connected", "stopped"]


def test_a_stream_that_never_opens_says_why() -> None:
    url = f"http://127.0.0.1:{free_port()}/video.mjpg"
    grabber = FrameGrabber("field", url, FAST)
    grabber.start()
    try:
        assert eventually(lambda: "cannot open" in grabber.health.reason)
        assert grabber.health.state == "never_opened"
        assert grabber.latest() is None
    finally:
        grabber.stop()


def test_health_reaches_the_asyncio_loop_through_call_soon_threadsafe(
        camera: MjpegCamera) -> None:
    async def scenario() -> tuple[list[str], set[int]]:
        loop = asyncio.get_running_loop()
        connected = asyncio.Event()
        seen: list[str] = []
        threads: set[int] = set()

        def on_health(health: StreamHealth) -> None:
            threads.add(threading.get_ident())
            seen.append(health.state)
            if health.state == "connected":
                connected.set()

        grabber = FrameGrabber("gate", camera.url, FAST, on_health=on_health, loop=loop)
        grabber.start()
        try:
            await asyncio.wait_for(connected.wait(), 10)
        finally:
            grabber.stop()
        await asyncio.sleep(0)  # let the last callback run
        return seen, threads

    seen, threads = asyncio.run(scenario())
    assert seen[0] == "never_opened" and "connected" in seen
    assert threads == {threading.get_ident()}  # all on the loop's thread
