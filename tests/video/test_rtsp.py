"""The grabber against a real RTSP H.264 server (GStreamer under Debian's python3); skipped
where GStreamer's RTSP server is not installed."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.video import FrameGrabber, GrabberConfig
from tests.conftest import free_port
from tests.video.test_capture import eventually

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER = Path(__file__).with_name("rtsp_server.py")


def _gstreamer() -> bool:
    try:
        return subprocess.run(
            [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); "
             "from gi.repository import GstRtspServer"],
            capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(autouse=True)
def _needs_gstreamer() -> None:
    if not _gstreamer():  # make test installs it; a machine without it must say so, not skip
        pytest.fail("GStreamer's RTSP server is not installed for /usr/bin/python3: run the "
                    "README's test command (make test)")


class RtspCamera:
    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    def start(self) -> RtspCamera:
        self.proc = subprocess.Popen([SYSTEM_PYTHON, str(SERVER), str(self.port)],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == b"ready"
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def rtsp() -> Iterator[RtspCamera]:
    camera = RtspCamera(free_port()).start()
    yield camera
    camera.stop()


def test_rtsp_h264_stream_grabbed_and_reconnected(rtsp: RtspCamera) -> None:
    grabber = FrameGrabber("rtsp", rtsp.url, GrabberConfig(open_timeout=5, read_timeout=2,
                                                           backoff_initial=0.1, backoff_max=0.5))
    grabber.start()
    try:
        first = grabber.wait_frame(timeout=15)
        assert first is not None and (first.width, first.height) == (640, 480)
        assert grabber.health.state == "connected"
        time.sleep(0.5)
        latest = grabber.latest()
        assert latest is not None and latest.sequence > first.sequence
        rtsp.stop()
        assert eventually(lambda: grabber.health.state == "reconnecting", 15)
        rtsp.start()
        assert eventually(lambda: grabber.health.state == "connected", 20)
        again = grabber.wait_frame(latest.sequence, timeout=10)
        assert again is not None and grabber.health.reconnects == 1
    finally:
        grabber.stop()
