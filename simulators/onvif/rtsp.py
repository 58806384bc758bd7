"""The camera's RTSP H.264 stream, served by ``rtsp_helper.py`` under the system Python.

``RtspStream.available()`` says whether this machine has GStreamer's RTSP server and its
bindings; when it has not, the camera advertises its HTTP MJPEG stream instead (GetStreamUri
must return a URI that works). Frames go to the helper only while an RTSP client is watching.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import struct
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

from simulators.onvif.scene import Frame

log = logging.getLogger(__name__)

SYSTEM_PYTHON = "/usr/bin/python3"
HELPER = Path(__file__).with_name("rtsp_helper.py")
PROBE = ("import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', "
         "'1.0'); from gi.repository import Gst, GstRtspServer; Gst.init(None); "
         "import sys; sys.exit(0 if all(Gst.ElementFactory.find(e) for e in "
         "('appsrc', 'videoconvert', 'videoscale', 'x264enc', 'rtph264pay')) else 1)")
START_TIMEOUT = 20.0


@functools.cache
def rtsp_available() -> bool:
    """GStreamer's RTSP server, x264enc and the gi bindings, under the system Python."""
    if not Path(SYSTEM_PYTHON).exists():
        return False
    try:
        result = subprocess.run([SYSTEM_PYTHON, "-c", PROBE], capture_output=True,
                                timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


class RtspStream:
    def __init__(self, *, device_id: str, host: str, port: int, fps: float,
                 size: tuple[int, int], mounts: dict[str, tuple[int, int]], username: str,
                 frame: Callable[[], Awaitable[Frame]]) -> None:
        self.device_id = device_id
        self.host = host
        self.port = port
        self.fps = max(1, round(fps))
        self.size = size
        self.mounts = mounts
        self.username = username
        self._frame = frame
        self._process: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.clients = 0
        self._watching = asyncio.Event()
        self._password_set = asyncio.Event()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self, password: str) -> int:
        """Start the helper; returns the port it listens on."""
        self._process = await asyncio.create_subprocess_exec(
            SYSTEM_PYTHON, str(HELPER), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        assert self._process.stdin is not None and self._process.stdout is not None
        settings = {"host": self.host, "port": self.port, "fps": self.fps,
                    "width": self.size[0], "height": self.size[1],
                    "username": self.username, "password": password,
                    "mounts": {path: list(size) for path, size in self.mounts.items()}}
        self._process.stdin.write(json.dumps(settings).encode() + b"\n")
        try:
            line = await asyncio.wait_for(self._process.stdout.readline(), START_TIMEOUT)
        except TimeoutError:
            line = b""
        words = line.decode(errors="replace").split()
        if len(words) != 2 or words[0] != "ready":
            await self.stop()
            raise OSError(f"RTSP helper did not start ({line.decode(errors='replace').strip()})")
        self.port = int(words[1])
        await self._send(b"F", (await self._frame()).tobytes())
        self._tasks = [asyncio.create_task(self._listen(), name=f"{self.device_id} rtsp out"),
                       asyncio.create_task(self._feed(), name=f"{self.device_id} rtsp feed")]
        return self.port

    async def set_password(self, password: str) -> None:
        """Returns once the helper holds the new password (a client may use it at once)."""
        if self.running:
            self._password_set.clear()
            await self._send(b"P", password.encode())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._password_set.wait(), 5)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        process, self._process = self._process, None
        self.clients = 0
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 3)
        except TimeoutError:
            process.kill()
            await process.wait()

    async def _send(self, kind: bytes, payload: bytes) -> None:
        process = self._process
        if process is None or process.stdin is None:
            return
        process.stdin.write(kind + struct.pack(">I", len(payload)) + payload)
        await process.stdin.drain()

    async def _listen(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        async for raw in self._process.stdout:
            words = raw.decode(errors="replace").split()
            if words == ["password"]:
                self._password_set.set()
            elif len(words) == 2 and words[0] == "clients" and words[1].isdigit():
                self.clients = int(words[1])
                if self.clients:
                    self._watching.set()
                else:
                    self._watching.clear()
        log.warning("%s: RTSP helper exited", self.device_id)

    async def _feed(self) -> None:
        loop = asyncio.get_running_loop()
        period = 1.0 / self.fps
        while True:
            await self._watching.wait()
            started = loop.time()
            try:
                await self._send(b"F", (await self._frame()).tobytes())
            except (BrokenPipeError, ConnectionResetError):
                return
            await asyncio.sleep(max(0.0, period - (loop.time() - started)))
