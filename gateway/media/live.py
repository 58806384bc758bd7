"""Live views of the cameras, proxied by the gateway: guards see a camera's picture through the
console's own authorisation, never the camera's address or credentials.

Each camera has at most one upstream, a task that asks its driver for a JPEG ``media.live.fps``
times a second (a frame of the stream the driver grabs, else its snapshot URI over the driver's
kept-alive, already-authenticated client) and hands it to every viewer of that camera. The
upstream runs only while someone watches: the last viewer leaving cancels it. A viewer holds one
frame, the newest: a slow browser skips frames instead of queueing them, so memory is one JPEG
per viewer whatever the browser does. Viewers are capped per camera and in all
(``media.live``); one more is refused with 503 and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from gateway.media.config import LiveView

log = logging.getLogger(__name__)

RETRY_MAX = 5.0  # seconds between tries of a camera that gives no picture


@runtime_checkable
class LiveSource(Protocol):
    """A driver that can give a picture now (the ONVIF camera driver)."""

    async def live_jpeg(self) -> bytes: ...

    def status(self) -> dict[str, Any]: ...


class LiveRefused(Exception):
    """No live view for this request; ``status`` is the HTTP answer (404 or 503)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class Viewer:
    """One browser watching one camera: a slot for the newest frame, nothing more."""

    def __init__(self, camera: str, views: LiveViews) -> None:
        self.camera = camera
        self.sent = 0
        self.dropped = 0  # frames replaced before this viewer took them (it is slow)
        self._views = views
        self._frame: bytes | None = None
        self._ready = asyncio.Event()
        self._closed = False
        self.ended = False  # the gateway is stopping: the stream should end now

    def offer(self, jpeg: bytes) -> None:
        if self._frame is not None:
            self.dropped += 1
        self._frame = jpeg
        self._ready.set()

    async def next_frame(self, timeout: float) -> bytes | None:
        """The newest frame not yet taken, or None after ``timeout`` seconds without one."""
        try:
            async with asyncio.timeout(timeout):
                await self._ready.wait()
        except TimeoutError:
            return None
        self._ready.clear()
        jpeg, self._frame = self._frame, None
        if jpeg is not None:
            self.sent += 1
        return jpeg

    def end(self) -> None:
        self.ended = True
        self._ready.set()

    def close(self) -> None:
        """The browser went (or its session ended): free its place, and the upstream if last."""
        if not self._closed:
            self._closed = True
            self._views.leave(self)


@dataclass(eq=False)
class _Upstream:
    camera: str
    viewers: set[Viewer] = field(default_factory=set)
    task: asyncio.Task[None] | None = None
    frames: int = 0  # pictures fetched since the gateway started
    problem: str = ""  # why the last try gave no picture ("" when it did)


class LiveViews:
    def __init__(self, config: LiveView, source: Callable[[str], object | None],
                 cameras: Callable[[], list[str]]) -> None:
        """``source``: the driver of a device id (None if there is none); ``cameras``: the ids
        of the site's cameras."""
        self.config = config
        self._source = source
        self._cameras = cameras
        self._upstreams: dict[str, _Upstream] = {}

    # -- viewers ----------------------------------------------------------------------------

    def watch(self, camera: str) -> Viewer:
        """A new viewer of ``camera`` (its upstream started if it is the first)."""
        driver = self._driver(camera)
        if driver is None:
            raise LiveRefused(f"no camera {camera[:64]!r}", 404)
        upstream = self._upstreams.setdefault(camera, _Upstream(camera))
        if len(upstream.viewers) >= self.config.per_camera:
            raise LiveRefused(f"camera {camera} already has {len(upstream.viewers)} live "
                              f"viewers (media.live.per_camera)", 503)
        if self.watching >= self.config.total:
            raise LiveRefused(f"{self.watching} live views are open on this gateway "
                              f"(media.live.total)", 503)
        viewer = Viewer(camera, self)
        upstream.viewers.add(viewer)
        if upstream.task is None or upstream.task.done():
            upstream.task = asyncio.get_running_loop().create_task(
                self._pull(upstream, driver), name=f"live view {camera}")
        return viewer

    def leave(self, viewer: Viewer) -> None:
        upstream = self._upstreams.get(viewer.camera)
        if upstream is None:
            return
        upstream.viewers.discard(viewer)
        if not upstream.viewers and upstream.task is not None:
            upstream.task.cancel()  # nobody watches: the camera is not asked any more
            upstream.task = None

    def close(self) -> None:
        """The console is stopping: every live view ends now, so the server need not wait."""
        for upstream in self._upstreams.values():
            for viewer in list(upstream.viewers):
                viewer.end()

    @property
    def watching(self) -> int:
        return sum(len(u.viewers) for u in self._upstreams.values())

    # -- health -----------------------------------------------------------------------------

    def health(self, camera: str) -> dict[str, Any]:
        """The camera driver's status with the live view's own figures."""
        driver = self._driver(camera)
        status: dict[str, Any] = {}
        if driver is not None:
            with contextlib.suppress(Exception):  # a status is never worth a failed page
                status = dict(driver.status())
        upstream = self._upstreams.get(camera)
        viewers = upstream.viewers if upstream else set()
        status["live"] = {
            "viewers": len(viewers), "upstream": bool(upstream and upstream.task),
            "frames": upstream.frames if upstream else 0,
            "dropped": sum(v.dropped for v in viewers),
            "problem": upstream.problem if upstream else ""}
        return status

    def cameras(self) -> list[str]:
        return list(self._cameras())

    # -- the upstream -----------------------------------------------------------------------

    def _driver(self, camera: str) -> LiveSource | None:
        if camera not in self._cameras():
            return None
        driver = self._source(camera)
        return driver if isinstance(driver, LiveSource) else None

    async def _pull(self, upstream: _Upstream, driver: LiveSource) -> None:
        loop = asyncio.get_running_loop()
        interval = 1.0 / self.config.fps
        wait = interval
        while upstream.viewers:
            started = loop.time()
            try:
                jpeg = await driver.live_jpeg()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the camera gives no picture now: say why, try again
                if str(exc) != upstream.problem:
                    log.warning("live view of %s: %s", upstream.camera, exc)
                upstream.problem = str(exc) or type(exc).__name__
                await asyncio.sleep(wait)
                wait = min(RETRY_MAX, wait * 2)
                continue
            upstream.problem, wait = "", interval
            upstream.frames += 1
            for viewer in list(upstream.viewers):
                viewer.offer(jpeg)
            await asyncio.sleep(max(0.0, interval - (loop.time() - started)))
